"""Probabilistic person matching: CRM and loyalty records that share no identifier.

A Fellegi-Sunter model from splink (Spark backend), trained without labels (the identity
job keeps it for ``identity.model_max_age_days`` nights, jobs/identity/run.py):
u probabilities from random pairs, m probabilities by expectation maximisation over two
blocked samples, term-frequency adjustments for common names and places. Prediction runs
only on blocked pairs, so the work stays near-linear in the number of records.

Only pairs that the deterministic graph has not already joined are scored into edges, and a
pair is kept only above ``identity.match_probability``. Two guards keep households apart
however strong the other evidence is (a twin shares surname, birth date, address and
landline with their sibling; a son may share his father's name and address): both records
must give a first name, the first names must agree (exactly, closely by Jaro-Winkler, or
swapped with the surname), and the birth dates must not disagree, nor may a missing one hide
a namesake born on another day (see ``same_person_guard``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from jobs.identity.graph import birth_dates_compatible, vertex_id

if TYPE_CHECKING:
    from cdp.settings import IdentitySettings

log = logging.getLogger(__name__)

# Which identifier namespace each person-record source keys its records by.
SOURCE_KEY_NAMESPACE = {"crm": "crm_id", "loyalty": "loyalty_id"}

MATCH_COLUMNS = (
    "unique_id",
    "source",
    "first_name_key",
    "last_name_key",
    "full_name_key",
    "birth_date",
    "email_key",
    "phone",
    "street_key",
    "house_number",
    "postal_code",
    "city_key",
)


def match_input(person_records: DataFrame) -> DataFrame:
    """One row per source record (its latest version) with the columns the model compares."""
    latest = Window.partitionBy("record_id").orderBy(
        F.col("record_ts").desc(), F.col("file_sha256").desc(), F.col("row_number").desc()
    )
    rows = (
        person_records.where(F.col("source").isin(*SOURCE_KEY_NAMESPACE))
        .withColumn("_pos", F.row_number().over(latest))
        .where("_pos = 1")
    )
    street = F.lower(F.regexp_replace("street", r"[^\p{L}\p{N} ]", ""))
    postal = F.upper(F.regexp_replace("postal_code", r"[\s-]", ""))
    return rows.select(
        F.col("record_id").alias("unique_id"),
        "source",
        "source_key",
        "first_name_key",
        "last_name_key",
        F.when(
            F.col("first_name_key").isNotNull() & F.col("last_name_key").isNotNull(),
            F.concat_ws(" ", "first_name_key", "last_name_key"),
        ).alias("full_name_key"),
        "birth_date",
        "email_key",
        "phone",
        F.nullif(F.trim(F.regexp_replace(street, r"\d+\w?", "")), F.lit("")).alias("street_key"),
        F.nullif(F.regexp_extract("street", r"(\d+)", 1), F.lit("")).alias("house_number"),
        F.nullif(postal, F.lit("")).alias("postal_code"),
        F.lower("city").alias("city_key"),
    )


def model_settings() -> Any:
    """The splink model: comparisons, blocking rules for prediction, term frequencies."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

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
            cll.ExactMatchLevel("postal_code", term_frequency_adjustments=True),
            cll.ExactMatchLevel("city_key", term_frequency_adjustments=True),
            cll.ElseLevel(),
        ],
    )
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=[
            cl.ForenameSurnameComparison(
                "first_name_key",
                "last_name_key",
                forename_surname_concat_col_name="full_name_key",
            ).configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison("birth_date", input_is_string=False),
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
        blocking_rules_to_generate_predictions=[
            block_on("birth_date"),
            block_on("last_name_key", "postal_code"),
            block_on("first_name_key", "last_name_key"),
            block_on("first_name_key", "postal_code", "house_number"),
        ],
        retain_intermediate_calculation_columns=False,
        additional_columns_to_retain=["source"],
    )


def model_fingerprint() -> str:
    """A hash of the model's comparisons and blocking: a saved model trained for other
    comparisons (an older release of this file) is never reused."""
    spec = model_settings().create_settings_dict("spark")
    spec.pop("linker_uid", None)
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _linker(spark: SparkSession, records: DataFrame, model: Any) -> Any:
    from splink import Linker, SparkAPI

    table = SparkAPI(spark_session=spark).register(records.select(*MATCH_COLUMNS))
    return Linker(table, model, log_level=logging.WARNING)


def train(spark: SparkSession, records: DataFrame, settings: IdentitySettings) -> Any:
    """A splink linker with parameters estimated from unlabelled records."""
    from splink import block_on

    linker = _linker(spark, records, model_settings())
    # The prior (how often two random records match) from a strict rule whose recall is
    # assumed, splink's recommended way without labels.
    linker.training.estimate_probability_two_random_records_match(
        [block_on("first_name_key", "last_name_key", "birth_date")], recall=0.7
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=settings.match_u_max_pairs, seed=1)
    # Two EM passes, each blocked on fields the other one trains.
    for rule in (block_on("birth_date"), block_on("last_name_key", "postal_code")):
        linker.training.estimate_parameters_using_expectation_maximisation(
            rule, estimate_without_term_frequencies=True
        )
    log.debug("person match model: %s", json.dumps(linker.misc.save_model_to_json(), default=str))
    return linker


