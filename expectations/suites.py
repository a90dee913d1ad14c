"""The suites as code: one Great Expectations suite per silver and gold table.

Most of each suite comes from the table's schema, so a table (or a column) added to
schemas/xdm.py or schemas/gold.py is checked without touching this file:

- key columns non-null and unique (a compound key unique as a whole);
- columns declared non-nullable are non-null;
- columns with ``accepted`` values hold only those.

The table rules below add what a schema cannot say: a consent value other than unknown
comes with its time and source, RFM scores lie in 1..5 and segments are the configured
names, and the gold tables agree with each other (every profile an identifier, a record, an
order, an RFM row or a score points at exists in tonight's gold.profiles), and no profile is
in a segment without consent for the segment's purpose. Rules that look at another
table query the temp view ``view_name(<table>)``, which the gate registers for tonight's
build of every table it checks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import great_expectations as gx

from schemas.fields import Field, Schema
from schemas.gold import GOLD_SCHEMAS, NO_PURCHASE_SEGMENT
from schemas.labels import is_identifying
from schemas.xdm import CHANNELS, NAMESPACES, SCHEMAS

if TYPE_CHECKING:
    from great_expectations.expectations import Expectation

    from cdp.core.settings import Settings

# The segment jobs/profiles/rfm.py gives a buyer no configured rule matches.
OTHER_SEGMENT = "Other"
# Written whole each night by the identity job; it has no conformed schema, so its suite is
# the small one below.
IDENTITY_EDGES = "silver.identity_edges"


def view_name(table: str) -> str:
    """The temp view a rule queries for tonight's build of ``table`` (gold.profiles ->
    gx_gold_profiles)."""
    return "gx_" + table.replace(".", "_")


def _row_ref(schema: Schema) -> str:
    """What a rule's query selects for an offending row: the non-identifying key columns.

    The gate never reports the rows (result format SUMMARY), and selecting no identifier
    keeps them out of memory too.
    """
    keep = [c for c in schema.key if not is_identifying(schema.name, c)]
    return ", ".join(f"b.{c}" for c in keep) or "1 AS offending_row"


def schema_expectations(schema: Schema) -> list[Expectation]:
    """Keys non-null and unique, non-nullable columns non-null, accepted values in their set."""
    e = gx.expectations
    out: list[Expectation] = []
    key = list(schema.key)
    for column in key:
        out.append(e.ExpectColumnValuesToNotBeNull(column=column))
    if len(key) == 1:
        out.append(e.ExpectColumnValuesToBeUnique(column=key[0]))
    elif key:
        out.append(e.ExpectCompoundColumnsToBeUnique(column_list=key))
    for f in schema.fields:
        if not f.nullable and f.name not in key:
            out.append(e.ExpectColumnValuesToNotBeNull(column=f.name))
        if f.accepted is not None:
            out.append(e.ExpectColumnValuesToBeInSet(column=f.name, value_set=list(f.accepted)))
    return out


def consent_rules(schema: Schema) -> list[Expectation]:
    """Every ``consent_<purpose>`` with ``_at`` and ``_source`` beside it: a value other than
    unknown says when and where it was captured."""
    names = set(schema.names)
    out: list[Expectation] = []
    for f in schema.fields:
        column = f.name
        at, source = f"{column}_at", f"{column}_source"
        if not column.startswith("consent_") or at not in names or source not in names:
            continue
        out.append(
            gx.expectations.UnexpectedRowsExpectation(
                unexpected_rows_query=(
                    f"SELECT {_row_ref(schema)} FROM {{batch}} b "
                    f"WHERE b.{column} <> 'unknown' AND (b.{at} IS NULL OR b.{source} IS NULL)"
                ),
                description=f"{column} other than unknown has {at} and {source}",
            )
        )
    return out


def rfm_rules(schema: Schema, settings: Settings) -> list[Expectation]:
    """Scores in 1..5 and the segment one of the configured names (or Other)."""
    e = gx.expectations
    out: list[Expectation] = [
        e.ExpectColumnValuesToBeBetween(column=c, min_value=1, max_value=5)
        for c in ("r_score", "f_score", "m_score")
        if c in schema.names
    ]
    if "rfm_segment" in schema.names:
        names = [s[0] for s in settings.profiles.rfm_segments] + [OTHER_SEGMENT]
        if schema.name == "gold.profiles":
            names.append(NO_PURCHASE_SEGMENT)
        out.append(e.ExpectColumnValuesToBeInSet(column="rfm_segment", value_set=names))
    return out


def exists_in(
    schema: Schema, column: str, target: str, target_column: str = "profile_id"
) -> Expectation:
    """Referential integrity: every non-null ``column`` value is a ``target_column`` of
    tonight's ``target`` table."""
    return gx.expectations.UnexpectedRowsExpectation(
        unexpected_rows_query=(
            f"SELECT {_row_ref(schema)} FROM {{batch}} b "
            f"LEFT ANTI JOIN {view_name(target)} t ON b.{column} = t.{target_column} "
            f"WHERE b.{column} IS NOT NULL"
        ),
        description=f"every {schema.name}.{column} exists in {target}.{target_column}",
    )


