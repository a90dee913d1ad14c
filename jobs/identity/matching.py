"""Probabilistic person matching: CRM and loyalty records that share no identifier.

A Fellegi-Sunter model from splink (Spark backend), trained without labels (the identity
job keeps it for ``identity.model_max_age_days`` nights, jobs/identity/run.py):
u probabilities from random pairs, m probabilities by expectation maximisation over two
blocked samples, term-frequency adjustments for common names and places. Prediction runs
only on blocked pairs, so the work stays near-linear in the number of records.

Evidence is weighed, not vetoed: every kind of slip a registry shows has a level of its own
whose weight the model learns (a typo or an OCR slip in either name, given name and surname
swapped, a nickname or an initial for the given name, a name missing on one side, a birth
date with one wrong digit or day and month swapped, a house number or postcode slip). The
blocking rules are many and each leans on different fields, so no single clean field is
needed to bring a true pair into view (Christen, "Data Matching", 2012, ch. 4).

The link threshold comes from the trained model (``link_threshold``): the lowest match
probability at which the pairs kept are, by the model's own probabilities, at least
``identity.match_precision`` true, never below ``identity.match_probability``.

What no weight can settle stays a contradiction (``cannot_link``): two given names that
are unrelated (not a typo, nickname, initial or swap of each other: a twin or a sibling, or a
name replaced, which no data can tell apart), two birth dates more than two slips apart (a
father and a son of one name), two records whose own email and own phone both differ. A
record without a birth date does not link to a name shared at its postal code by people
born on different days (``namesake_birth_dates``). And links do not chain across a
contradiction (``constrained_links``): a group of linked records with one inside is
clustered again strongest link first, refusing joins between clusters that contradict each
other and joins of a record that fits two such clusters alike (one record without a given
name beside twins).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from cdp.core.spark import splink_api
from jobs.identity.graph import (
    birth_dates_compatible,
    blocked_pattern,
    latest_versions,
    telling_birth_date,
    vertex_id,
)
from jobs.identity.traits import (
    RELATED,
    birth_dates_apart,
    related_given_names,
    with_name_groups,
)

if TYPE_CHECKING:
    from cdp.core.settings import IdentitySettings

log = logging.getLogger(__name__)

# Which identifier namespace each person-record source keys its records by.
SOURCE_KEY_NAMESPACE = {"crm": "crm_id", "loyalty": "loyalty_id"}

MATCH_COLUMNS = (
    "unique_id",
    "source",
    "first_name_key",
    "last_name_key",
    "full_name_key",
    "first_name_group",
    "first_name_known",
    "first_name_soundex",
    "last_name_soundex",
    "birth_date",
    "birth_date_text",
    "birth_year",
    "birth_month_day",
    "email_key",
    "phone",
    "email_block",
    "phone_block",
    "street_key",
    "house_number",
    "postal_code",
    "city_key",
)

# Jaro-Winkler similarity at or above which two names are one name typed twice (a slip of
# the keyboard, an OCR confusion, a phonetic spelling).
CLOSE = 0.88
# A contact value on more records than this blocks nothing (``with_contact_blocks``): room
# for one person's copies in two sources, as ``identity.max_neighbours`` gives CRM and
# loyalty ids ten each.
MAX_CONTACT_BLOCK = 20
# Pairs per chunk of splink's u estimate (``train``).
U_PAIRS_PER_CHUNK = 1e8
# A record that fits two people who cannot be one (a record without a given name beside
# twins) links to the one it fits best only when that fit is this many bits (twice the
# likelihood ratio) stronger; else to neither. Twins' copies fit equally, to the bit; a copy
# whose birth date is exact for one and a slip for the other does not. Measured on the
# identity matrix (1000 persons): 5 bits left 2 points of recall on every set for no
# precision; below 1 bit precision on names-only data falls.
AMBIGUITY_MARGIN = 1.0
# Two clusters at least this share of whose record pairs contradict each other
# (cannot_link) are two people; below it, the contradictions are a few badly typed copies
# of one person's record.
CONFLICT_SHARE = 0.5
# A link at least this strong (match weight in bits: a match probability of 1 - 1e-6) joins
# its two records' clusters whatever the rest of them contradict: with a shared email and
# phone, or a name, birth date and address all alike, the contradictions are badly typed
# copies (Hugh typed Hvgh beside Huhh) rather than a second person. Twins never get here:
# their own pair is a contradiction, not a link, and a record that fits both is caught
# by the ambiguity check first. Measured on the identity matrix (1000 persons): recall
# +1.2 points on heavy and +1.8 on locales, precision unchanged on every set; at 15 bits
# names-only precision falls below 0.995.
CERTAIN_LINK_WEIGHT = 20.0
# Bumped when ``train`` changes how it estimates, so that a saved model trained the old way
# is not reused (2: the prior from EM's trained values).
TRAINING_VERSION = 2


def latest_person_records(person_records: DataFrame) -> DataFrame:
    """One row per CRM or loyalty record: its latest version in ``silver.person_records``
    (ties broken by file and row), the version the model matches on."""
    return latest_versions(person_records.where(F.col("source").isin(*SOURCE_KEY_NAMESPACE)))


def without_blocked_contacts(rows: DataFrame, blocked_values: dict[str, str]) -> DataFrame:
    """``email_key`` and ``phone`` set to null where they match ``identity.blocked_values``
    (the patterns for "*" and for their own namespace, as ``graph.apply_blocklist`` reads
    them): test@test.com or 0000000000 is no one's contact, neither to compare nor to block
    on."""
    out = rows
    for column, namespace in (("email_key", "email"), ("phone", "phone")):
        blocked = F.lit(False)
        for name in ("*", namespace):
            if name in blocked_values:
                pattern = blocked_pattern(blocked_values[name])
                blocked = blocked | F.coalesce(F.col(column).rlike(pattern), F.lit(False))
        out = out.withColumn(column, F.when(~blocked, F.col(column)))
    return out


def own_contacts(records: DataFrame, household: DataFrame) -> DataFrame:
    """Adds ``own_email`` and ``own_phone``: the record's email and phone unless the identity
    graph found them on different people (``household``: namespace, value of its
    ``household_identifier`` cuts). The same-person checks read these: a record giving the
    family email beside one giving the person's own email is no second person for it, the
    model still weighs both."""
    out = records
    for column, namespace, own in (
        ("email_key", "email", "own_email"),
        ("phone", "phone", "own_phone"),
    ):
        values = (
            household.where(F.col("namespace") == namespace)
            .select(F.col("value").alias("_shared"))
            .distinct()
        )
        out = (
            out.join(F.broadcast(values), F.col(column) == F.col("_shared"), "left")
            .withColumn(own, F.when(F.col("_shared").isNull(), F.col(column)))
            .drop("_shared")
        )
    return out


def with_contact_blocks(rows: DataFrame) -> DataFrame:
    """Adds ``email_block`` and ``phone_block``: the record's email and phone where at most
    ``MAX_CONTACT_BLOCK`` records give them, else null. The identity graph joins records
    that share a contact, but not where it cut the contact (a household's, or one person's
    contact seen on more copies than ``identity.max_neighbours``): blocked on, those pairs
    come before the model and its same-person checks, which weigh each pair's names and
    dates. A value on more records than any one person's copies (a shop's email typed for
    walk-in customers) would only add pairs by the square."""
    out = rows
    for column in ("email_key", "phone"):
        # A record without the contact is a window of its own: the records without a phone
        # are most of them, and one window would take them all into one task.
        own = F.when(F.col(column).isNull(), F.col("unique_id"))
        seen = F.count(column).over(Window.partitionBy(column, own))
        block = column.removesuffix("_key") + "_block"
        out = out.withColumn(block, F.when(seen <= MAX_CONTACT_BLOCK, F.col(column)))
    return out


def match_input(
    person_records: DataFrame, blocked_values: dict[str, str] | None = None
) -> DataFrame:
    """One row per source record (its latest version) with the columns the model compares.
    ``blocked_values``: ``identity.blocked_values``, contact values that are no one's."""
    rows = latest_person_records(person_records)
    street = F.lower(F.regexp_replace("street", r"[^\p{L}\p{N} ]", ""))
    postal = F.upper(F.regexp_replace("postal_code", r"[\s-]", ""))
    # Soundex codes only the first word: a double-barrelled name blocks by its first part.
    first_word = F.split(F.col("first_name_key"), " ").getItem(0)
    last_word = F.split(F.col("last_name_key"), " ").getItem(0)
    selected = rows.select(
        F.col("record_id").alias("unique_id"),
        "source",
        "source_key",
        "first_name_key",
        "last_name_key",
        F.when(
            F.col("first_name_key").isNotNull() & F.col("last_name_key").isNotNull(),
            F.concat_ws(" ", "first_name_key", "last_name_key"),
        ).alias("full_name_key"),
        F.nullif(F.soundex(first_word), F.lit("")).alias("first_name_soundex"),
        F.nullif(F.soundex(last_word), F.lit("")).alias("last_name_soundex"),
        "birth_date",
        F.date_format("birth_date", "yyyy-MM-dd").alias("birth_date_text"),
        F.year("birth_date").alias("birth_year"),
        F.date_format("birth_date", "MM-dd").alias("birth_month_day"),
        "email_key",
        "phone",
        # Spaces collapsed: "Gengränd 17 lgh" and "Gengränd lgh" are one street once the
        # house number is gone.
        F.nullif(
            F.trim(F.regexp_replace(F.regexp_replace(street, r"\d+\w?", ""), r"\s+", " ")),
            F.lit(""),
        ).alias("street_key"),
        F.nullif(F.regexp_extract("street", r"(\d+)", 1), F.lit("")).alias("house_number"),
        F.nullif(postal, F.lit("")).alias("postal_code"),
        F.lower("city").alias("city_key"),
    )
    if blocked_values:
        selected = without_blocked_contacts(selected, blocked_values)
    return with_name_groups(with_contact_blocks(selected))


