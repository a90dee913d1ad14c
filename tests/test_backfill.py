"""Range mode: many batch dates in one pass give the tables and reports of date-by-date runs."""

from __future__ import annotations

import shutil
from dataclasses import asdict

import pytest
from pyspark.sql import functions as F

from cdp.core import catalog
from jobs.bronze import ingest
from jobs.silver import run as silver
from schemas.xdm import SCHEMAS
from tests.conftest import batch_dates, make_settings

BRONZE = ["bronze.crm", "bronze.loyalty", "bronze.pos", "bronze.web", "bronze.file_log"]
# When a run happened, not what it produced.
RUN_TIMES = {"_ingested_at", "logged_at", "quarantined_at"}


def land(landing, source: str, day: str, name: str, content: str) -> None:
    folder = landing / source / day
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(content, encoding="utf-8")


@pytest.fixture(scope="module")
def landing(generated_landing, tmp_path_factory):
    """The generated landing plus the awkward cases a range must treat as dates one by one."""
    out = tmp_path_factory.mktemp("backfill") / "landing"
    shutil.copytree(generated_landing, out, ignore=shutil.ignore_patterns("_truth"))
    day1, day2, day3 = batch_dates()
    # The first CRM extract sent again the next day: a duplicate by content.
    (first,) = (out / "crm" / day1).iterdir()
    shutil.copy(first, out / "crm" / day2 / "resent.csv")
    # No key column: the file fails when read, alone.
    land(out, "crm", day3, "no_key.csv", "first_name,email\nAnn,a@x.com\n")
    # A column name Delta cannot store as landed: tidied to unit_price and kept. Its copy on
    # a later date is a duplicate by content.
    bad = "transaction_id,line_no,unit price\nt-x,1,9.50\n"
    land(out, "pos", day1, "odd_header.csv", bad)
    land(out, "pos", day3, "odd_header_again.csv", bad)
    # A key repeated within one batch is a duplicate; the same key on another date is not.
    land(out, "web", day2, "extra.jsonl", '{"event_id": "x1"}\n{"event_id": "x1"}\n')
    land(out, "web", day3, "extra.jsonl", '{"event_id": "x1", "channel": "app"}\n')
    return out


@pytest.fixture(scope="module")
def warehouses(spark, landing, tmp_path_factory):
    """The same landing built date by date into one warehouse and as one range into another."""
    base = tmp_path_factory.mktemp("backfill_wh")
    by_date = make_settings(landing, base / "by_date")
    by_range = make_settings(landing, base / "by_range")
    days = batch_dates()
    runs = {
        "by_date": (
            [ingest.run(spark, by_date, d) for d in days],
            [silver.run(spark, by_date, d) for d in days],
        ),
        "by_range": (
            ingest.run_range(spark, by_range, days),
            silver.run_range(spark, by_range, days),
        ),
    }
    return {"by_date": by_date, "by_range": by_range}, runs


def table_rows(spark, name: str, warehouse: str) -> tuple[list[str], list[str]]:
    """Columns and sorted rows (as JSON) of a table, leaving out run timestamps."""
    df = catalog.read(spark, name, warehouse)
    columns = [c for c in df.columns if c not in RUN_TIMES]
    rows = df.select(F.to_json(F.struct(*[F.col(f"`{c}`") for c in columns])).alias("j"))
    return columns, sorted(r["j"] for r in rows.collect())


@pytest.mark.parametrize("name", [*BRONZE, *SCHEMAS])
def test_range_gives_the_tables_of_date_by_date_runs(spark, warehouses, name):
    settings, _ = warehouses
    by_date = table_rows(spark, name, settings["by_date"].paths.warehouse)
    by_range = table_rows(spark, name, settings["by_range"].paths.warehouse)
    assert by_date[1], name
    assert by_range == by_date


def test_range_gives_the_reports_of_date_by_date_runs(warehouses):
    _, runs = warehouses
    (bronze_by_date, silver_by_date), (bronze_by_range, silver_by_range) = runs.values()
    assert [asdict(r) for r in bronze_by_range] == [asdict(r) for r in bronze_by_date]
    assert [asdict(r) for r in silver_by_range] == [asdict(r) for r in silver_by_date]
    day1, day2, day3 = batch_dates()
    files = {(f.batch_date, f.file_name): f for r in bronze_by_range for f in r.files}
    assert files[(day2, "resent.csv")].status == "duplicate"
    assert "missing required column 'crm_id'" in files[(day3, "no_key.csv")].error
    assert files[(day1, "odd_header.csv")].status == "ingested"
    assert files[(day3, "odd_header_again.csv")].status == "duplicate"
    assert files[(day1, "pos_receipts_" + day1.replace("-", "") + ".csv")].status == "ingested"


def test_rows_in_equal_rows_published_plus_quarantined(spark, warehouses):
    settings, runs = warehouses
    wh = settings["by_range"].paths.warehouse
    bronze_reports, silver_reports = runs["by_range"]
    for ingested, report in zip(bronze_reports, silver_reports, strict=True):
        day = report.batch_date
        assert set(report.bronze_rows) == {"crm", "loyalty", "pos", "web"}
        for source, rows in report.bronze_rows.items():
            landed = catalog.read(spark, f"bronze.{source}", wh).where(
                F.col("_batch_date") == F.lit(day).cast("date")
            )
            assert rows == landed.count() == ingested.rows(source), (source, day)
            assert rows == report.silver_rows[source] + report.quarantined_rows[source]
    # The key repeated within a day is quarantined once; on the next day it is a new version.
    quarantine = catalog.read(spark, "silver.quarantine", wh).where("source = 'web'")
    dups = quarantine.where("""raw_record LIKE '%"x1"%'""").select("batch_date", "reason_code")
    assert [(r[0].isoformat(), r[1]) for r in dups.collect()] == [
        (batch_dates()[1], "duplicate_key")
    ]
    events = catalog.read(spark, "silver.experience_events", wh).where("event_id = 'x1'")
    assert (
        sorted(r[0].isoformat() for r in events.select("batch_date").collect())
        == (batch_dates()[1:])
    )


def test_a_range_replaces_only_its_own_dates(spark, warehouses, tmp_path):
    """Re-running part of the range in range mode leaves every table as it was."""
    settings, _ = warehouses
    # A copy, so the tables the other tests compare stay as built.
    shutil.copytree(settings["by_range"].paths.warehouse, tmp_path / "warehouse")
    s = make_settings(settings["by_range"].paths.landing, tmp_path / "warehouse")
    wh = s.paths.warehouse
    tables = [t for t in [*BRONZE, *SCHEMAS] if t != "bronze.file_log"]
    before = {t: table_rows(spark, t, wh) for t in tables}
    again = ingest.run_range(spark, s, batch_dates()[1:])
    assert {f.status for r in again for f in r.files} <= {"duplicate", "failed"}
    silver.run_range(spark, s, batch_dates()[1:])
    assert {t: table_rows(spark, t, wh) for t in tables} == before
