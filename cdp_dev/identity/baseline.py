"""A plain splink model over the same person records: the yardstick of the identity matrix.

What a new user of splink would build from its documentation, with nothing tuned to our data:
the DuckDB backend, splink's stock comparisons (``NameComparison`` for first and last name,
``DateOfBirthComparison``, ``EmailComparison``, ``ExactMatch`` on phone, and an address
comparison from stock levels: street by Jaro-Winkler, postcode and city exactly), stock
blocking rules, parameters
estimated without labels (the prior from a deterministic rule with an assumed recall, u from
random pairs, m by expectation maximisation over two blocking rules) and connected
components of the pairs at match probability 0.5 (splink's
``cluster_pairwise_predictions_at_threshold``).

Input: the silver person records' standardised columns (``baseline_input``), one row per
CRM or loyalty record. A column that is null on every record (a data set without email or
phone) cannot be trained; its comparison and blocking rules are dropped and reported
(``BaselineResult.dropped``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame

log = logging.getLogger(__name__)

BASELINE_COLUMNS = (
    "unique_id",
    "first_name_key",
    "last_name_key",
    "birth_date",
    "email_key",
    "phone",
    "street",
    "postal_code",
    "city",
)


@dataclass(frozen=True)
class BaselineSettings:
    """The baseline's knobs, splink's documented defaults where it has them."""

    # Clustering threshold: a pair more likely a match than not joins the cluster.
    match_probability: float = 0.5
    # The prior: records agreeing on names and birth date are matches, and such a rule is
    # assumed to find this share of all matches (splink's tutorial value).
    prior_rule: tuple[str, ...] = ("first_name_key", "last_name_key", "birth_date")
    prior_recall: float = 0.7
    u_max_pairs: float = 1_000_000.0
    seed: int = 1
    # Expectation maximisation, one pass per rule: each trains the comparisons it does not
    # block on.
    em_rules: tuple[tuple[str, ...], ...] = (("first_name_key", "last_name_key"), ("birth_date",))
    # Pairs to score: at least one rule agrees (rules on a column that is null everywhere
    # are dropped).
    prediction_rules: tuple[tuple[str, ...], ...] = (
        ("first_name_key", "last_name_key"),
        ("birth_date",),
        ("last_name_key", "postal_code"),
        ("first_name_key", "postal_code"),
        ("email_key",),
        ("phone",),
    )

    def to_dict(self) -> dict:
        """JSON-serialisable form, for the matrix report."""
        return asdict(self)


def baseline_input(person_records: DataFrame) -> DataFrame:
    """One row per CRM or loyalty record (its latest version) with the columns the baseline
    compares, ``unique_id`` being the record id."""
    from pyspark.sql import functions as F

    from jobs.identity.matching import latest_person_records

    return latest_person_records(person_records).select(
        F.col("record_id").alias("unique_id"), *BASELINE_COLUMNS[1:]
    )


def empty_columns(records: pd.DataFrame) -> list[str]:
    """The baseline columns that hold no value on any record."""
    return [c for c in BASELINE_COLUMNS[1:] if c in records and records[c].isna().all()]


def address_comparison(dropped: set[str] | frozenset[str] = frozenset()) -> Any:
    """One address comparison from splink's stock levels: street by Jaro-Winkler, postcode
    exactly (the top level of ``cl.PostcodeComparison``; its sector and district levels
    read UK codes only), city exactly. One comparison, not three: splink multiplies the
    evidence of separate comparisons as if independent, and street, postcode and city of
    one address would count it three times, enough to merge every household at 0.5.
    None when street, postcode and city are all ``dropped``."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    street, postcode, city = (c not in dropped for c in ("street", "postal_code", "city"))
    if not (street or postcode or city):
        return None
    present = [c for c, kept in (("street", street), ("postal_code", postcode)) if kept]
    nulls = [cll.NullLevel(c) for c in present]
    levels = [nulls[0] if len(nulls) == 1 else cll.And(*nulls)] if nulls else []
    if street and postcode:
        levels += [
            cll.And(cll.ExactMatchLevel("street"), cll.ExactMatchLevel("postal_code")),
            cll.And(cll.JaroWinklerLevel("street", 0.9), cll.ExactMatchLevel("postal_code")),
        ]
    if postcode:
        levels.append(cll.ExactMatchLevel("postal_code"))
    if street and city:
        levels.append(cll.And(cll.JaroWinklerLevel("street", 0.9), cll.ExactMatchLevel("city")))
    elif street:
        levels.append(cll.JaroWinklerLevel("street", 0.9))
    if city:
        levels.append(cll.ExactMatchLevel("city"))
    if not present:  # the city alone: its null level comes first
        levels.insert(0, cll.NullLevel("city"))
    levels.append(cll.ElseLevel())
    return cl.CustomComparison(
        output_column_name="address",
        comparison_levels=levels,
        comparison_description="street, postcode and city of one address",
    )


