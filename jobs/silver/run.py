"""Silver main: standardise one batch date of every bronze table, by table name.

Each write replaces its (source, batch date) slice, so re-running a date gives the same
tables and consecutive dates accumulate.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from cdp import catalog
from jobs.silver.commerce_lines import standardise_pos, web_purchase_lines
from jobs.silver.experience_events import standardise_web
from jobs.silver.person_records import consent_events, standardise_crm, standardise_loyalty

if TYPE_CHECKING:
    from cdp.settings import Settings

log = logging.getLogger(__name__)

# The primary silver table of each source: every bronze row lands in it or in quarantine.
PRIMARY_TABLE = {
    "crm": "silver.person_records",
    "loyalty": "silver.person_records",
    "pos": "silver.commerce_lines",
    "web": "silver.experience_events",
}


@dataclass
class SilverReport:
    """Rows per source for one batch date: read from bronze, published, quarantined."""

    batch_date: str
    bronze_rows: dict[str, int] = field(default_factory=dict)
    silver_rows: dict[str, int] = field(default_factory=dict)
    quarantined_rows: dict[str, int] = field(default_factory=dict)


def _slice(source: str | None, batch_date: str) -> str:
    where = f"batch_date = DATE'{batch_date}'"
    return f"source = '{source}' AND {where}" if source else where


def _count_slice(spark: SparkSession, table: str, wh: str, source: str | None, day: str) -> int:
    df = catalog.read(spark, table, wh).where(_slice(source, day))
    return df.count()


def run(spark: SparkSession, settings: Settings, batch_date: str) -> SilverReport:
    """Standardise every bronze source for ``batch_date`` into silver and quarantine."""
    wh = settings.paths.warehouse
    day = dt.date.fromisoformat(batch_date)
    report = SilverReport(batch_date)
    for source in settings.ingest.sources:
        table = f"bronze.{source}"
        if not catalog.exists(spark, table, wh):
            continue
        bronze: DataFrame = catalog.read(spark, table, wh).where(F.col("_batch_date") == F.lit(day))
        report.bronze_rows[source] = bronze.count()
        if source == "crm":
            primary, quarantine = standardise_crm(bronze, settings.standardise)
        elif source == "loyalty":
            primary, quarantine = standardise_loyalty(bronze, settings.standardise)
        elif source == "pos":
            primary, quarantine = standardise_pos(bronze)
        else:
            primary, quarantine = standardise_web(bronze)

        target = PRIMARY_TABLE[source]
        slice_source = None if target == "silver.experience_events" else source
        catalog.write(primary, target, wh, replace_where=_slice(slice_source, batch_date))
        catalog.write(quarantine, "silver.quarantine", wh, replace_where=_slice(source, batch_date))

        # Derived tables read the slice just written back instead of re-running the UDFs.
        written = catalog.read(spark, target, wh).where(_slice(slice_source, batch_date))
        if source in ("crm", "loyalty"):
            catalog.write(
                consent_events(written),
                "silver.consent_events",
                wh,
                replace_where=_slice(source, batch_date),
            )
        elif source == "web":
            catalog.write(
                web_purchase_lines(written),
                "silver.commerce_lines",
                wh,
                replace_where=_slice("web", batch_date),
            )
        report.silver_rows[source] = written.count()
        report.quarantined_rows[source] = _count_slice(
            spark, "silver.quarantine", wh, source, batch_date
        )
        log.info(
            "silver %s %s: %d bronze -> %d silver + %d quarantined",
            source,
            batch_date,
            report.bronze_rows[source],
            report.silver_rows[source],
            report.quarantined_rows[source],
        )
    return report
