"""The nightly build's steps in order, for one batch date.

The Airflow DAG (dags/) calls the same step functions one task each; this module runs them
in-process for `cdp run` and the tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from jobs.bronze import ingest
from jobs.identity import run as identity
from jobs.silver import run as silver

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from cdp.settings import Settings


@dataclass
class BatchResult:
    """What one batch date's build did."""

    batch_date: str
    bronze: ingest.IngestReport
    silver: silver.SilverReport
    identity: identity.IdentityReport


def run_batch(spark: SparkSession, settings: Settings, batch_date: str) -> BatchResult:
    """Land, standardise, then resolve identities for one batch date."""
    bronze_report = ingest.run(spark, settings, batch_date)
    silver_report = silver.run(spark, settings, batch_date)
    identity_report = identity.run(spark, settings, batch_date)
    return BatchResult(batch_date, bronze_report, silver_report, identity_report)


def describe(result: BatchResult) -> str:
    """A short human summary of one batch."""
    lines = [f"batch {result.batch_date}"]
    for f in result.bronze.files:
        note = f" ({f.error})" if f.error else ""
        lines.append(f"  file {f.source}/{f.file_name}: {f.status}, {f.rows} rows{note}")
    for source in result.bronze.missing_sources:
        lines.append(f"  warning: no {source} extract landed")
    for source, rows in result.silver.bronze_rows.items():
        lines.append(
            f"  {source}: {rows} bronze -> {result.silver.silver_rows.get(source, 0)} silver"
            f" + {result.silver.quarantined_rows.get(source, 0)} quarantined"
        )
    i = result.identity
    lines.append(
        f"  identity: {i.identifiers} identifiers, {i.edges} edges, {i.profiles} profiles,"
        f" {i.cuts} identifiers cut by guard rails, {i.merges} profile merges"
    )
    return "\n".join(lines)