def _identity_map(schema: Schema, settings: Settings) -> list[Expectation]:
    return [exists_in(schema, "profile_id", "gold.profiles")]


def _record_profiles(schema: Schema, settings: Settings) -> list[Expectation]:
    return [exists_in(schema, "profile_id", "gold.profiles")]


def _purchases(schema: Schema, settings: Settings) -> list[Expectation]:
    # An order nobody resolved keeps a null profile_id; one that resolved names a profile.
    return [exists_in(schema, "profile_id", "gold.profiles")]


def _rfm(schema: Schema, settings: Settings) -> list[Expectation]:
    e = gx.expectations
    return [
        exists_in(schema, "profile_id", "gold.profiles"),
        *rfm_rules(schema, settings),
        # Only buyers get a row, and only purchases up to the batch date count.
        e.ExpectColumnValuesToBeBetween(column="frequency", min_value=1),
        e.ExpectColumnValuesToBeBetween(column="recency_days", min_value=0),
    ]


def _profiles(schema: Schema, settings: Settings) -> list[Expectation]:
    allowed = ", ".join(f"'{c}'" for c in CHANNELS)
    return [
        *consent_rules(schema),
        *rfm_rules(schema, settings),
        # A profile is the identifiers that resolved to it: none would be an orphan.
        exists_in(schema, "profile_id", "gold.identity_map"),
        gx.expectations.UnexpectedRowsExpectation(
            unexpected_rows_query=(
                f"SELECT {_row_ref(schema)} FROM {{batch}} b "
                f"WHERE exists(b.channels, c -> c NOT IN ({allowed}))"
            ),
            description=f"channels hold only {', '.join(CHANNELS)}",
        ),
    ]


def _propensity_scores(schema: Schema, settings: Settings) -> list[Expectation]:
    e = gx.expectations
    return [
        exists_in(schema, "profile_id", "gold.profiles"),
        e.ExpectColumnValuesToBeBetween(column="score", min_value=0, max_value=1),
        e.ExpectColumnValuesToBeBetween(column="decile", min_value=1, max_value=10),
        e.ExpectColumnValuesToBeBetween(column="horizon_days", min_value=1),
    ]


def _clv_scores(schema: Schema, settings: Settings) -> list[Expectation]:
    e = gx.expectations
    values = [f.name for f in schema.fields if f.dtype == "double"]
    return [
        exists_in(schema, "profile_id", "gold.profiles"),
        # NaN sorts above every number in Spark, so the ranges below would let it through.
        e.UnexpectedRowsExpectation(
            unexpected_rows_query=(
                f"SELECT {_row_ref(schema)} FROM {{batch}} b WHERE "
                + " OR ".join(f"isnan(b.{c})" for c in values)
            ),
            description=f"{', '.join(values)} are numbers (no NaN)",
        ),
        e.ExpectColumnValuesToBeBetween(column="probability_alive", min_value=0, max_value=1),
        e.ExpectColumnValuesToBeBetween(column="predicted_purchases_365d", min_value=0),
        e.ExpectColumnValuesToBeBetween(column="expected_spend", min_value=0),
        e.ExpectColumnValuesToBeBetween(column="predicted_clv_365d", min_value=0),
    ]


