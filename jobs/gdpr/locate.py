"""Where a subject's data lives: their rows in every table of every layer.

One rule per table says how a row belongs to the subject, and which columns pick it out for
deletion (a Delta MERGE on those columns; the rows' values never appear in a predicate, so
the transaction log does not record them). Every registered table has a rule or is declared
free of personal data; a table added without either is refused (tests/test_gdpr.py).

- bronze: the landed row carries one of the subject's identifiers once normalised as silver
  would (jobs/standardise/identifiers.py), or an unparsable row's raw text mentions one;
- silver: the row's ``identities`` hold one of them; quarantine rows come from the subject's
  bronze rows (lineage) or their raw text mentions one;
- identity graph: edges and cuts on one of their identifiers;
- gold and audit: the subject's profile ids (current and retired).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from cdp.core import catalog
from jobs.standardise.identifiers import LANDED_IDENTIFIERS, landed_identities
from schemas.landing import SOURCES
from schemas.xdm import QUARANTINE_REASONS

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from cdp.core.settings import Settings
    from jobs.gdpr.subject import Subject

# Tables that hold nothing about a person (file names, counts, keyed hashes only).
NO_PERSONAL_DATA = frozenset(
    {
        "bronze.file_log",
        "audit.gdpr_requests",
        "audit.suppression_list",
        "gold.segments",
        "audit.activation_exports",
    }
)

BRONZE_KEY = ("_file_sha256", "_row_number")
MALFORMED_REASONS = tuple(
    r for r in QUARANTINE_REASONS if r not in ("missing_key", "duplicate_key")
)
BRONZE_CAME_FROM = ("_source_file", "_batch_date", "_ingested_at", "_row_number")
SILVER_CAME_FROM = ("source_file", "batch_date", "row_number")


@dataclass(frozen=True)
class Rule:
    """How a table's rows are matched to a subject."""

    keys: tuple[str, ...]  # columns that pick the subject's rows out for deletion
    came_from: tuple[str, ...] = ()  # where and when the row came from, for the access export


def _vertex(namespace: str, value: str) -> Column:
    return F.array(F.struct(F.col(namespace).alias("namespace"), F.col(value).alias("value")))


def mentions(subject: Subject, text: Column, spellings: frozenset[str] = frozenset()) -> Column:
    """Whether free text (an unparsable landed row, a cut's detail) names one of the subject's
    identifiers, normalised or in a ``spelling`` it was landed in."""
    values = sorted({v for ns, v in subject.identifiers if len(v) >= 6} | spellings)
    if not values:
        return F.lit(False)
    pattern = "(?i)(?<![\\w.@+-])(" + "|".join(re.escape(v) for v in values) + ")(?![\\w@-])"
    return F.coalesce(text.rlike(pattern), F.lit(False))


def _in(column: str, values: tuple[str, ...]) -> Column:
    return F.col(column).isin(*values) if values else F.lit(False)


def rule(name: str) -> Rule | None:
    """The table's rule; None for a table free of personal data."""
    if name in NO_PERSONAL_DATA:
        return None
    layer = name.split(".", 1)[0]
    if layer == "bronze":
        return Rule(BRONZE_KEY, BRONZE_CAME_FROM)
    fixed = {
        "silver.person_records": Rule(("record_id", "file_sha256", "row_number"), SILVER_CAME_FROM),
        "silver.experience_events": Rule(
            ("event_id", "file_sha256", "row_number"), SILVER_CAME_FROM
        ),
        "silver.commerce_lines": Rule(("line_id", "file_sha256", "row_number"), SILVER_CAME_FROM),
        "silver.consent_events": Rule(
            ("record_id", "purpose", "file_sha256", "row_number"), SILVER_CAME_FROM
        ),
        "silver.quarantine": Rule(("source", "file_sha256", "row_number"), SILVER_CAME_FROM),
        "silver.identity_edges": Rule(("src", "dst"), ("source", "first_seen", "last_seen")),
        "audit.identity_cuts": Rule(("namespace", "value", "batch_date"), ("batch_date",)),
        "gold.identity_map": Rule(("namespace", "identifier"), ("first_seen", "last_seen")),
        "gold.profile_merges": Rule(("retired_profile_id",), ("merged_at",)),
        "gold.record_profiles": Rule(("record_id",), ("source",)),
        "gold.purchases": Rule(("order_id",), ("source", "ordered_at", "batch_date")),
        "gold.profiles": Rule(("profile_id",), ("first_seen", "last_seen", "as_of")),
        "gold.rfm": Rule(("profile_id",), ("as_of",)),
        "audit.consent_history": Rule(
            ("profile_id",), ("source", "record_id", "captured_at", "batch_date")
        ),
    }
    # Every other gold and audit table is about profiles: its rows go by profile id.
    return fixed.get(name, Rule(("profile_id",)))