def _names_swapped(fn_l: str, ln_l: str, fn_r: str, ln_r: str) -> str:
    """Spark SQL: given name and surname written the other way round, slips allowed: one
    of the two crossed pairs close, the other at least related or an initial of it
    ("L. Julia" beside Julia Lindgren: the surname shortened to its initial and put first)."""
    a, b = f"jaro_winkler({fn_l}, {ln_r})", f"jaro_winkler({ln_l}, {fn_r})"

    def related_or_initial(jw: str, x: str, y: str) -> str:
        return (
            f"({jw} >= {RELATED} OR (length({x}) = 1 AND substr({y}, 1, 1) = {x})"
            f" OR (length({y}) = 1 AND substr({x}, 1, 1) = {y}))"
        )

    return (
        f"(({a} >= {CLOSE} AND {related_or_initial(b, ln_l, fn_r)})"
        f" OR ({related_or_initial(a, fn_l, ln_r)} AND {b} >= {CLOSE}))"
    )


def model_settings() -> Any:
    """The splink model: comparisons, blocking rules for prediction, term frequencies."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    fn, ln = "first_name_key", "last_name_key"
    related = cll.CustomLevel(
        related_given_names(
            f"{fn}_l",
            f"{fn}_r",
            "first_name_group_l",
            "first_name_group_r",
            "first_name_known_l",
            "first_name_known_r",
        ),
        label_for_charts="given names related (nickname, initial, variant)",
    )
    name = cl.CustomComparison(
        output_column_name="name",
        comparison_description="given name and surname together, slips, swaps and gaps",
        comparison_levels=[
            cll.And(cll.NullLevel(fn), cll.NullLevel(ln)),
            cll.ExactMatchLevel("full_name_key", term_frequency_adjustments=True),
            cll.ColumnsReversedLevel(fn, ln, symmetrical=True).configure(
                label_for_charts="given name and surname swapped"
            ),
            cll.And(cll.JaroWinklerLevel(fn, CLOSE), cll.JaroWinklerLevel(ln, CLOSE)).configure(
                label_for_charts="both names close"
            ),
            cll.CustomLevel(
                _names_swapped(f"{fn}_l", f"{ln}_l", f"{fn}_r", f"{ln}_r"),
                label_for_charts="swapped, with a slip",
            ),
            cll.And(related, cll.JaroWinklerLevel(ln, CLOSE)).configure(
                label_for_charts="surname close, given names related"
            ),
            cll.And(cll.NullLevel(fn), cll.JaroWinklerLevel(ln, CLOSE)).configure(
                label_for_charts="surname close, a given name missing"
            ),
            cll.And(cll.NullLevel(ln), cll.JaroWinklerLevel(fn, CLOSE)).configure(
                label_for_charts="given name close, a surname missing"
            ),
            cll.JaroWinklerLevel(fn, CLOSE).configure(
                label_for_charts="given name close, surname differs"
            ),
            cll.ExactMatchLevel(ln, term_frequency_adjustments=True).configure(
                label_for_charts="surname only (a household member)"
            ),
            cll.ElseLevel(),
        ],
    )
    birth_date = cl.CustomComparison(
        output_column_name="birth_date",
        comparison_description="birth date exactly, or one slip apart",
        comparison_levels=[
            cll.NullLevel("birth_date"),
            cll.ExactMatchLevel("birth_date"),
            cll.CustomLevel(
                "year(birth_date_l) = year(birth_date_r)"
                " AND month(birth_date_l) = day(birth_date_r)"
                " AND day(birth_date_l) = month(birth_date_r)",
                label_for_charts="day and month swapped",
            ),
            cll.DamerauLevenshteinLevel("birth_date_text", 1).configure(
                label_for_charts="one digit wrong or two transposed"
            ),
            cll.DamerauLevenshteinLevel("birth_date_text", 2).configure(
                label_for_charts="two slips (each copy of a record with its own)"
            ),
            cll.CustomLevel(
                "month(birth_date_l) = day(birth_date_r)"
                " AND day(birth_date_l) = month(birth_date_r)"
                " AND levenshtein(cast(year(birth_date_l) AS string),"
                " cast(year(birth_date_r) AS string)) <= 1",
                label_for_charts="day and month swapped, a slip in the year",
            ),
            cll.ExactMatchLevel("birth_month_day").configure(
                label_for_charts="same day and month, another year"
            ),
            cll.CustomLevel(
                "year(birth_date_l) = year(birth_date_r)"
                " AND month(birth_date_l) = month(birth_date_r)",
                label_for_charts="same year and month",
            ),
            cll.ElseLevel(),
        ],
    )
    address = cl.CustomComparison(
        output_column_name="address",
        comparison_description="postal code, house number and street together",
        comparison_levels=[
            cll.And(cll.NullLevel("postal_code"), cll.NullLevel("street_key")),
            cll.And(
                cll.ExactMatchLevel("postal_code"),
                cll.ExactMatchLevel("house_number"),
                cll.JaroWinklerLevel("street_key", 0.85),
            ).configure(label_for_charts="same address"),
            cll.And(
                cll.ExactMatchLevel("postal_code"), cll.ExactMatchLevel("house_number")
            ).configure(label_for_charts="same postal code and house number"),
            cll.And(
                cll.JaroWinklerLevel("street_key", 0.85), cll.ExactMatchLevel("house_number")
            ).configure(label_for_charts="same street and house number, postal code differs"),
            cll.And(
                cll.ExactMatchLevel("postal_code"), cll.JaroWinklerLevel("street_key", 0.85)
            ).configure(label_for_charts="same street and postal code, house number differs"),
            cll.And(
                cll.DamerauLevenshteinLevel("postal_code", 1),
                cll.ExactMatchLevel("house_number"),
            ).configure(label_for_charts="postal code one slip apart, same house number"),
            cll.ExactMatchLevel("postal_code", term_frequency_adjustments=True),
            cll.ExactMatchLevel("city_key", term_frequency_adjustments=True),
            cll.ElseLevel(),
        ],
    )
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=[
            name,
            birth_date,
            # Not splink's EmailComparison: its "same username" levels count the name twice
            # (anna.holmberg@yahoo.com and anna.holmberg@luukku.com agree because both are
            # named Anna Holmberg), which links namesakes. A typo is one edit; else differs.
            cl.CustomComparison(
                output_column_name="email",
                comparison_description="email exactly, or one typing slip apart",
                comparison_levels=[
                    cll.NullLevel("email_key"),
                    cll.ExactMatchLevel("email_key"),
                    cll.DamerauLevenshteinLevel("email_key", 1),
                    cll.ElseLevel(),
                ],
            ),
            cl.ExactMatch("phone"),
            address,
        ],
        # Each rule leans on other fields, so a pair with any one field wrong, missing or
        # swapped still meets in some rule: the union is scored once.
        blocking_rules_to_generate_predictions=[
            block_on("birth_date"),
            block_on("last_name_key", "postal_code"),
            block_on("first_name_key", "last_name_key"),
            block_on("postal_code", "house_number"),
            block_on("street_key", "house_number"),
            block_on("first_name_soundex", "last_name_soundex"),
            block_on("last_name_soundex", "birth_year"),
            block_on("first_name_soundex", "birth_month_day"),
            block_on("last_name_soundex", "birth_month_day"),
            block_on("first_name_key", "birth_year"),
            block_on("first_name_soundex", "house_number", "city_key"),
            block_on("last_name_soundex", "house_number", "city_key"),
            # A surname typed past its Soundex code, a birth date missing.
            block_on("first_name_soundex", "postal_code"),
            block_on("first_name_soundex", "street_key"),
            # A given name and a postal code both typed badly, the street and surname kept.
            block_on("last_name_soundex", "street_key"),
            # A surname typed within its Soundex code, the house number slipped (Hall at
            # 25, Hal at 5), no birth date to meet on.
            block_on("last_name_soundex", "postal_code"),
            # Both names and the postal code typed badly or missing: the birthday and the
            # house number kept.
            block_on("birth_month_day", "house_number"),
            # Given name and surname swapped in one of the two records.
            "l.first_name_soundex = r.last_name_soundex AND l.last_name_soundex = r.first_name_soundex",
            # A contact the identity graph cut (``with_contact_blocks``).
            block_on("email_block"),
            block_on("phone_block"),
        ],
        retain_intermediate_calculation_columns=False,
        additional_columns_to_retain=["source"],
    )


def model_fingerprint() -> str:
    """A hash of the model's comparisons, blocking and training version: a saved model
    trained for other comparisons or another way (an older release of this file) is never
    reused."""
    spec = model_settings().create_settings_dict("spark")
    spec.pop("linker_uid", None)
    spec["training"] = TRAINING_VERSION
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _linker(spark: SparkSession, records: DataFrame, model: Any) -> Any:
    from splink import Linker

    table = splink_api(spark).register(records.select(*MATCH_COLUMNS))
    return Linker(table, model, log_level=logging.WARNING)


def train(spark: SparkSession, records: DataFrame, settings: IdentitySettings) -> Any:
    """A splink linker with parameters estimated from unlabelled records."""
    from splink import block_on
    from splink.internals.exceptions import EMTrainingException

    linker = _linker(spark, records, model_settings())
    # A first prior (how often two random records match) from a strict rule whose recall is
    # assumed: only EM's starting point. On registry-like data few true pairs agree exactly
    # on all three fields, and this guess came out ten times too low (1000 persons, names,
    # birth date and address only: 0.00013 against 0.0014 true), which sank every pair's
    # probability by over 3 bits.
    # With no pair agreeing on all three (a night of a handful of records) that guess is 0,
    # which no weight can be computed from: splink's default prior stands instead.
    strict = ["first_name_key", "last_name_key", "birth_date"]
    agreeing = (
        records.where(F.col("first_name_key").isNotNull() & F.col("last_name_key").isNotNull())
        .where(F.col("birth_date").isNotNull())
        .groupBy(*strict)
        .count()
        .where(F.col("count") > 1)
        .limit(1)
        .count()
    )
    if agreeing:
        linker.training.estimate_probability_two_random_records_match(
            [block_on(*strict)], recall=0.7
        )
    # splink cuts the u sample into ten chunks, plus a probe, so that a sample of a billion
    # pairs fits in memory and stops early once every level is counted often enough. On a
    # sample it can hold whole (our default is two million pairs) the chunks are 11 Spark
    # passes per comparison, and a small night, whose levels never fill, runs them all for
    # the counts of one pass: one chunk per U_PAIRS_PER_CHUNK pairs (splink's own chunk at
    # its recommended billion).
    linker.training.estimate_u_using_random_sampling(
        max_pairs=settings.match_u_max_pairs,
        seed=1,
        num_chunks=max(1, math.ceil(settings.match_u_max_pairs / U_PAIRS_PER_CHUNK)),
    )
    # Two EM passes, each blocked on fields the other one trains. After the second the prior
    # is taken from what EM found: each pass's share of matches among its blocked pairs,
    # reversed through the trained weights of the fields it blocked on, the median of the
    # two (splink's own estimate; 0.0013 on the data set above).
    #
    # A small night (a first delta of a few records into an empty warehouse) may hold no pair
    # a pass blocks on: that pass is skipped and its fields keep splink's default weights, as
    # a model trained on next to nothing should, rather than the night failing.
    rules = (block_on("birth_date"), block_on("last_name_key", "postal_code"))
    for i, rule in enumerate(rules):
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(
                rule,
                estimate_without_term_frequencies=True,
                populate_probability_two_random_records_match_from_trained_values=(
                    i == len(rules) - 1
                ),
            )
        except EMTrainingException as exc:
            log.warning("person model: EM pass %d skipped: %s", i + 1, str(exc).splitlines()[0])
    log.debug("person match model: %s", json.dumps(linker.misc.save_model_to_json(), default=str))
    return linker


@dataclass
class MatchResult:
    """Scored pairs, the trained model (splink's JSON) that scored them and the link
    threshold derived from it."""

    pairs: DataFrame
    model: dict[str, Any]
    trained: bool  # False when a saved model was reused
    threshold: float = 1.0  # the match probability pairs were kept at


def link_threshold(pairs: DataFrame, precision: float, floor: float) -> float:
    """The lowest match probability (never below ``floor``) at which the pairs at or above
    it are, by the model's own probabilities, at least ``precision`` true: the expected
    false pairs among them, the sum of (1 - p), stay within (1 - precision) of their count.

    Pairs are binned by match weight (quarters of a bit), so only the bins reach the driver.
    """
    bins = (
        pairs.where(F.col("match_probability") >= floor)
        .groupBy((F.floor(F.col("match_weight") * 4) / 4).alias("w"))
        .agg(F.count("*").alias("n"), F.sum(1 - F.col("match_probability")).alias("false"))
        .orderBy(F.col("w").desc())
        .collect()
    )
    threshold, kept, expected_false = 1.0, 0, 0.0
    for b in bins:
        kept, expected_false = kept + b["n"], expected_false + b["false"]
        if expected_false > (1 - precision) * kept:
            return max(threshold, floor)
        threshold = 1 / (1 + math.pow(2, -b["w"]))  # the bin's lower edge as a probability
    return floor  # every pair above the floor meets the target


def scored_pairs(
    spark: SparkSession,
    records: DataFrame,
    settings: IdentitySettings,
    model: dict[str, Any] | None = None,
) -> MatchResult | None:
    """Record pairs at or above the model's link threshold that pass the same-person checks:
    (unique_id_l, unique_id_r, match_probability, match_weight). None with under two records.

    ``model``: a model saved by an earlier night (``MatchResult.model``) to score with instead
    of training again (``identity.model_max_age_days``).
    """
    if records.limit(2).count() < 2:
        return None
    started = time.monotonic()
    linker = train(spark, records, settings) if model is None else _linker(spark, records, model)
    trained = time.monotonic()
    predicted = linker.inference.predict(threshold_match_probability=settings.match_probability)
    pairs = (
        predicted.as_spark_dataframe()
        .select("unique_id_l", "unique_id_r", "match_probability", "match_weight")
        .localCheckpoint()
    )
    # The same-person checks come first: the threshold is judged on the pairs that may link.
    candidates = guarded_pairs(pairs, records).localCheckpoint()
    threshold = link_threshold(candidates, settings.match_precision, settings.match_probability)
    log.info(
        "person matching: model %s in %.1fs, pairs predicted in %.1fs, linked at p >= %.4f",
        "trained" if model is None else "loaded",
        trained - started,
        time.monotonic() - trained,
        threshold,
    )
    kept = constrained_links(
        spark, candidates.where(F.col("match_probability") >= threshold), records
    )
    saved = model if model is not None else linker.misc.save_model_to_json()
    return MatchResult(kept, saved, model is None, threshold)


def namesake_birth_dates(records: DataFrame) -> DataFrame:
    """(unique_id, namesake_dates): the known birth dates (``telling_birth_date``) of every
    record with the same first name, surname and postal code, the record itself included."""
    key = ["first_name_key", "last_name_key", "postal_code"]
    born = telling_birth_date(F.col("birth_date"))
    dated = (
        records.where(born.isNotNull() & F.col("first_name_key").isNotNull())
        .groupBy(*key)
        .agg(F.collect_set(born).alias("namesake_dates"))
    )
    return records.join(dated, key, "left").select(
        "unique_id",
        F.coalesce("namesake_dates", F.array().cast("array<date>")).alias("namesake_dates"),
    )


def _sides(records: DataFrame) -> DataFrame:
    """The columns the same-person checks read, one row per record."""
    if "first_name_known" not in records.columns:
        records = with_name_groups(records)
    return records.join(namesake_birth_dates(records), "unique_id").select(
        "unique_id",
        F.col("first_name_key").alias("fn"),
        F.col("last_name_key").alias("ln"),
        F.col("first_name_group").alias("fg"),
        F.col("first_name_known").alias("fk"),
        telling_birth_date(F.col("birth_date")).alias("bd"),
        F.col("namesake_dates").alias("nd"),
        F.col("email_key").alias("em"),
        F.col("phone").alias("ph"),
        # Without the contacts the identity graph found on different people (``own_contacts``).
        F.col("own_email" if "own_email" in records.columns else "email_key").alias("oem"),
        F.col("own_phone" if "own_phone" in records.columns else "phone").alias("oph"),
    )


def _suffixed(side: DataFrame, key: str, suffix: str) -> DataFrame:
    return side.select(
        F.col("unique_id").alias(key), *[F.col(c).alias(f"{c}_{suffix}") for c in side.columns[1:]]
    )


# An email's handle (its local part, letters only) identifies a person when it is at least
# this long: "jd" or "info" at two providers may be two people.
MIN_HANDLE_LENGTH = 6
# The shortest given name read as a short form of a longer one that starts with it, or
# looked for inside an email handle.
MIN_SHORT_FORM = 4


def _email_handle(email: Column) -> Column:
    """The letters of an email's local part: marten.blomberg88@x -> martenblomberg."""
    return F.regexp_replace(F.substring_index(email, "@", 1), "[^\\p{L}]", "")


def cannot_link() -> Column:
    """Two records (columns suffixed _l and _r, see ``_sides``) that no amount of other
    evidence makes one person:

    - both give a given name and the two are unrelated (``related_given_names``) and not
      swapped with the surname: a twin or a sibling, who share surname, birth date and
      address with the other; a name replaced by another looks the same and stays apart;
    - both give a birth date and the two are more than two slips apart
      (``birth_dates_apart``): a father and a son of one name;
    - both give an own email and an own phone and both differ, unless both give one birth
      date and given names written alike (one spelling, a short form, swapped, or a
      nickname more than a letter away: Maria and Marie are twins' as well); or the given
      names are spelled differently (Juhani, Juhana), an own contact differs and none
      agrees: twins whose given names are one letter apart share everything else. An
      email a letter from the other agrees as a slip unless the names explain the letter
      (carlholst@, jarlholst@).
    """
    related = F.expr(related_given_names("fn_l", "fn_r", "fg_l", "fg_r", "fk_l", "fk_r"))
    swapped = F.expr(_names_swapped("fn_l", "ln_l", "fn_r", "ln_r"))
    # One record written surname first, the other with its surname missing (Nieminen
    # Marianne, Marianne): a given name that is the other's surname is no second person.
    # Only with the other part missing: Taylor Aron beside Marion Taylor is two people.
    crossed = F.expr(
        f"((jaro_winkler(fn_l, ln_r) >= {CLOSE}"
        " OR arrays_overlap(split(fn_l, ' '), split(ln_r, ' '))) AND ln_l IS NULL)"
        f" OR ((jaro_winkler(ln_l, fn_r) >= {CLOSE}"
        " OR arrays_overlap(split(ln_l, ' '), split(fn_r, ' '))) AND ln_r IS NULL)"
    )
    names_unrelated = (
        F.col("fn_l").isNotNull()
        & F.col("fn_r").isNotNull()
        & ~related
        & ~F.coalesce(swapped, F.lit(False))
        & ~F.coalesce(crossed, F.lit(False))
    )
    dates_conflict = birth_dates_apart(F.col("bd_l"), F.col("bd_r"))
    # A slip in a contact is no other contact; a null compares as neither. One handle at
    # two providers (martenblomberg@hotmail.com, marten.blomberg88@gmail.com) is one
    # person's, as people keep their handle when they open another mailbox: beside given
    # names spelled differently, the handle agrees when it holds the given name and both
    # records give a birth date. Built from the surname and an initial (smalmberg@...) it
    # may be a twin's as well; and a father and his son of one name keep one handle at two
    # providers, which only their birth dates tell apart (``dates_conflict``).
    # Beside one birth date in both records (a slip at most), a contact the graph found on
    # different people (a family email, a landline) says nothing of whose a record is: only
    # own contacts count (Thomas with his own email beside Tvomasa with the family's). A
    # father and his namesake son are told apart by that date, so where it is missing every
    # contact counts (Aaron Cox, one of them undated, with the father's email cut as the
    # household's when his copies contradicted each other).
    dated_alike = F.coalesce(
        F.col("bd_l").isNotNull()
        & F.col("bd_r").isNotNull()
        & birth_dates_compatible(F.col("bd_l"), F.col("bd_r")),
        F.lit(False),
    )
    em_l, em_r, ph_l, ph_r = (
        F.when(dated_alike, F.col(f"o{c}")).otherwise(F.col(c))
        for c in ("em_l", "em_r", "ph_l", "ph_r")
    )
    handle = _email_handle(em_l)
    names_in_handle = ((F.length("fn_l") >= MIN_SHORT_FORM) & handle.contains(F.col("fn_l"))) | (
        (F.length("fn_r") >= MIN_SHORT_FORM) & handle.contains(F.col("fn_r"))
    )
    same_handle = F.coalesce(
        (F.length(handle) >= MIN_HANDLE_LENGTH)
        & (handle == _email_handle(em_r))
        & names_in_handle
        & F.col("bd_l").isNotNull()
        & F.col("bd_r").isNotNull(),
        F.lit(False),
    )
    phones_differ = F.coalesce(F.levenshtein(ph_l, ph_r) > 1, F.lit(False))

    # An email one letter from the other is a slip, unless the names explain the difference:
    # each email with its record's own surname and given name taken out reads the same
    # (carlholst@ beside jarlholst@). Then each is its owner's, as people build their handle
    # from their names, and twins named one letter apart get two such. The surname goes
    # first: a given name inside it (Anders Andersen) would otherwise break it.
    def without_names(email: Column, first: str, last: str) -> Column:
        for part in (last, first):
            email = F.replace(email, F.coalesce(F.col(part), F.lit("")), F.lit(""))
        return email

    names_make_the_difference = F.coalesce(
        (em_l != em_r)
        & (F.col("fn_l") != F.col("fn_r"))
        & (without_names(em_l, "fn_l", "ln_l") == without_names(em_r, "fn_r", "ln_r")),
        F.lit(False),
    )
    emails_differ = (
        F.coalesce(F.levenshtein(em_l, em_r) > 1, F.lit(False)) | names_make_the_difference
    )
    a_contact_agrees = (
        (F.coalesce(F.levenshtein(em_l, em_r) <= 1, F.lit(False)) & ~names_make_the_difference)
        | same_handle
        | F.coalesce(F.levenshtein(ph_l, ph_r) <= 1, F.lit(False))
    )
    # Given names that are not one spelling (nor one nickname group, nor swapped with the
    # surname) but close enough to be a slip: Anton and Antan. Beside the same surname,
    # birth date and address that is a twin as often as a typo; an own contact that differs
    # with none that agrees decides it for the twin. One person gives several emails and
    # phones, so a differing contact alone is no contradiction.
    # Whether each name is one people are called does not settle it: a household's
    # generator and a registry alike hold twins named Pekka and Pekke.
    # A short form that is the start of the other (Steph, Stephanie; Birgit, Birgitta) is
    # one name written short, not a twin's other spelling.
    short_form = (F.least(F.length("fn_l"), F.length("fn_r")) >= MIN_SHORT_FORM) & (
        F.startswith("fn_l", "fn_r") | F.startswith("fn_r", "fn_l")
    )
    # One record written surname first, exactly: Peder Andersen beside Andersen Peder.
    swapped_exactly = (F.col("fn_l") == F.col("ln_r")) & (F.col("ln_l") == F.col("fn_r"))
    other_spelling = F.coalesce(
        (F.col("fn_l") != F.col("fn_r"))
        & ~F.coalesce(F.arrays_overlap("fg_l", "fg_r"), F.lit(False))
        & ~swapped_exactly
        & ~short_form,
        F.lit(False),
    )
    # Both given names and both birth dates known and one (a slip at most), the names
    # written alike (below): no father and son, and no twins, so differing contacts are one
    # person's several. A record without a given name beside a twin with other contacts
    # stays apart.
    both_named = F.coalesce((F.length("fn_l") > 1) & (F.length("fn_r") > 1), F.lit(False))
    same_born = (
        both_named
        & F.col("bd_l").isNotNull()
        & F.col("bd_r").isNotNull()
        & birth_dates_compatible(F.col("bd_l"), F.col("bd_r"))
    )
    # Written alike: one spelling, a short form of it, swapped with the surname, or a
    # nickname of one name that is more than a letter away (Robert, Bob). Two spellings of
    # one name a letter apart (Maria, Marie; Sebastian, Sebastien) are a twin's as well.
    written_alike = F.coalesce(
        (F.col("fn_l") == F.col("fn_r"))
        | swapped_exactly
        | short_form
        | (F.arrays_overlap("fg_l", "fg_r") & (F.levenshtein("fn_l", "fn_r") > 1)),
        F.lit(False),
    )
    contacts_conflict = (emails_differ & phones_differ & ~(same_born & written_alike)) | (
        other_spelling & (emails_differ | phones_differ) & ~a_contact_agrees
    )
    return F.coalesce(names_unrelated | dates_conflict, F.lit(False)) | contacts_conflict


def guarded_pairs(pairs: DataFrame, records: DataFrame) -> DataFrame:
    """The model's pairs that pass ``same_person_guard``."""
    side = _sides(records)
    joined = pairs.join(_suffixed(side, "unique_id_l", "l"), "unique_id_l").join(
        _suffixed(side, "unique_id_r", "r"), "unique_id_r"
    )
    return joined.where(same_person_guard()).select(
        "unique_id_l", "unique_id_r", "match_probability", "match_weight"
    )


def same_person_guard() -> Column:
    """A pair that may be one person: no contradiction (``cannot_link``), and a missing
    birth date hides no namesake. A record without a birth date links to a record of the
    same name only when that name is not shared at that postal code by people born on
    different days (a father and a son): every namesake's known birth date must agree with
    the pair's (``namesake_birth_dates``)."""
    known = F.coalesce("bd_l", "bd_r")
    namesakes = F.array_union("nd_l", "nd_r")
    anchor = F.coalesce(known, F.element_at(namesakes, 1))
    no_namesake_conflict = F.forall(namesakes, lambda d: ~birth_dates_apart(d, anchor))
    both_dates = F.col("bd_l").isNotNull() & F.col("bd_r").isNotNull()
    return ~cannot_link() & (both_dates | no_namesake_conflict)


def _merge_without_contradiction(group: pd.DataFrame) -> pd.DataFrame:
    """One component's links, strongest first, joined into clusters (union-find) unless the
    join would put people who cannot be one together: refused when ``CONFLICT_SHARE`` or more
    of the record pairs across the two clusters contradict each other (``cannot_link``) and
    the link is weaker than ``CERTAIN_LINK_WEIGHT``, or
    when a side that has not told whose it is (no given name but initials, or no birth date)
    fits another cluster that contradicts the first about as well (within
    ``AMBIGUITY_MARGIN`` bits: a record without a given name beside twins joins neither; an
    Anna without a birth date beside her sister Anne neither), unless the side contradicts
    that other cluster itself, or has told one of the two and the other cluster is more
    likely badly typed copies than a second person (``misspelt_rival``). A side with both
    has told; asking it to be unambiguous as well would split a person whose copies are
    badly typed.
    """
    edges = group[group["kind"] == "edge"].sort_values(
        ["w", "a", "b"], ascending=[False, True, True], kind="mergesort"
    )
    named = set(group.loc[group["kind"] == "named", "a"])
    dated = set(group.loc[group["kind"] == "dated", "a"])
    known = set(group.loc[group["kind"] == "known", "a"])
    conflicts = set()
    for a, b in group.loc[group["kind"] == "conflict", ["a", "b"]].itertuples(index=False):
        conflicts.update({(a, b), (b, a)})
    parent: dict[str, str] = {}
    members: dict[str, list[str]] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        members.setdefault(x, [x])
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def contradict(ra: str, rb: str) -> bool:
        n = sum((x, y) in conflicts for x in members[ra] for y in members[rb])
        return n > 0 and n >= CONFLICT_SHARE * len(members[ra]) * len(members[rb])

    def misspelt_rival(rival: str, rb: str, weight: float, w: float) -> bool:
        """Whether ``rival`` (fitting at ``weight`` what fits ``rb`` at ``w``) is more likely
        badly typed copies of ``rb``'s person than a second person: none of its given names
        is one people are called (``first_name_known``: gpnw beside Glen, vyohi beside
        Vilho), and with each cluster's records counted as evidence of whose a record is
        (log2 of their numbers: twelve copies of Glen against one gpnw) it fits worse by
        ``AMBIGUITY_MARGIN``. A twin is called by a name; one whose only record is typed
        badly still ties with a twin of one record."""
        if any(x in known for x in members[rival]):
            return False
        size_odds = math.log2(len(members[rb]) / len(members[rival]))
        return weight < w + size_odds - AMBIGUITY_MARGIN

    def torn(ra: str, rb: str, w: float) -> bool:
        """Whether ``ra``, without a given name or a birth date, fits a cluster contradicting
        ``rb`` about as well as ``rb``. A side with neither (a surname at an address) stays
        strict: beside a household any typed-badly member is as likely its person."""
        if any(x in named for x in members[ra]) and any(x in dated for x in members[ra]):
            return False
        told_some = any(x in named or x in dated for x in members[ra])
        for a, b, weight in rows:
            if weight < w - AMBIGUITY_MARGIN:
                break
            for x, y in ((a, b), (b, a)):
                # A rival that contradicts ``ra`` itself is no place ``ra`` could go (an
                # Elin without a birth date beside her twin Elisabeth's cluster).
                rival = find(y)
                if (
                    find(x) == ra
                    and rival not in (ra, rb)
                    and contradict(rival, rb)
                    and not contradict(ra, rival)
                ):
                    if told_some and misspelt_rival(rival, rb, weight, w):
                        continue
                    return True
        return False

    rows = list(edges[["a", "b", "w"]].itertuples(index=False, name=None))
    kept = []
    for a, b, w in rows:
        ra, rb = find(a), find(b)
        if ra != rb:
            certain = w >= CERTAIN_LINK_WEIGHT
            if (not certain and contradict(ra, rb)) or torn(ra, rb, w) or torn(rb, ra, w):
                continue
            parent[rb] = ra
            members[ra] += members.pop(rb)
        kept.append((a, b))
    out = edges.set_index(["a", "b"]).loc[kept].reset_index() if kept else edges.iloc[0:0]
    return pd.DataFrame(
        {
            "unique_id_l": out["a"],
            "unique_id_r": out["b"],
            "match_probability": out["p"],
            "match_weight": out["w"],
        }
    )


def constrained_links(spark: SparkSession, pairs: DataFrame, records: DataFrame) -> DataFrame:
    """Links that do not chain people who cannot be one (``cannot_link``) into one cluster.

    The links' connected components are checked for contradictions between any two of their
    records; a component without one keeps every link, the others are clustered again
    strongest link first, refusing joins that contradict (``_merge_without_contradiction``).
    Two badly typed copies of one person's record may contradict each other and still join
    through the rest of the person's records; twins do not join through a record that fits
    both.
    """
    from jobs.identity.components import connected_components

    # ``_sides`` and the told records below both read the name lexicon's columns: added once.
    if "first_name_known" not in records.columns:
        records = with_name_groups(records)
    node = F.xxhash64
    ids = (
        pairs.select(F.col("unique_id_l").alias("u"))
        .union(pairs.select("unique_id_r"))
        .distinct()
        .withColumn("id", node("u"))
    )
    comps = connected_components(
        spark,
        ids.select("id"),
        pairs.select(node("unique_id_l").alias("src"), node("unique_id_r").alias("dst")),
    )
    member = ids.join(comps, "id").select("u", "component").localCheckpoint()
    side = _sides(records)
    conflicts = (
        member.select("component", F.col("u").alias("unique_id_l"))
        .join(member.select("component", F.col("u").alias("unique_id_r")), "component")
        .where(F.col("unique_id_l") < F.col("unique_id_r"))
        .join(_suffixed(side, "unique_id_l", "l"), "unique_id_l")
        .join(_suffixed(side, "unique_id_r", "r"), "unique_id_r")
        .where(cannot_link())
        .select(
            "component",
            F.lit("conflict").alias("kind"),
            F.col("unique_id_l").alias("a"),
            F.col("unique_id_r").alias("b"),
            F.lit(None).cast("double").alias("w"),
            F.lit(None).cast("double").alias("p"),
        )
        .localCheckpoint()
    )
    if conflicts.limit(1).count() == 0:
        return pairs
    torn = conflicts.select("component").distinct()
    # Which records tell whose they are: a given name (more than an initial), a birth date;
    # and which give a given name people are called (``misspelt_rival``).
    told = (
        member.join(torn, "component")
        .join(
            records.select(
                F.col("unique_id").alias("u"), "first_name_key", "first_name_known", "birth_date"
            ),
            "u",
        )
        .select(
            "component",
            F.explode(
                F.array_compact(
                    F.array(
                        F.when(F.length("first_name_key") > 1, F.lit("named")),
                        F.when(telling_birth_date(F.col("birth_date")).isNotNull(), F.lit("dated")),
                        F.when(F.col("first_name_known"), F.lit("known")),
                    )
                )
            ).alias("kind"),
            F.col("u").alias("a"),
            F.lit(None).cast("string").alias("b"),
            F.lit(None).cast("double").alias("w"),
            F.lit(None).cast("double").alias("p"),
        )
    )
    edges = pairs.join(member.withColumnRenamed("u", "unique_id_l"), "unique_id_l")
    clean = edges.join(torn, "component", "left_anti").select(
        "unique_id_l", "unique_id_r", "match_probability", "match_weight"
    )
    mixed = (
        edges.join(torn, "component")
        .select(
            "component",
            F.lit("edge").alias("kind"),
            F.col("unique_id_l").alias("a"),
            F.col("unique_id_r").alias("b"),
            F.col("match_weight").alias("w"),
            F.col("match_probability").alias("p"),
        )
        .unionByName(conflicts)
        .unionByName(told)
    )
    schema = "unique_id_l string, unique_id_r string, match_probability double, match_weight double"
    return clean.unionByName(
        mixed.groupBy("component").applyInPandas(_merge_without_contradiction, schema)
    )


def probabilistic_edges(pairs: DataFrame, records: DataFrame) -> DataFrame:
    """Matched record pairs as identity edges between the records' source-key vertices."""
    ns = F.create_map(*[x for s, n in SOURCE_KEY_NAMESPACE.items() for x in (F.lit(s), F.lit(n))])
    keyed = records.select("unique_id", "source", "source_key")
    left = keyed.select(
        F.col("unique_id").alias("unique_id_l"),
        F.col("source").alias("source_l"),
        ns[F.col("source")].alias("src_namespace"),
        F.col("source_key").alias("src_value"),
    )
    right = keyed.select(
        F.col("unique_id").alias("unique_id_r"),
        F.col("source").alias("source_r"),
        ns[F.col("source")].alias("dst_namespace"),
        F.col("source_key").alias("dst_value"),
    )
    joined = pairs.join(left, "unique_id_l").join(right, "unique_id_r")
    source = F.concat_ws("-", F.array_sort(F.array("source_l", "source_r")))
    return joined.select(
        vertex_id(F.col("src_namespace"), F.col("src_value")).alias("src"),
        vertex_id(F.col("dst_namespace"), F.col("dst_value")).alias("dst"),
        F.lit("probabilistic").alias("method"),
        F.concat_ws(":", F.lit("match"), source).alias("kind"),
        "src_namespace",
        "src_value",
        "dst_namespace",
        "dst_value",
        source.alias("source"),
        "match_probability",
        "match_weight",
    )
