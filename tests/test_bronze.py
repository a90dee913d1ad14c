"""Bronze landing: verbatim rows with lineage, idempotent, and robust to broken files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from cdp.core import catalog
from jobs.bronze import ingest
from tests.conftest import make_settings

DAY1, DAY2 = "2026-03-01", "2026-03-02"
CRM_HEADER = "crm_id,first_name,last_name,email,phone,country,birth_date\n"


def land(landing: Path, source: str, day: str, name: str, content: str | bytes) -> Path:
    folder = landing / source / day
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


@pytest.fixture()
def zone(tmp_path):
    """An empty landing zone and warehouse, with their settings."""
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse"
    landing.mkdir()
    return landing, make_settings(landing, warehouse)


def bronze_rows(spark, settings, source: str) -> list:
    df = catalog.read(spark, f"bronze.{source}", settings.paths.warehouse)
    return df.orderBy("_source_file", "_row_number").collect()


def test_rows_are_kept_verbatim_with_lineage(spark, zone):
    landing, settings = zone
    land(
        landing,
        "crm",
        DAY1,
        "crm.csv",
        CRM_HEADER + " c1 ,Åsa,ÖBERG, A@X.COM ,+46 70 123 45 67,SE,19850230\n",
    )
    report = ingest.run(spark, settings, DAY1)
    assert [f.status for f in report.files] == ["ingested"]
    (row,) = bronze_rows(spark, settings, "crm")
    # Values exactly as landed: not trimmed, not lower-cased, invalid date kept.
    assert row["crm_id"] == " c1 "
    assert row["email"] == " A@X.COM "
    assert row["birth_date"] == "19850230"
    assert row["_batch_date"].isoformat() == DAY1
    assert row["_source_file"].endswith("crm/2026-03-01/crm.csv")
    assert row["_row_number"] == 1
    assert len(row["_file_sha256"]) == 64
    assert row["_ingested_at"] is not None
    assert row["_malformed_reason"] is None


@pytest.mark.slow  # many Spark jobs on inline data; not in make test-fast
def test_same_file_landed_twice_adds_nothing(spark, zone):
    landing, settings = zone
    first = land(
        landing, "crm", DAY1, "crm.csv", CRM_HEADER + "c1,Ann,Lee,a@x.com,,,\nc2,Bo,Ek,,,,\n"
    )
    ingest.run(spark, settings, DAY1)
    # The same date again, then the same content under another name and another date.
    again = ingest.run(spark, settings, DAY1)
    shutil.copy(first, first.with_name("crm_copy.csv"))
    land(landing, "crm", DAY2, "resent.csv", first.read_text())
    later = ingest.run(spark, settings, DAY2)
    twice = ingest.run(spark, settings, DAY1)
    assert [f.status for f in again.files] == ["duplicate"]
    assert [f.status for f in later.files] == ["duplicate"]
    assert sorted(f.status for f in twice.files) == ["duplicate", "duplicate"]
    assert len(bronze_rows(spark, settings, "crm")) == 2


@pytest.mark.slow  # many Spark jobs on inline data; not in make test-fast
def test_rerun_after_a_lost_file_log_replaces_instead_of_doubling(spark, zone):
    """A crash between the bronze write and the file log must not double rows on re-run."""
    landing, settings = zone
    land(landing, "pos", DAY1, "pos.csv", "transaction_id,line_no,quantity\nt1,1,2\nt1,2,-1\n")
    ingest.run(spark, settings, DAY1)
    shutil.rmtree(catalog.table_path("bronze.file_log", settings.paths.warehouse))
    catalog.register(spark, "bronze.file_log", settings.paths.warehouse)
    report = ingest.run(spark, settings, DAY1)
    assert [f.status for f in report.files] == ["ingested"]
    assert len(bronze_rows(spark, settings, "pos")) == 2


@pytest.mark.slow  # many Spark jobs on inline data; not in make test-fast
def test_extra_columns_are_kept_and_files_may_differ(spark, zone):
    landing, settings = zone
    land(landing, "crm", DAY1, "a.csv", CRM_HEADER + "c1,Ann,Lee,,,,\n")
    land(landing, "crm", DAY1, "b.csv", "crm_id,first_name,favourite_colour\nc2,Bo,green\n")
    land(landing, "crm", DAY2, "c.csv", "crm_id,shoe_size\nc3,44\n")
    ingest.run(spark, settings, DAY1)
    ingest.run(spark, settings, DAY2)
    rows = {r["crm_id"]: r for r in bronze_rows(spark, settings, "crm")}
    assert rows["c2"]["favourite_colour"] == "green"
    assert rows["c3"]["shoe_size"] == "44"
    assert rows["c1"]["favourite_colour"] is None
    assert rows["c3"]["last_name"] is None


def test_extra_column_names_delta_refuses_are_tidied_and_their_values_kept(spark, zone):
    landing, settings = zone
    land(landing, "crm", DAY1, "a.csv", 'crm_id,unit price,"a,b",Crm_ID\nc1,12.50,x,dup\n')
    land(
        landing, "web", DAY1, "e.jsonl", '{"event_id": "e1", "page (url)": "/p", "Event_ID": "E"}\n'
    )
    report = ingest.run(spark, settings, DAY1)
    assert [f.status for f in report.files] == ["ingested", "ingested"], report.files
    crm = bronze_rows(spark, settings, "crm")[0]
    assert (crm["unit_price"], crm["a_b"], crm["Crm_ID_2"]) == ("12.50", "x", "dup")
    web = bronze_rows(spark, settings, "web")[0]
    assert (web["page__url_"], web["event_id"]) == ("/p", "e1")
    assert {web["Event_ID_2"], web["event_id"]} == {"E", "e1"}


def test_missing_required_column_fails_that_file_alone(spark, zone):
    landing, settings = zone
    land(landing, "crm", DAY1, "good.csv", CRM_HEADER + "c1,Ann,Lee,,,,\n")
    bad = land(landing, "crm", DAY1, "no_key.csv", "first_name,email\nAnn,a@x.com\n")
    land(landing, "web", DAY1, "no_key.jsonl", '{"event_ts": "2026-03-01T10:00:00Z"}\n')
    report = ingest.run(spark, settings, DAY1)
    outcome = {f.file_name: f for f in report.files}
    assert outcome["good.csv"].status == "ingested"
    assert outcome["no_key.csv"].status == "failed"
    assert outcome["no_key.csv"].error == f"{bad}: missing required column 'crm_id'"
    assert "missing required column 'event_id'" in outcome["no_key.jsonl"].error
    assert all("\n" not in e for e in report.errors)
    assert [r["crm_id"] for r in bronze_rows(spark, settings, "crm")] == ["c1"]
    logged = catalog.read(spark, "bronze.file_log", settings.paths.warehouse)
    failed = logged.where("status = 'failed'").select("file_name", "error").collect()
    assert {r["file_name"] for r in failed} == {"no_key.csv", "no_key.jsonl"}


def test_malformed_files_never_take_good_files_down_or_lose_rows(spark, zone):
    landing, settings = zone
    land(landing, "crm", DAY1, "good.csv", CRM_HEADER + 'c1,"Lee, Ann ""AJ""",Lee,,,,\n')
    # An unclosed quote on the last record.
    land(landing, "crm", DAY1, "bad_quote.csv", CRM_HEADER + 'c2,Bo,Ek,,,,\nc3,"Unclosed,Ek,,,,\n')
    # Latin-1 bytes where UTF-8 was promised.
    land(
        landing,
        "crm",
        DAY1,
        "latin1.csv",
        (CRM_HEADER + "c4,Åke,Öst,,,,\nc5,Bo,Ek,,,,\n").encode("latin-1"),
    )
    land(landing, "crm", DAY1, "empty.csv", b"")
    # JSON Lines cut off mid-object, plus a line that is not an object at all.
    land(
        landing,
        "web",
        DAY1,
        "events.jsonl",
        '{"event_id": "e1", "revenue": 12.50}\n["not", "an", "object"]\n\n{"event_id": "e3", "ev',
    )
    report = ingest.run(spark, settings, DAY1)
    outcome = {f.file_name: f for f in report.files}
    assert outcome["empty.csv"].status == "failed"
    assert "empty file" in outcome["empty.csv"].error
    assert outcome["good.csv"].status == "ingested"

    crm = {r["crm_id"]: r for r in bronze_rows(spark, settings, "crm")}
    assert crm["c1"]["first_name"] == 'Lee, Ann "AJ"'
    assert crm["c1"]["_malformed_reason"] is None
    assert crm["c2"]["_malformed_reason"] is None
    assert crm["c3"]["_malformed_reason"] == "malformed_csv_row"
    assert "Unclosed" in crm["c3"]["_raw_record"]
    # Only the non-ASCII row of the Latin-1 file is unreadable; it is kept and flagged.
    assert crm["c4"]["_malformed_reason"] == "invalid_utf8"
    assert crm["c5"]["_malformed_reason"] is None
    assert outcome["latin1.csv"].rows == 2 and outcome["latin1.csv"].malformed_rows == 1

    web = bronze_rows(spark, settings, "web")
    assert [(r["_row_number"], r["event_id"], r["_malformed_reason"]) for r in web] == [
        (1, "e1", None),
        (2, None, "malformed_json"),
        (4, None, "malformed_json"),
    ]
    assert web[2]["_raw_record"] == '{"event_id": "e3", "ev'
    # Bronze keeps the landed line verbatim, whatever Spark makes of the number.
    assert web[0]["_raw_record"] == '{"event_id": "e1", "revenue": 12.50}'


