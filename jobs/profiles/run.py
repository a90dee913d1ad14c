"""Profiles main: gold.purchases, gold.rfm and gold.profiles for one batch date, by table name.

Each step reads what the step before staged tonight and stages its own table whole
(``catalog.write_staged``), so re-running a date gives the same tables; the DAG publishes the
staged tables once the quality gate passes (expectations/gate.py). Three steps, three DAG
tasks (dags/cdp_nightly.py).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from cdp.core import catalog
from cdp.core.errors import CdpError
from jobs.governance.consent import run_consent_history
from jobs.profiles.profiles import build_profiles
from jobs.profiles.purchases import purchases
from jobs.profiles.rfm import rfm
from schemas.xdm import SCHEMAS

if TYPE_CHECKING:
    from cdp.core.settings import Settings

log = logging.getLogger(__name__)


def _read(spark: SparkSession, name: str, warehouse: str, day: dt.date) -> DataFrame:
    """A silver table up to ``day`` (empty when the source never landed)."""
    if not catalog.exists(spark, name, warehouse):
        return spark.createDataFrame([], SCHEMAS[name].struct())
    return catalog.read(spark, name, warehouse).where(F.col("batch_date") <= F.lit(day))


def _needs(spark: SparkSession, warehouse: str, *names: str) -> None:
    missing = [n for n in names if not catalog.exists_staged(spark, n, warehouse)]
    if missing:
        raise CdpError(f"profiles need tonight's {', '.join(missing)}; run the identity step first")


def run_purchases(spark: SparkSession, settings: Settings, batch_date: str) -> int:
    """gold.purchases as of ``batch_date``; returns the number of orders."""
    wh, day = settings.paths.warehouse, dt.date.fromisoformat(batch_date)
    _needs(spark, wh, "gold.record_profiles")
    orders = purchases(
        _read(spark, "silver.commerce_lines", wh, day),
        catalog.read_staged(spark, "gold.record_profiles", wh),
        settings.profiles.fx_rates,
    )
    catalog.write_staged(orders, "gold.purchases", wh)
    count = catalog.read_staged(spark, "gold.purchases", wh).count()
    log.info("purchases %s: %d orders", batch_date, count)
    return count


def run_rfm(spark: SparkSession, settings: Settings, batch_date: str) -> int:
    """gold.rfm as of ``batch_date``; returns the number of buyers scored."""
    wh, day = settings.paths.warehouse, dt.date.fromisoformat(batch_date)
    _needs(spark, wh, "gold.purchases")
    scored = rfm(
        catalog.read_staged(spark, "gold.purchases", wh),
        day,
        settings.profiles.rfm_lookback_days,
        settings.profiles.rfm_segments,
    )
    catalog.write_staged(scored, "gold.rfm", wh)
    count = catalog.read_staged(spark, "gold.rfm", wh).count()
    log.info("rfm %s: %d buyers", batch_date, count)
    return count


def run_profiles(spark: SparkSession, settings: Settings, batch_date: str) -> int:
    """gold.profiles as of ``batch_date``; returns the number of profiles."""
    wh, day = settings.paths.warehouse, dt.date.fromisoformat(batch_date)
    _needs(spark, wh, "gold.identity_map", "gold.record_profiles", "gold.purchases", "gold.rfm")
    p = settings.profiles
    built = build_profiles(
        identity_map=catalog.read_staged(spark, "gold.identity_map", wh),
        record_profiles=catalog.read_staged(spark, "gold.record_profiles", wh),
        person_records=_read(spark, "silver.person_records", wh, day),
        experience_events=_read(spark, "silver.experience_events", wh, day),
        commerce_lines=_read(spark, "silver.commerce_lines", wh, day),
        consent_events=_read(spark, "silver.consent_events", wh, day),
        purchases=catalog.read_staged(spark, "gold.purchases", wh),
        rfm=catalog.read_staged(spark, "gold.rfm", wh),
        survivorship=p.survivorship,
        source_priority=p.source_priority,
        rates=p.fx_rates,
        as_of=day,
        governance=settings.governance,
    )
    catalog.write_staged(built, "gold.profiles", wh)
    count = catalog.read_staged(spark, "gold.profiles", wh).count()
    log.info("profiles %s: %d profiles", batch_date, count)
    # Consent changes since earlier nights, appended to the audit history (staged beside).
    run_consent_history(
        spark, settings, batch_date, catalog.read_staged(spark, "gold.profiles", wh)
    )
    return count