def consented(schema: Schema, purpose_column: str = "purpose") -> Expectation:
    """No profile in a segment without consent: every row's profile is allowed, in tonight's
    gold.profiles, for the purpose the row serves (is_<purpose>_allowed)."""
    from schemas.xdm import PURPOSES

    allowed = " ".join(f"WHEN '{p}' THEN p.is_{p}_allowed" for p in PURPOSES)
    return gx.expectations.UnexpectedRowsExpectation(
        unexpected_rows_query=(
            f"SELECT {_row_ref(schema)} FROM {{batch}} b "
            f"LEFT JOIN {view_name('gold.profiles')} p ON b.profile_id = p.profile_id "
            f"WHERE NOT coalesce(CASE b.{purpose_column} {allowed} END, false)"
        ),
        description=f"every {schema.name} profile is allowed for the row's {purpose_column} "
        "(consent) in gold.profiles",
    )


# What the activate step wrote tonight, one row per exported profile and destination
# (jobs/activation/run.py); checked against the published gold.profiles.
EXPORTED = Schema(
    name="exports",
    description="Profiles in tonight's activation export files.",
    key=("destination", "profile_id"),
    fields=(
        Field("destination", "string", "Destination.", False),
        Field("profile_id", "string", "Exported profile.", False),
        Field("purpose", "string", "The destination's purpose.", False),
        Field("segment_purpose", "string", "The exported segment's purpose.", False),
    ),
)


def exports_suite() -> list[Expectation]:
    """No profile in an export without consent for the destination's purpose and for the
    purpose of the segment it came from."""
    return [
        *schema_expectations(EXPORTED),
        consented(EXPORTED, "purpose"),
        consented(EXPORTED, "segment_purpose"),
    ]


def _segment_membership(schema: Schema, settings: Settings) -> list[Expectation]:
    return [
        exists_in(schema, "segment", "gold.segments", "segment"),
        consented(schema),
        # A member has no exit; a former member has one, after its entry.
        gx.expectations.UnexpectedRowsExpectation(
            unexpected_rows_query=(
                f"SELECT {_row_ref(schema)} FROM {{batch}} b "
                "WHERE b.is_member <> (b.exited_at IS NULL) OR b.exited_at < b.entered_at"
            ),
            description="is_member agrees with exited_at, and nobody exits before entering",
        ),
    ]


# Table rules by table name; each gets the table's schema and the run's settings.
RULES: dict[str, Callable[[Schema, Settings], list[Expectation]]] = {
    "gold.identity_map": _identity_map,
    "gold.record_profiles": _record_profiles,
    "gold.purchases": _purchases,
    "gold.rfm": _rfm,
    "gold.profiles": _profiles,
    "gold.propensity_scores": _propensity_scores,
    "gold.clv_scores": _clv_scores,
    "gold.segment_membership": _segment_membership,
}


def identity_edges_suite() -> list[Expectation]:
    """silver.identity_edges (no conformed schema): both ends and how they linked."""
    e = gx.expectations
    return [
        *[e.ExpectColumnValuesToNotBeNull(column=c) for c in ("src", "dst", "method")],
        e.ExpectColumnValuesToBeInSet(
            column="method", value_set=["deterministic", "probabilistic"]
        ),
        e.ExpectColumnValuesToBeInSet(column="src_namespace", value_set=list(NAMESPACES)),
        e.ExpectColumnValuesToBeInSet(column="dst_namespace", value_set=list(NAMESPACES)),
    ]


def schemas() -> dict[str, Schema]:
    """Every silver and gold schema, by table name."""
    return {**SCHEMAS, **GOLD_SCHEMAS}


def build_suites(settings: Settings) -> dict[str, list[Expectation]]:
    """The expectations of every silver and gold table, by table name."""
    suites = {}
    for name, schema in schemas().items():
        rules = RULES.get(name)
        suites[name] = schema_expectations(schema) + (rules(schema, settings) if rules else [])
    suites[IDENTITY_EDGES] = identity_edges_suite()
    return suites