def test_a_missing_source_folder_is_a_warning_not_a_failure(spark, zone):
    landing, settings = zone
    land(landing, "pos", DAY1, "pos.csv", "transaction_id,line_no\nt1,1\n")
    # A quiet day: JSON Lines has no header, so an empty file is zero events, not an error.
    land(landing, "web", DAY1, "quiet.jsonl", b"")
    report = ingest.run(spark, settings, DAY1)
    assert sorted(report.missing_sources) == ["crm", "loyalty"]
    assert report.errors == []
    assert report.rows("pos") == 1
    assert [(f.file_name, f.status, f.rows) for f in report.files if f.source == "web"] == [
        ("quiet.jsonl", "ingested", 0)
    ]


def test_row_numbers_follow_file_order_across_partitions(spark):
    df = spark.range(0, 1000, numPartitions=7).withColumnRenamed("id", "value")
    numbered = ingest.with_row_numbers(df)
    got = [(r["value"], r["_row_number"]) for r in numbered.orderBy("value").collect()]
    assert got == [(i, i + 1) for i in range(1000)]
    assert numbered.agg(F.countDistinct("_row_number")).first()[0] == 1000


def test_a_range_lands_every_date_in_one_pass_with_its_own_lineage(spark, zone):
    landing, settings = zone
    first = land(landing, "crm", DAY1, "crm.csv", CRM_HEADER + "c1,Ann,Lee,,,,\n")
    land(landing, "crm", DAY2, "resent.csv", first.read_bytes())
    land(landing, "crm", DAY2, "new.csv", CRM_HEADER + "c2,Bo,Ek,,,,\nc1,Ann,Lee,,,,\n")
    land(landing, "crm", DAY2, "no_key.csv", "first_name\nAnn\n")
    day1, day2 = ingest.run_range(spark, settings, [DAY2, DAY1, DAY2])
    assert (day1.batch_date, day2.batch_date) == (DAY1, DAY2)
    assert [(f.file_name, f.status, f.rows) for f in day1.files] == [("crm.csv", "ingested", 1)]
    assert [(f.file_name, f.status, f.rows) for f in day2.files] == [
        ("new.csv", "ingested", 2),
        ("no_key.csv", "failed", 0),
        ("resent.csv", "duplicate", 0),
    ]
    assert sorted(day1.missing_sources) == sorted(day2.missing_sources) == ["loyalty", "pos", "web"]
    got = [(r["crm_id"], r["_batch_date"].isoformat()) for r in bronze_rows(spark, settings, "crm")]
    assert sorted(got) == [("c1", DAY1), ("c1", DAY2), ("c2", DAY2)]
    logged = catalog.read(spark, "bronze.file_log", settings.paths.warehouse)
    assert logged.count() == 4


def test_an_s3a_landing_uri_opens_with_pyarrow_and_reads_back_as_s3a():
    """Operators write s3a:// for Spark everywhere; pyarrow lists the landing zone as s3://."""
    from cdp.core.storage import filesystem, spark_uri

    # The region in the query keeps pyarrow from asking AWS where the bucket is.
    fs, path = filesystem("s3a://acme-cdp/landing?region=eu-west-1")
    assert type(fs).__name__ == "S3FileSystem"
    assert path == "acme-cdp/landing"
    assert spark_uri("s3a://acme-cdp/landing", f"{path}/crm") == "s3a://acme-cdp/landing/crm"