@dataclass
class MatchResult:
    """Scored pairs and the trained model (splink's JSON) that scored them."""

    pairs: DataFrame
    model: dict[str, Any]
    trained: bool  # False when a saved model was reused


def scored_pairs(
    spark: SparkSession,
    records: DataFrame,
    settings: IdentitySettings,
    model: dict[str, Any] | None = None,
) -> MatchResult | None:
    """Record pairs at or above ``match_probability`` that pass the household guards:
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
    log.info(
        "person matching: model %s in %.1fs, pairs predicted in %.1fs",
        "trained" if model is None else "loaded",
        trained - started,
        time.monotonic() - trained,
    )
    pairs = predicted.as_spark_dataframe().select(
        "unique_id_l", "unique_id_r", "match_probability", "match_weight"
    )
    saved = model if model is not None else linker.misc.save_model_to_json()
    return MatchResult(guarded_pairs(pairs, records), saved, model is None)


def namesake_birth_dates(records: DataFrame) -> DataFrame:
    """(unique_id, namesake_dates): the known birth dates of every record with the same
    first name, surname and postal code, the record itself included."""
    key = ["first_name_key", "last_name_key", "postal_code"]
    dated = (
        records.where(F.col("birth_date").isNotNull() & F.col("first_name_key").isNotNull())
        .groupBy(*key)
        .agg(F.collect_set("birth_date").alias("namesake_dates"))
    )
    return records.join(dated, key, "left").select(
        "unique_id",
        F.coalesce("namesake_dates", F.array().cast("array<date>")).alias("namesake_dates"),
    )


def guarded_pairs(pairs: DataFrame, records: DataFrame) -> DataFrame:
    """The model's pairs that pass the same-person guards (see ``same_person_guard``)."""
    namesakes = namesake_birth_dates(records)

    def side(suffix: str) -> DataFrame:
        return records.join(namesakes, "unique_id").select(
            F.col("unique_id").alias(f"unique_id_{suffix}"),
            F.col("first_name_key").alias(f"fn_{suffix}"),
            F.col("last_name_key").alias(f"ln_{suffix}"),
            F.col("birth_date").alias(f"bd_{suffix}"),
            F.col("namesake_dates").alias(f"nd_{suffix}"),
            F.col("email_key").alias(f"em_{suffix}"),
            F.col("phone").alias(f"ph_{suffix}"),
        )

    joined = pairs.join(side("l"), "unique_id_l").join(side("r"), "unique_id_r")
    return joined.where(same_person_guard()).select(
        "unique_id_l", "unique_id_r", "match_probability", "match_weight"
    )


def same_person_guard() -> Any:
    """Names and birth dates that cannot belong to two people of one household.

    A probabilistic link rests on names, birth date and address, and a household shares the
    surname and the address. So both first names must be known and agree (exactly, closely
    by Jaro-Winkler, or swapped with the surname), and the birth dates must not contradict
    each other. One missing birth date is tolerated only when the name is not shared at that
    postal code by someone born on another day (a father and a son of the same name): the
    known birth date must agree with every namesake's (``namesake_birth_dates``). Twins share
    a birth date but not a first name; twins whose names are one letter apart differ in
    their own email and phone, and two records whose emails and phones both differ are not
    linked on the model alone.
    """
    names_agree = (
        (F.col("fn_l") == F.col("fn_r"))
        # jaro_winkler: the Spark SQL function splink registers from its jar.
        | (F.expr("jaro_winkler(fn_l, fn_r)") >= F.lit(0.88))
        | ((F.col("fn_l") == F.col("ln_r")) & (F.col("ln_l") == F.col("fn_r")))
    )
    names_known = F.col("fn_l").isNotNull() & F.col("fn_r").isNotNull()
    both_dates = F.col("bd_l").isNotNull() & F.col("bd_r").isNotNull()
    known = F.coalesce("bd_l", "bd_r")
    namesakes = F.array_union("nd_l", "nd_r")
    no_namesake_conflict = (
        F.forall(namesakes, lambda d: birth_dates_compatible(d, known)) & known.isNotNull()
    )
    dates_ok = F.when(both_dates, birth_dates_compatible(F.col("bd_l"), F.col("bd_r"))).otherwise(
        no_namesake_conflict
    )
    # Twins with names one letter apart (Juhani, Juhana) share everything else but their own
    # email and phone: both known and both different means two people.
    emails_differ = F.levenshtein("em_l", "em_r") > 1
    phones_differ = F.col("ph_l") != F.col("ph_r")
    contacts_conflict = F.coalesce(emails_differ & phones_differ, F.lit(False))
    return names_known & names_agree & dates_ok & ~contacts_conflict


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