def _match(
    name: str, df: DataFrame, subject: Subject, settings: Settings, spellings: frozenset[str]
) -> Column:
    """The condition that a row of table ``name`` belongs to ``subject``."""
    profiles = subject.profile_ids
    if name.startswith("bronze."):
        # Rows the parser could not read, by their raw text (readable rows are matched by
        # their identifiers in ``carrying_bronze_rows``); a readable row's raw line (web keeps
        # every line) would match an id that happens to appear in a URL or a SKU.
        unreadable = F.col("_malformed_reason").isNotNull()
        return unreadable & mentions(subject, F.col("_raw_record"), spellings)
    if name == "silver.quarantine":
        unreadable = F.col("reason_code").isin(*MALFORMED_REASONS)
        return unreadable & mentions(subject, F.col("raw_record"), spellings)
    if "identities" in df.columns:
        return subject.carries(F.col("identities"))
    if name == "silver.identity_edges":
        return subject.carries(_vertex("src_namespace", "src_value")) | subject.carries(
            _vertex("dst_namespace", "dst_value")
        )
    if name == "audit.identity_cuts":
        # A cut's detail names the identifiers it was seen with ("seen with crm_id:X").
        return subject.carries(_vertex("namespace", "value")) | mentions(
            subject, F.col("detail"), spellings
        )
    if name == "gold.identity_map":
        return _in("profile_id", profiles) | subject.carries(_vertex("namespace", "identifier"))
    if name == "gold.profile_merges":
        return _in("profile_id", profiles) | _in("retired_profile_id", profiles)
    if "profile_id" in df.columns:
        return _in("profile_id", profiles)
    raise ValueError(f"no GDPR rule matches table {name}")


def carrying_bronze_rows(
    spark: SparkSession, settings: Settings, subject: Subject
) -> dict[str, DataFrame]:
    """Per bronze table, the readable landed rows carrying one of the subject's identifiers
    once normalised as silver would; materialised, since the normalisers are Python UDFs."""
    wh = settings.paths.warehouse
    out = {}
    for spec in SOURCES.values():
        if not catalog.exists(spark, spec.bronze_table, wh):
            continue
        df = catalog.read(spark, spec.bronze_table, wh)
        ids = landed_identities(df, spec.source, settings.standardise)
        out[spec.bronze_table] = df.where(subject.carries(ids)).localCheckpoint()
    return out


def landed_spellings(carrying: dict[str, DataFrame]) -> frozenset[str]:
    """The subject's identifiers as they were landed ("Jane.Doe+news@Gmail.com",
    "070-123 45 67"), from their readable bronze rows: unreadable rows and quarantined raw text
    are searched for these too."""
    out: set[str] = set()
    for source, columns in LANDED_IDENTIFIERS.items():
        mine = carrying.get(SOURCES[source].bronze_table)
        if mine is None:
            continue
        present = [c for _, c in columns if c in mine.columns]
        for row in mine.select(*[F.trim(F.col(c)).alias(c) for c in present]).collect():
            out |= {v for v in row if v and len(v) >= 6}
    return frozenset(out)


def subject_rows(spark: SparkSession, settings: Settings, subject: Subject) -> dict[str, DataFrame]:
    """The subject's rows in every table that exists, by table name (tables with none included)."""
    wh = settings.paths.warehouse
    carrying = carrying_bronze_rows(spark, settings, subject)
    spellings = landed_spellings(carrying)
    found: dict[str, DataFrame] = {}
    for name in catalog.TABLES:
        if rule(name) is None or not catalog.exists(spark, name, wh):
            continue
        df = catalog.read(spark, name, wh)
        found[name] = df.where(_match(name, df, subject, settings, spellings))
        if name in carrying:
            found[name] = carrying[name].unionByName(found[name])
    # Quarantined rows also come from the subject's bronze rows, whatever their text says.
    if "silver.quarantine" in found:
        quarantine = catalog.read(spark, "silver.quarantine", wh)
        bronze_keys = [
            found[spec.bronze_table].select(
                F.lit(spec.source).alias("source"),
                F.col("_file_sha256").alias("file_sha256"),
                F.col("_row_number").alias("row_number"),
            )
            for spec in SOURCES.values()
            if spec.bronze_table in found
        ]
        if bronze_keys:
            keys = bronze_keys[0]
            for more in bronze_keys[1:]:
                keys = keys.unionByName(more)
            by_lineage = quarantine.join(keys, ["source", "file_sha256", "row_number"], "left_semi")
            found["silver.quarantine"] = (
                found["silver.quarantine"].unionByName(by_lineage).distinct()
            )
    return found
