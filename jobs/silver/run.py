"""Silver main: standardise batch dates of every bronze table, by table name.

Each write replaces its (source, batch date) slices, so re-running a date gives the same
tables and consecutive dates accumulate. ``run`` standardises one batch date; ``run_range``
standardises many in one pass (a backfill) with the same tables and per-date reports: every
per-batch rule (a key repeating within one batch) partitions by batch date, and every write
replaces the slices of exactly the dates given.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from cdp.core import catalog
from jobs.bronze.ingest import batch_dates
from jobs.silver.commerce_lines import standardise_pos, web_purchase_lines
from jobs.silver.experience_events import standardise_web
from jobs.silver.person_records import consent_events, standardise_crm, standardise_loyalty

if TYPE_CHECKING:
    from collections.abc import Callable

    from cdp.core.settings import Settings, StandardiseSettings

log = logging.getLogger(__name__)

# The primary silver table of each source: every bronze row lands in it or in quarantine.
PRIMARY_TABLE = {
    "crm": "silver.person_records",
    "loyalty": "silver.person_records",
    "pos": "silver.commerce_lines",
    "web": "silver.experience_events",
}

STANDARDISE: dict[str, Callable[[DataFrame, StandardiseSettings], tuple[DataFrame, DataFrame]]] = {
    "crm": standardise_crm,
    "loyalty": standardise_loyalty,
    "pos": lambda bronze, _settings: standardise_pos(bronze),
    "web": lambda bronze, _settings: standardise_web(bronze),
}


@dataclass
class SilverReport:
    """Rows per source for one batch date: read from bronze, published, quarantined."""

    batch_date: str
    bronze_rows: dict[str, int] = field(default_factory=dict)
    silver_rows: dict[str, int] = field(default_factory=dict)
    quarantined_rows: dict[str, int] = field(default_factory=dict)


def _slice(sources: list[str] | None, days: list[str]) -> str:
    """The rows of ``days`` (and of ``sources``, when given) a write replaces."""
    where = "batch_date IN ({})".format(", ".join(f"DATE'{d}'" for d in days))
    if not sources:
        return where
    return "source IN ({}) AND {}".format(", ".join(f"'{s}'" for s in sources), where)


def _union(frames: list[DataFrame]) -> DataFrame:
    out = frames[0]
    for other in frames[1:]:
        out = out.unionByName(other)
    return out


def _counts(tagged: list[tuple[str, str, DataFrame]]) -> dict[tuple[str, str, str], int]:
    """Rows per (kind, source, batch date) of each (kind, source, frame), in one Spark job."""
    parts = []
    for kind, source, df in tagged:
        day = F.col("_batch_date" if kind == "bronze" else "batch_date")
        parts.append(
            df.select(F.lit(kind).alias("kind"), F.lit(source).alias("source"), day.alias("day"))
        )
    rows = _union(parts).groupBy("kind", "source", "day").count().collect()
    return {(r["kind"], r["source"], r["day"].isoformat()): r["count"] for r in rows}


def run_range(spark: SparkSession, settings: Settings, dates: list[str]) -> list[SilverReport]:
    """Standardise every bronze source for all ``dates`` into silver and quarantine.

    One report per date, oldest first, equal to what ``run`` returns date by date. Each
    source is standardised once for the whole range and kept in memory, so the pandas UDFs
    run once and the five silver tables take one Delta commit each.
    """
    wh = settings.paths.warehouse
    days = batch_dates(dates)
    sources = [s for s in settings.ingest.sources if catalog.exists(spark, f"bronze.{s}", wh)]
    in_range = F.col("_batch_date").isin([dt.date.fromisoformat(d) for d in days])
    bronze: dict[str, DataFrame] = {}
    primary: dict[str, DataFrame] = {}
    quarantine: dict[str, DataFrame] = {}
    # Cached: each frame feeds a write and the row counts; the primary frames also feed the
    # derived tables (consent events, web purchases), so the UDFs never run twice.
    for source in sources:
        bronze[source] = catalog.read(spark, f"bronze.{source}", wh).where(in_range).persist()
        good, bad = STANDARDISE[source](bronze[source], settings.standardise)
        primary[source], quarantine[source] = good.persist(), bad.persist()
    tagged = [("bronze", bronze), ("silver", primary), ("quarantine", quarantine)]
    try:
        persons = [s for s in sources if PRIMARY_TABLE[s] == "silver.person_records"]
        if persons:
            records = _union([primary[s] for s in persons])
            catalog.write(records, "silver.person_records", wh, replace_where=_slice(persons, days))
            catalog.write(
                consent_events(records),
                "silver.consent_events",
                wh,
                replace_where=_slice(persons, days),
            )
        if "web" in primary:
            catalog.write(
                primary["web"], "silver.experience_events", wh, replace_where=_slice(None, days)
            )
        # POS lines and web purchases share a table: one commit replaces both slices.
        lines = {s: primary[s] for s in sources if PRIMARY_TABLE[s] == "silver.commerce_lines"}
        if "web" in primary:
            lines["web"] = web_purchase_lines(primary["web"])
        if lines:
            catalog.write(
                _union(list(lines.values())),
                "silver.commerce_lines",
                wh,
                replace_where=_slice(list(lines), days),
            )
        if sources:
            catalog.write(
                _union([quarantine[s] for s in sources]),
                "silver.quarantine",
                wh,
                replace_where=_slice(sources, days),
            )
        counts = (
            _counts([(kind, s, frames[s]) for kind, frames in tagged for s in sources])
            if sources
            else {}
        )
    finally:
        for frames in (primary, quarantine, bronze):
            for df in frames.values():
                df.unpersist()
    reports = []
    for day in days:
        report = SilverReport(day)
        for source in sources:
            report.bronze_rows[source] = counts.get(("bronze", source, day), 0)
            report.silver_rows[source] = counts.get(("silver", source, day), 0)
            report.quarantined_rows[source] = counts.get(("quarantine", source, day), 0)
            log.info(
                "silver %s %s: %d bronze -> %d silver + %d quarantined",
                source,
                day,
                report.bronze_rows[source],
                report.silver_rows[source],
                report.quarantined_rows[source],
            )
        reports.append(report)
    return reports


def run(spark: SparkSession, settings: Settings, batch_date: str) -> SilverReport:
    """Standardise every bronze source for ``batch_date`` into silver and quarantine."""
    return run_range(spark, settings, [batch_date])[0]