def comparisons(dropped: set[str] | frozenset[str] = frozenset()) -> list[Any]:
    """splink's stock comparisons, leaving out those on a ``dropped`` column."""
    import splink.comparison_library as cl

    stock = {
        "first_name_key": lambda: cl.NameComparison("first_name_key"),
        "last_name_key": lambda: cl.NameComparison("last_name_key"),
        "birth_date": lambda: cl.DateOfBirthComparison("birth_date", input_is_string=False),
        "address": lambda: address_comparison(dropped),
        "email_key": lambda: cl.EmailComparison("email_key"),
        "phone": lambda: cl.ExactMatch("phone"),
    }
    made = (make() for column, make in stock.items() if column not in dropped)
    return [c for c in made if c is not None]


def model_settings(settings: BaselineSettings, dropped: set[str] | frozenset[str] = frozenset()):
    """The baseline's splink settings (dedupe over CRM and loyalty records together)."""
    from splink import SettingsCreator, block_on

    rules = [block_on(*cols) for cols in settings.prediction_rules if not set(cols) & dropped]
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=comparisons(dropped),
        blocking_rules_to_generate_predictions=rules,
        retain_intermediate_calculation_columns=False,
    )


@dataclass
class BaselineResult:
    """The baseline's clusters and what it had to leave out."""

    clusters: dict[str, str]  # unique_id -> cluster_id, every input record
    dropped: list[str] = field(default_factory=list)  # columns null on every record
    pairs_scored: int = 0  # pairs at or above the clustering threshold
    seconds: float = 0.0
    model: dict | None = None  # splink's JSON of the trained model


def _prepared(records: pd.DataFrame) -> pd.DataFrame:
    """The baseline columns, an all-null text column typed as text (DuckDB would type an
    all-None object column NULL, and string functions reject it)."""
    out = records.loc[:, list(BASELINE_COLUMNS)].copy()
    for column in BASELINE_COLUMNS[1:]:
        if column != "birth_date" and out[column].isna().all():
            out[column] = out[column].astype("string")
    return out


def link(records: pd.DataFrame, settings: BaselineSettings | None = None) -> BaselineResult:
    """Train the plain splink model on ``records`` (``baseline_input`` as pandas) and cluster
    them at ``settings.match_probability``."""
    import duckdb
    from splink import DuckDBAPI, Linker, block_on

    settings = settings or BaselineSettings()
    started = time.monotonic()
    ids = [str(i) for i in records["unique_id"]]
    if len(records) < 2:
        return BaselineResult({i: i for i in ids})
    dropped = empty_columns(records)
    if dropped:
        log.info("baseline: no values in %s; their comparisons and rules left out", dropped)
    gone = set(dropped)
    con = duckdb.connect()
    try:
        db_api = DuckDBAPI(connection=con)
        table = db_api.register(_prepared(records))
        # Errors only: on a few hundred records splink warns of every level EM never saw.
        linker = Linker(table, model_settings(settings, gone), log_level=logging.ERROR)
        training = linker.training
        prior_rule = [c for c in settings.prior_rule if c not in gone]
        if prior_rule:
            training.estimate_probability_two_random_records_match(
                [block_on(*prior_rule)], recall=settings.prior_recall
            )
        training.estimate_u_using_random_sampling(
            max_pairs=settings.u_max_pairs, seed=settings.seed
        )
        for cols in settings.em_rules:
            if not set(cols) & gone:
                training.estimate_parameters_using_expectation_maximisation(block_on(*cols))
        predicted = linker.inference.predict(threshold_match_probability=settings.match_probability)
        clustered = linker.clustering.cluster_pairwise_predictions_at_threshold(
            predicted, threshold_match_probability=settings.match_probability
        )
        frame = clustered.as_pandas_dataframe()
        pairs = int(con.execute(f"select count(*) from {predicted.physical_name}").fetchone()[0])
        model = linker.misc.save_model_to_json()
    finally:
        con.close()
    clusters = {i: i for i in ids}
    clusters.update(
        zip(frame["unique_id"].astype(str), frame["cluster_id"].astype(str), strict=True)
    )
    return BaselineResult(clusters, dropped, pairs, round(time.monotonic() - started, 1), model)
