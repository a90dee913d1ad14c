"""Data-usage labels and their enforcement: features, exports, analysts' masked SQL, the keyed
hash, and purpose-bound processing of behaviour in gold.profiles."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyspark.sql import functions as F

from cdp.core.settings import GovernanceSettings, ProfileSettings
from jobs.governance.keys import (
    key_path,
    keyed_hash,
    keyed_hash_col,
    keyed_hash_sql,
    subject_key,
)
from jobs.governance.masking import RAW_TABLES, masked, masking_key
from jobs.governance.usage import export_columns, feature_columns
from jobs.profiles.profiles import build_profiles
from jobs.profiles.purchases import purchases
from jobs.profiles.rfm import rfm
from schemas.audit import AUDIT_SCHEMAS
from schemas.fields import (
    IDENTIFYING_DIRECT,
    IDENTIFYING_INDIRECT,
    NO_DATA_SCIENCE,
    NO_THIRD_PARTY_EXPORT,
    SENSITIVE,
)
from schemas.gold import GOLD_SCHEMAS, PROFILE
from schemas.xdm import SCHEMAS as SILVER_SCHEMAS
from tests.test_cli import cdp

T = dt.datetime
D = dt.date
HEX64 = re.compile(r"^[0-9a-f]{64}$")

# --------------------------------------------------------------------------- labels

# What a column's name says it holds. Direct identifiers name a person on their own; indirect
# ones in combination; a birth date is also sensitive. Provenance "<attribute>_record_id"
# columns carry a CRM or loyalty id inside the record id.
DIRECT = {
    "first_name",
    "extra",  # undescribed landed columns may hold anything
    "last_name",
    "first_name_key",
    "last_name_key",
    "email",
    "email_key",
    "phone",
    "street",
    "identities",
    "identifier",
    "raw_record",
}
INDIRECT = {
    "postal_code",
    "city",
    "region",
    "source_key",
    "crm_id",
    "crm_ids",
    "loyalty_id",
    "loyalty_ids",
    "anonymous_id",
    "device_id",
    "card_token",
    "ip",
    "birth_date",
}
# Record ids ('crm:<crm_id>') embed an indirect identifier, so they are labelled like one.
KNOWN_LABELS = {
    IDENTIFYING_DIRECT,
    IDENTIFYING_INDIRECT,
    SENSITIVE,
    NO_THIRD_PARTY_EXPORT,
    NO_DATA_SCIENCE,
}
ALL_SCHEMAS = [*SILVER_SCHEMAS.values(), *GOLD_SCHEMAS.values(), *AUDIT_SCHEMAS.values()]


@pytest.mark.parametrize("schema", ALL_SCHEMAS, ids=lambda s: s.name)
def test_every_field_is_labelled_as_its_name_says(schema):
    for f in schema.fields:
        where = f"{schema.name}.{f.name}: {sorted(f.labels)}"
        assert f.labels <= KNOWN_LABELS, where
        if f.name in DIRECT:
            assert IDENTIFYING_DIRECT in f.labels, where
        elif f.name in INDIRECT or f.name.endswith("record_id"):
            assert IDENTIFYING_INDIRECT in f.labels, where
        else:
            assert not f.labels & {IDENTIFYING_DIRECT, IDENTIFYING_INDIRECT}, where
        if f.name == "birth_date":
            assert SENSITIVE in f.labels, where
        # Identifiers never leave for third parties; direct ones never feed models either.
        if IDENTIFYING_DIRECT in f.labels or SENSITIVE in f.labels:
            assert {NO_DATA_SCIENCE, NO_THIRD_PARTY_EXPORT} <= f.labels, where
        if IDENTIFYING_INDIRECT in f.labels:
            assert NO_THIRD_PARTY_EXPORT in f.labels, where


def test_features_leave_out_no_data_science_fields():
    features = feature_columns("gold.profiles")
    assert not {"email", "first_name", "phone", "street", "birth_date"} & set(features)
    assert {"profile_id", "postal_code", "lifetime_revenue", "recency_days"} <= set(features)
    assert all(NO_DATA_SCIENCE not in PROFILE.field(c).labels for c in features)
    # Named columns keep their order; a derived feature no schema knows carries no label.
    assert feature_columns(PROFILE, ["email", "recency_days", "days_since_visit"]) == [
        "recency_days",
        "days_since_visit",
    ]
    # A landed column nobody described might hold anything: never a feature.
    assert feature_columns("bronze.crm", ["email", "favourite_colour"]) == []


def test_third_party_exports_leave_out_no_export_fields():
    shared = export_columns("gold.profiles", third_party=True)
    assert not {"email", "phone", "postal_code", "crm_ids", "birth_date", "email_record_id"} & set(
        shared
    )
    assert {"profile_id", "country", "rfm_segment", "consent_email"} <= set(shared)
    assert export_columns("gold.profiles", third_party=False) == PROFILE.names
    assert export_columns(PROFILE, ["email", "country"], third_party=True) == ["country"]


# --------------------------------------------------------------------------- keyed hash


@pytest.mark.slow  # many Spark jobs on inline data; not in make test-fast
@settings(max_examples=10, deadline=None)
@given(key=st.binary(min_size=1, max_size=100), texts=st.lists(st.text(), min_size=1, max_size=20))
def test_spark_keyed_hash_equals_python_hmac(spark, key, texts):
    df = spark.createDataFrame([(t,) for t in texts], "t string")
    got = df.select(
        keyed_hash_col(key, "t").alias("col"), F.expr(keyed_hash_sql(key, "`t`")).alias("sql")
    ).collect()
    expected = [keyed_hash(key, t) for t in texts]
    assert [r["col"] for r in got] == expected
    assert [r["sql"] for r in got] == expected


def test_subject_key_comes_from_settings_else_one_generated_file(spark, tmp_path):
    from tests.conftest import make_settings

    configured = make_settings(tmp_path / "l", tmp_path / "w1")
    configured.governance.subject_hash_key = "s3cret"
    assert subject_key(spark, configured) == b"s3cret"

    generated = make_settings(tmp_path / "l", tmp_path / "w2")
    first = subject_key(spark, generated)
    assert len(first) == 32
    assert key_path(generated) == f"{generated.paths.warehouse}/_keys/subject.key"
    assert (tmp_path / "w2" / "_keys" / "subject.key").is_file()
    # Created once: later runs (and other processes) hash with the same key.
    assert subject_key(spark, generated) == first


# --------------------------------------------------------------------------- masking


def test_masked_view_hashes_identifiers_and_redacts_the_rest(spark):
    key = b"k"
    profiles = spark.createDataFrame(
        [("p1", "ann@x.se", D(1980, 3, 14), ["c1", "c2"], "SE", 3, "??")],
        "profile_id string, email string, birth_date date, crm_ids array<string>,"
        " country string, web_events bigint, mystery string",
    )
    (row,) = masked(profiles, "gold.profiles", key).collect()
    assert row["email"] == keyed_hash(key, "ann@x.se")
    assert row["crm_ids"] == [keyed_hash(key, "c1"), keyed_hash(key, "c2")]
    assert row["birth_date"] is None
    assert (row["profile_id"], row["country"], row["web_events"]) == ("p1", "SE", 3)
    # A column the schema does not know is not trusted: masked like an identifier.
    assert row["mystery"] == keyed_hash(key, "??")

    events = spark.createDataFrame(
        [("crm:1", [("email", "ann@x.se"), ("phone", "+46701234567")])],
        "record_id string, identities array<struct<namespace:string,value:string>>",
    )
    (event,) = masked(events, "silver.consent_events", key).collect()
    assert [(i["namespace"], i["value"]) for i in event["identities"]] == [
        ("email", keyed_hash(key, "ann@x.se")),
        ("phone", keyed_hash(key, "+46701234567")),
    ]


def _sql(settings, query, full_access=False):
    env = {"CDP_GOVERNANCE__ANALYST_FULL_ACCESS": "true"} if full_access else {}
    result = cdp(
        "sql", query, "--warehouse", settings.paths.warehouse, "--format", "json", env_extra=env
    )
    return result, [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


QUERY = (
    "select (select count(*) from gold.profiles) as n, profile_id, email, birth_date"
    " from gold.profiles where email is not null order by profile_id limit 5"
)


def test_analysts_sql_sees_masked_tables_unless_granted_full_access(spark, built):
    from cdp.core import catalog

    settings, _ = built
    wh = settings.paths.warehouse
    catalog.register_all(spark, wh)
    raw = spark.sql(QUERY).collect()
    assert raw and all("@" in r["email"] for r in raw)

    result, masked_rows = _sql(settings, QUERY)
    assert result.returncode == 0, result.stderr
    # Derived from the key file `cdp sql` created in the warehouse, never that key itself.
    key = masking_key(spark, settings)
    assert key != subject_key(spark, settings)
    assert [r["profile_id"] for r in masked_rows] == [r["profile_id"] for r in raw]
    assert [r["email"] for r in masked_rows] == [keyed_hash(key, r["email"]) for r in raw]
    assert all(HEX64.match(r["email"]) and r["birth_date"] is None for r in masked_rows)
    assert masked_rows[0]["n"] == raw[0]["n"]
    assert "@" not in result.stdout

    result, full = _sql(settings, QUERY, full_access=True)
    assert result.returncode == 0, result.stderr
    assert [r["email"] for r in full] == [r["email"] for r in raw]

    # Raw tables are not registered for analysts: Spark's own one-line not-found error.
    assert "bronze.crm" in RAW_TABLES and "silver.identity_edges" in RAW_TABLES
    result, _ = _sql(settings, "select count(*) from silver.identity_edges")
    assert result.returncode == 2
    assert "cdp: error: SQL failed" in result.stderr and "Traceback" not in result.stderr


# --------------------------------------------------------------------------- purpose-bound


def _fill(spark, schema, rows):
    """Rows of ``schema`` from dicts; unnamed columns are null."""
    return spark.createDataFrame(
        [tuple(r.get(f.name) for f in schema.fields) for r in rows], schema.struct()
    )


def _profiles(spark, governance):
    """pA denied personalisation (CRM); pB granted it. Each browsed and bought in store; pA
    also bought online."""
    owners = {
        "crm:1": "pA",
        "crm:2": "pB",
        "web:e1": "pA",
        "web:e2": "pB",
        "web:e9": "pA",
        "pos:r1": "pA",
        "pos:r2": "pB",
    }
    record_profiles = spark.createDataFrame(
        [(r, r.split(":")[0], p) for r, p in owners.items()],
        "record_id string, source string, profile_id string",
    )
    identity_map = spark.createDataFrame(
        [("crm_id", "1", "pA", T(2026, 3, 1), T(2026, 3, 2)),
         ("crm_id", "2", "pB", T(2026, 3, 1), T(2026, 3, 2))],
        "namespace string, identifier string, profile_id string, first_seen timestamp,"
        " last_seen timestamp",
    )  # fmt: skip
    lineage = {"batch_date": D(2026, 3, 2)}
    consent = _fill(
        spark,
        SILVER_SCHEMAS["silver.consent_events"],
        [
            dict(record_id="crm:1", source="crm", purpose="personalization", value="denied",
                 captured_at=T(2026, 3, 1), **lineage),
            dict(record_id="crm:2", source="crm", purpose="personalization", value="granted",
                 captured_at=T(2026, 3, 1), **lineage),
        ],
    )  # fmt: skip
    events = _fill(
        spark,
        SILVER_SCHEMAS["silver.experience_events"],
        [
            dict(event_id="e1", event_ts=T(2026, 3, 1, 10), channel="web", **lineage),
            dict(event_id="e2", event_ts=T(2026, 3, 1, 11), channel="app", **lineage),
        ],
    )
    line = (
        "line_id string, source string, order_id string, line_no int, ordered_at timestamp,"
        " channel string, store_id string, category string, quantity int, amount decimal(18,2),"
        " currency string, batch_date date"
    )
    lines = spark.createDataFrame(
        [
            ("pos:r1:1", "pos", "r1", 1, T(2026, 3, 1), "store", "S1", "Toys", 1, Decimal("20.00"), "EUR", D(2026, 3, 1)),
            ("pos:r2:1", "pos", "r2", 1, T(2026, 3, 1), "store", "S1", "Home", 1, Decimal("30.00"), "EUR", D(2026, 3, 1)),
            ("web:o1:e9", "web", "o1", 1, T(2026, 3, 2), "web", None, "Toys", 1, Decimal("15.00"), "EUR", D(2026, 3, 2)),
        ],
        line,
    )  # fmt: skip
    p = ProfileSettings()
    orders = purchases(lines, record_profiles, p.fx_rates)
    scored = rfm(orders, D(2026, 3, 2), 0, p.rfm_segments)
    person_records = _fill(spark, SILVER_SCHEMAS["silver.person_records"], [])
    built = build_profiles(
        identity_map, record_profiles, person_records, events, lines, consent, orders, scored,
        p.survivorship, p.source_priority, p.fx_rates, D(2026, 3, 2), governance,
    )  # fmt: skip
    return {r["profile_id"]: r for r in built.collect()}


def test_web_behaviour_feeds_only_profiles_whose_personalisation_is_allowed(spark):
    got = _profiles(spark, GovernanceSettings())
    a, b = got["pA"], got["pB"]
    assert (a["consent_personalization"], a["is_personalization_allowed"]) == ("denied", False)
    assert (b["consent_personalization"], b["is_personalization_allowed"]) == ("granted", True)
    # pA: no web visits, no web order; the store receipt (analytics allowed) still counts.
    assert a["last_web_visit_at"] is None and a["web_events"] == 0
    assert a["channels"] == ["store"] and a["lifetime_orders"] == 1
    assert a["lifetime_revenue"] == Decimal("20.00")
    # RFM scores all of pA's purchases together, the web order too: withheld, not "No purchases".
    assert a["rfm_segment"] is None and a["r_score"] is None
    # pB: everything.
    assert b["last_app_visit_at"] == T(2026, 3, 1, 11) and b["web_events"] == 1
    assert b["channels"] == ["app", "store"] and b["rfm_segment"] is not None


@pytest.mark.slow  # many Spark jobs on inline data; not in make test-fast
def test_purpose_rules_come_from_settings(spark):
    # No rules: pA's web behaviour and order feed the profile again.
    free = _profiles(spark, GovernanceSettings(source_purposes={}))["pA"]
    assert free["web_events"] == 1 and free["lifetime_orders"] == 2
    assert free["channels"] == ["store", "web"] and free["rfm_segment"] is not None
    # Analytics under consent: unknown is not granted, so store receipts feed nobody.
    strict = dataclasses.replace(
        GovernanceSettings(),
        lawful_basis={**GovernanceSettings().lawful_basis, "analytics": "consent"},
    )
    got = _profiles(spark, strict)
    assert got["pB"]["is_analytics_allowed"] is False
    assert got["pB"]["lifetime_orders"] == 0 and got["pB"]["channels"] == ["app"]
    assert got["pB"]["rfm_segment"] is None
