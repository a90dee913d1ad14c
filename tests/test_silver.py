"""Silver: standardised XDM-like tables; every bronze row lands in silver or quarantine."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F

from cdp.core import catalog
from cdp.core.settings import StandardiseSettings
from jobs.silver.commerce_lines import standardise_pos, web_purchase_lines
from jobs.silver.experience_events import standardise_web
from jobs.silver.person_records import consent_events, standardise_crm
from jobs.silver.run import PRIMARY_TABLE
from schemas.xdm import QUARANTINE_REASONS, SCHEMAS
from tests.conftest import batch_dates

SOURCES = ("crm", "loyalty", "pos", "web")


def bronze_frame(spark, rows: list[dict], batch_date: str = "2026-03-01"):
    """A bronze-shaped frame from inline rows (all text), with lineage columns."""
    columns = sorted({k for r in rows for k in r})
    data = [
        tuple(r.get(c) for c in columns)
        + (
            f"/landing/x/{batch_date}/f.csv",
            "sha",
            dt.date.fromisoformat(batch_date),
            None,
            i + 1,
            None,
            None,
        )
        for i, r in enumerate(rows)
    ]
    schema = ", ".join(f"`{c}` string" for c in columns) + (
        ", _source_file string, _file_sha256 string, _batch_date date, _ingested_at timestamp,"
        " _row_number bigint, _malformed_reason string, _raw_record string"
    )
    return spark.createDataFrame(data, schema)


def test_crm_rows_are_standardised_with_issues_and_identities(spark):
    bronze = bronze_frame(
        spark,
        [
            {
                "crm_id": " C-1 ",
                "first_name": "ÅSA-BRITT",
                "last_name": "öberg",
                "email": " Asa.Oberg+news@Example.COM ",
                "phone": "070-123 45 67",
                "country": "se",
                "birth_date": "19850230",
                "consent_email": "Y",
                "consent_sms": "maybe",
                "consent_updated_at": "2026-02-01T10:00:00+01:00",
                "loyalty_id": "L9",
                "shoe_size": "39",
            },
            {"crm_id": "  ", "first_name": "No key"},
            {"crm_id": "C-2", "email": "not-an-email", "updated_at": "2026-01-05 08:00"},
            {"crm_id": "C-2", "email": "second@x.org", "updated_at": "2026-01-06 08:00"},
        ],
    )
    records, quarantine = standardise_crm(bronze, StandardiseSettings())
    got = {r["record_id"]: r for r in records.collect()}
    asa = got["crm:C-1"]
    assert asa["first_name"] == "Åsa-Britt"
    assert asa["last_name_key"] == "oberg"
    assert asa["email"] == "asa.oberg+news@example.com"
    assert asa["email_key"] == "asa.oberg@example.com"
    assert asa["phone"] == "+46701234567"
    assert asa["country"] == "SE"
    assert asa["birth_date"] is None
    assert "birth_date:invalid_date" in asa["issues"]
    assert "consent_sms:invalid_consent" in asa["issues"]
    assert (asa["consent_email"], asa["consent_sms"]) == ("granted", "unknown")
    assert asa["consent_updated_at"] == dt.datetime(2026, 2, 1, 9, 0)
    assert asa["extra"] == {"shoe_size": "39"}
    assert {(i["namespace"], i["value"]) for i in asa["identities"]} == {
        ("crm_id", "C-1"),
        ("loyalty_id", "L9"),
        ("email", "asa.oberg@example.com"),
        ("phone", "+46701234567"),
    }
    # The later row of a repeated key wins; the earlier one is quarantined, not dropped.
    assert got["crm:C-2"]["email"] == "second@x.org"
    reasons = sorted(r["reason_code"] for r in quarantine.collect())
    assert reasons == ["duplicate_key", "missing_key"]
    assert records.count() + quarantine.count() == bronze.count()


def test_placeholder_birth_dates_are_unknown_not_a_birthday(spark):
    bronze = bronze_frame(
        spark,
        [
            {"crm_id": "C-1", "birth_date": "1900-01-01"},
            {"crm_id": "C-2", "birth_date": "19000101"},
            {"crm_id": "C-3", "birth_date": "1961-05-02"},
            {"crm_id": "C-4", "birth_date": "1904-01-01"},
        ],
    )
    records, _ = standardise_crm(bronze, StandardiseSettings())
    got = {r["record_id"]: r for r in records.collect()}
    for key in ("crm:C-1", "crm:C-2", "crm:C-4"):
        assert got[key]["birth_date"] is None
        assert "birth_date:placeholder_date" in got[key]["issues"]
    assert got["crm:C-3"]["birth_date"] == dt.date(1961, 5, 2)
    assert not got["crm:C-3"]["issues"]


def test_consent_events_one_per_purpose_asked(spark):
    bronze = bronze_frame(
        spark, [{"crm_id": "c1", "consent_email": "n", "updated_at": "2026-01-01"}]
    )
    records, _ = standardise_crm(bronze, StandardiseSettings())
    events = {r["purpose"]: r for r in consent_events(records).collect()}
    assert set(events) == {"email", "sms", "personalization", "ad_sharing"}
    assert events["email"]["value"] == "denied"
    assert events["sms"]["value"] == "unknown"
    # No capture time given: the record's own time stands in.
    assert events["email"]["captured_at"] == dt.datetime(2026, 1, 1)


def test_pos_lines_have_signed_amounts(spark):
    bronze = bronze_frame(
        spark,
        [
            {
                "transaction_id": "t1",
                "line_no": "1",
                "quantity": "2",
                "unit_price": "9.95",
                "card_token": "tok1",
            },
            {"transaction_id": "t1", "line_no": "2", "quantity": "-1", "unit_price": "5,50"},
            {"transaction_id": "t1", "line_no": "3", "quantity": "two", "unit_price": "1"},
            {"transaction_id": "", "line_no": "1", "quantity": "1", "unit_price": "1"},
        ],
    )
    lines, quarantine = standardise_pos(bronze)
    got = {r["line_no"]: r for r in lines.collect()}
    assert str(got[1]["amount"]) == "19.90"
    assert str(got[2]["amount"]) == "-5.50" and got[2]["is_return"]
    assert got[3]["quantity"] is None and "quantity:invalid_number" in got[3]["issues"]
    assert [r["reason_code"] for r in quarantine.collect()] == ["missing_key"]


def test_web_events_and_their_purchases(spark):
    bronze = bronze_frame(
        spark,
        [
            {
                "event_id": "e1",
                "event_ts": "2026-03-01T10:00:00Z",
                "event_type": "Purchase",
                "anonymous_id": "cookie-1",
                "user_id": "C-1",
                "email": "Bo@X.se",
                "order_id": "W1",
                "revenue": "99.5",
                "currency": "sek",
            },
            {
                "event_id": "e2",
                "event_ts": "yesterday",
                "event_type": "page_view",
                "device_id": "d1",
            },
            {"event_id": "", "event_type": "page_view"},
        ],
    )
    events, quarantine = standardise_web(bronze)
    got = {r["event_id"]: r for r in events.collect()}
    assert got["e1"]["event_ts"] == dt.datetime(2026, 3, 1, 10, 0)
    assert {(i["namespace"], i["value"]) for i in got["e1"]["identities"]} == {
        ("anonymous_id", "cookie-1"),
        ("crm_id", "C-1"),
        ("email", "bo@x.se"),
    }
    assert got["e2"]["event_ts"] is None and got["e2"]["issues"] == ["event_ts:invalid_timestamp"]
    assert [r["reason_code"] for r in quarantine.collect()] == ["missing_key"]
    (line,) = web_purchase_lines(events).collect()
    assert (line["line_id"], line["order_id"], str(line["amount"]), line["currency"]) == (
        "web:W1:e1",
        "W1",
        "99.50",
        "SEK",
    )
    assert line["channel"] == "web" and line["crm_id"] == "C-1"


def test_a_key_repeats_within_a_batch_not_across_batch_dates(spark):
    """Several batch dates at once (a backfill): each date is its own batch."""
    day1 = bronze_frame(spark, [{"crm_id": "c1", "email": "old@x.se"}], "2026-03-01")
    day2 = bronze_frame(
        spark,
        [{"crm_id": "c1", "email": "a@x.se"}, {"crm_id": "c1", "email": "b@x.se"}],
        "2026-03-02",
    )
    records, quarantine = standardise_crm(day1.unionByName(day2), StandardiseSettings())
    got = sorted((r["batch_date"].isoformat(), r["email"]) for r in records.collect())
    assert got == [("2026-03-01", "old@x.se"), ("2026-03-02", "b@x.se")]
    (dup,) = quarantine.collect()
    assert (dup["batch_date"].isoformat(), dup["reason_code"]) == ("2026-03-02", "duplicate_key")


# --------------------------------------------------------------------------- on generated data


def _keys(df):
    return df.select("file_sha256", "row_number")


@pytest.mark.parametrize("source", SOURCES)
def test_every_bronze_row_lands_in_exactly_one_of_silver_or_quarantine(spark, built, source):
    settings, _ = built
    wh = settings.paths.warehouse
    bronze = catalog.read(spark, f"bronze.{source}", wh).select(
        F.col("_file_sha256").alias("file_sha256"), F.col("_row_number").alias("row_number")
    )
    primary = catalog.read(spark, PRIMARY_TABLE[source], wh)
    if "source" in primary.columns:
        primary = primary.where(F.col("source") == source)
    quarantined = catalog.read(spark, "silver.quarantine", wh).where(F.col("source") == source)
    landed = _keys(primary).unionAll(_keys(quarantined))
    n_bronze = bronze.count()
    assert n_bronze > 0
    # Same count, no row twice, and the same set of rows.
    assert landed.count() == n_bronze
    assert landed.groupBy("file_sha256", "row_number").count().where("count > 1").count() == 0
    assert landed.join(bronze, ["file_sha256", "row_number"], "left_anti").count() == 0
    reasons = {r[0] for r in quarantined.select("reason_code").distinct().collect()}
    assert reasons <= set(QUARANTINE_REASONS)


def test_consecutive_dates_accumulate(spark, built):
    settings, results = built
    wh = settings.paths.warehouse
    dates = batch_dates()
    assert [r.batch_date for r in results] == dates

    def days(table: str, column: str = "batch_date") -> set[str]:
        df = catalog.read(spark, table, wh).select(column).distinct()
        return {r[0].isoformat() for r in df.collect()}

    assert days("bronze.pos", "_batch_date") == set(dates)
    assert days("bronze.file_log") == set(dates)
    # Each date's bronze rows reached silver, and earlier dates were kept.
    assert days("silver.commerce_lines") == days("bronze.pos", "_batch_date")
    assert days("silver.experience_events") == days("bronze.web", "_batch_date")
    assert days("silver.person_records") == days("bronze.crm", "_batch_date") | days(
        "bronze.loyalty", "_batch_date"
    )


def test_silver_rows_carry_identities_and_lineage(spark, built):
    settings, _ = built
    wh = settings.paths.warehouse
    people = catalog.read(spark, "silver.person_records", wh)
    no_key_identity = people.where(
        ~F.exists("identities", lambda i: i["namespace"].isin("crm_id", "loyalty_id"))
    )
    assert no_key_identity.count() == 0
    assert people.where(F.col("source_file").isNull() | F.col("row_number").isNull()).count() == 0
    phones = [r[0] for r in people.where("phone is not null").select("phone").limit(50).collect()]
    assert phones and all(p.startswith("+") and p[1:].isdigit() for p in phones)
    web_sales = catalog.read(spark, "silver.commerce_lines", wh).where("source = 'web'")
    events = catalog.read(spark, "silver.experience_events", wh)
    purchases = events.where("event_type = 'purchase' and order_id is not null")
    assert web_sales.count() == purchases.count()


def test_published_silver_columns_have_comments(spark, built):
    for name, schema in SCHEMAS.items():
        described = {
            r["col_name"]: r["comment"] for r in spark.sql(f"DESCRIBE TABLE {name}").collect()
        }
        for field in schema.fields:
            assert described.get(field.name) == field.description, (name, field.name)
