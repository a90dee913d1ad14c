"""Profiles: survivorship, consent, RFM against an independent computation, merge accounting."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import pandas as pd
import pytest
from pyspark.sql import functions as F

from cdp.core import catalog
from cdp.core.settings import ProfileSettings
from jobs.profiles.golden import golden_attributes, latest_consent, survive
from jobs.profiles.profiles import build_profiles
from jobs.profiles.purchases import purchases
from jobs.profiles.rfm import rfm
from schemas.xdm import SCHEMAS

T = dt.datetime
D = dt.date
CANDIDATE = (
    "profile_id string, source string, record_id string, ts timestamp, first_name string,"
    " last_name string, email string, phone string, street string, postal_code string,"
    " city string, region string, country string, birth_date date"
)


def candidates(spark, rows):
    """Candidate rows from dicts; unnamed attributes are empty."""
    cols = [c.split()[0] for c in CANDIDATE.split(",")]
    return spark.createDataFrame([tuple(r.get(c) for c in cols) for r in rows], CANDIDATE)


ANN = [
    # The CRM knows her as Ann Berg, born 1980-03-14; loyalty spells the name differently
    # and was updated later; her old address is in the CRM, the new one in loyalty.
    dict(profile_id="p1", source="crm", record_id="crm:1", ts=T(2026, 1, 1),
         first_name="Ann", last_name="Berg", email="ann@old.se", street="Gamla 1",
         postal_code="11111", city="Stockholm", country="SE", birth_date=D(1980, 3, 14)),
    dict(profile_id="p1", source="loyalty", record_id="loyalty:9", ts=T(2026, 3, 1),
         first_name="Anne", last_name="Berg", email="ann@new.se", street="Nya 2",
         postal_code="22222", city="Uppsala", birth_date=D(1980, 3, 14)),
    dict(profile_id="p1", source="loyalty", record_id="loyalty:8", ts=T(2026, 2, 1),
         first_name="Anna", last_name="Berg", birth_date=D(1980, 4, 13)),
    # The newest record has no address at all: it must not blank the golden address.
    dict(profile_id="p1", source="web", record_id="web:e1", ts=T(2026, 4, 1), email="ann@web.se"),
]  # fmt: skip


def test_survivorship_rules_pick_the_documented_winner(spark):
    c = candidates(spark, ANN)
    priority = ("crm", "loyalty", "web")

    def pick(attribute, rule):
        (row,) = survive(c, attribute, rule, priority).collect()
        return row

    assert pick("name", "source_priority")["first_name"] == "Ann"
    assert pick("name", "most_recent")["first_name"] == "Anne"
    assert pick("name", "oldest")["first_name"] == "Ann"
    assert pick("email", "most_recent")["email"] == "ann@web.se"
    assert pick("email", "source_priority")["email"] == "ann@old.se"
    # Two records agree on 1980-03-14, one says 1980-04-13.
    assert pick("birth_date", "most_frequent")["birth_date"] == D(1980, 3, 14)
    # The address comes whole from one record, never stitched from two.
    address = pick("address", "most_recent")
    assert (address["street"], address["postal_code"], address["city"], address["country"]) == (
        "Nya 2",
        "22222",
        "Uppsala",
        None,
    )
    assert (address["address_source"], address["address_record_id"]) == ("loyalty", "loyalty:9")
    assert address["address_updated_at"] == T(2026, 3, 1)
    with pytest.raises(ValueError, match="unknown survivorship rule"):
        survive(c, "name", "newest_please", priority)


def test_golden_attributes_follow_the_configured_rules(spark):
    rules = {"name": "source_priority", "email": "most_recent", "birth_date": "most_frequent"}
    (row,) = golden_attributes(candidates(spark, ANN), rules, ("loyalty", "crm")).collect()
    # Loyalty first: of its two records the most recent.
    assert (row["first_name"], row["name_source"]) == ("Anne", "loyalty")
    assert row["email"] == "ann@web.se"
    assert row["phone"] is None and row["phone_source"] is None


def test_latest_consent_wins_and_a_tie_takes_the_protective_value(spark):
    consent = spark.createDataFrame(
        [
            ("p1", "email", "granted", T(2026, 1, 1), "crm"),
            ("p1", "email", "denied", T(2026, 2, 1), "loyalty"),
            ("p1", "sms", "granted", T(2026, 3, 1), "crm"),
            ("p1", "sms", "denied", T(2026, 3, 1), "loyalty"),
            ("p2", "email", "granted", T(2026, 1, 1), "crm"),
            ("p2", "email", "unknown", T(2026, 5, 1), "loyalty"),
        ],
        "profile_id string, purpose string, value string, captured_at timestamp, source string",
    )
    got = {
        r["profile_id"]: r
        for r in latest_consent(consent, ("email", "sms", "ad_sharing")).collect()
    }
    assert (got["p1"]["consent_email"], got["p1"]["consent_email_source"]) == ("denied", "loyalty")
    assert got["p1"]["consent_sms"] == "denied"
    # A later capture of "unknown" is never read as the earlier "granted".
    assert got["p2"]["consent_email"] == "unknown"
    assert (
        got["p1"]["consent_ad_sharing"] == "unknown" and got["p1"]["consent_ad_sharing_at"] is None
    )


def _independent_rfm(lines: pd.DataFrame, owners: dict, rates: dict, as_of: D) -> pd.DataFrame:
    """RFM straight from the contract's words, in pandas, from silver commerce lines."""
    lines = lines.copy()
    lines["record"] = [
        f"pos:{o}" if s == "pos" else f"web:{lid.split(':')[-1]}"
        for s, o, lid in zip(lines.source, lines.order_id, lines.line_id, strict=True)
    ]
    lines["profile"] = lines.record.map(owners)
    lines = lines[lines.profile.notna()]
    lines["order"] = lines.source + ":" + lines.order_id
    orders = lines.groupby(["profile", "order"]).agg(
        day=("ordered_at", lambda s: s.min().date()),
        bought=("quantity", lambda q: (q > 0).any()),
        amount=("amount", lambda a: sum(a, Decimal(0))),
        currency=("currency", "first"),
    )
    # Each order in the reporting currency, rounded half up to the cent (as Spark casts).
    orders["eur"] = [
        Decimal(repr(float(a) / rates[c])).quantize(Decimal("0.01"), ROUND_HALF_UP)
        for a, c in zip(orders.amount, orders.currency, strict=True)
    ]
    out = {}
    for profile, g in orders.groupby(level=0):
        purchases_ = g[g.bought]
        if purchases_.empty:
            continue
        out[profile] = {
            "recency_days": (as_of - purchases_.day.max()).days,
            "frequency": len(purchases_),
            "monetary": sum(g.eur, Decimal(0)),
        }
    frame = pd.DataFrame.from_dict(out, orient="index")

    def score(values: pd.Series, higher_is_better: bool) -> pd.Series:
        worse = [((values < v) if higher_is_better else (values > v)).sum() for v in values]
        n = len(values)
        scores = [min(5, 1 + int(5 * (w / (n - 1)))) if n > 1 else 1 for w in worse]
        return pd.Series(scores, values.index)

    frame["r_score"] = score(frame.recency_days, higher_is_better=False)
    frame["f_score"] = score(frame.frequency, higher_is_better=True)
    frame["m_score"] = score(frame.monetary, higher_is_better=True)
    return frame


def test_rfm_equals_an_independent_computation_on_generated_data(spark, built):
    settings, results = built
    wh = settings.paths.warehouse
    as_of = D.fromisoformat(results[-1].batch_date)
    lines = catalog.read(spark, "silver.commerce_lines", wh).toPandas()
    owners = {
        r["record_id"]: r["profile_id"]
        for r in catalog.read(spark, "gold.record_profiles", wh).collect()
    }
    expected = _independent_rfm(lines, owners, settings.profiles.fx_rates, as_of)
    got = catalog.read(spark, "gold.rfm", wh).toPandas().set_index("profile_id")
    assert len(expected) >= 5, "the generated data has buyers"
    assert expected.m_score.nunique() >= 3, "scores spread over the range"
    assert set(got.index) == set(expected.index)
    for column in ("recency_days", "frequency", "r_score", "f_score", "m_score"):
        assert (got[column].astype(int) == expected.loc[got.index, column]).all(), column
    assert (got.monetary == expected.loc[got.index, "monetary"]).all()
    assert set(got.rfm_segment) <= {s[0] for s in settings.profiles.rfm_segments} | {"Other"}


def test_profiles_cover_every_identity_and_count_each_order_once(spark, built):
    settings, _ = built
    wh = settings.paths.warehouse
    profiles = catalog.read(spark, "gold.profiles", wh)
    identity = catalog.read(spark, "gold.identity_map", wh)
    assert profiles.count() == profiles.select("profile_id").distinct().count()
    assert (
        identity.select("profile_id").distinct().join(profiles, "profile_id", "left_anti").count()
        == 0
    )
    orders = catalog.read(spark, "gold.purchases", wh).where(F.col("profile_id").isNotNull())
    total = orders.agg(F.sum("amount_reporting")).first()[0]
    assert profiles.agg(F.sum("lifetime_revenue")).first()[0] == total
    assert profiles.where("is_anonymous").count() > 0
    assert profiles.where("not is_anonymous and first_name is not null").count() > 0
    # Column comments reach the catalog (analysts read them with DESCRIBE).
    described = {r["col_name"]: r["comment"] for r in spark.sql("DESCRIBE gold.profiles").collect()}
    assert described["recency_days"].startswith("Days from the last purchase")


@pytest.mark.slow  # many Spark jobs on inline data; not in make test-fast
def test_a_merge_moves_history_to_the_survivor_and_counts_it_once(spark):
    """Night 1: Ann's CRM and loyalty records are two profiles with a receipt each. Night 2:
    they are linked and share one profile: her revenue is both receipts, once."""
    line = (
        "line_id string, source string, order_id string, line_no int, ordered_at timestamp,"
        " channel string, store_id string, category string, quantity int, amount decimal(18,2),"
        " currency string, batch_date date"
    )
    lines = spark.createDataFrame(
        [
            ("pos:r1:1", "pos", "r1", 1, T(2026, 3, 1), "store", "S1", "Toys", 2, Decimal("20.00"), "EUR", D(2026, 3, 1)),
            ("pos:r2:1", "pos", "r2", 1, T(2026, 3, 2), "store", "S1", "Home", 1, Decimal("11.20"), "SEK", D(2026, 3, 2)),
        ],
        line,
    )  # fmt: skip
    rates = ProfileSettings().fx_rates
    settings = ProfileSettings()

    def night(owners: dict[str, str]):
        record_profiles = spark.createDataFrame(
            [(r, r.split(":")[0], p) for r, p in owners.items()],
            "record_id string, source string, profile_id string",
        )
        identity_map = spark.createDataFrame(
            [("crm_id", "1", owners["crm:1"]), ("loyalty_id", "9", owners["loyalty:9"])],
            "namespace string, identifier string, profile_id string",
        ).select(
            "*", F.lit(T(2026, 3, 1)).alias("first_seen"), F.lit(T(2026, 3, 2)).alias("last_seen")
        )
        orders = purchases(lines, record_profiles, rates)
        scored = rfm(orders, D(2026, 3, 3), 0, settings.rfm_segments)
        empty = {
            t: spark.createDataFrame([], SCHEMAS[t].struct())
            for t in ("silver.person_records", "silver.experience_events", "silver.consent_events")
        }
        built = build_profiles(
            identity_map, record_profiles, empty["silver.person_records"],
            empty["silver.experience_events"], lines, empty["silver.consent_events"], orders,
            scored, settings.survivorship, settings.source_priority, rates, D(2026, 3, 3),
        )  # fmt: skip
        return {r["profile_id"]: r for r in built.collect()}

    first = night({"crm:1": "pA", "loyalty:9": "pB", "pos:r1": "pA", "pos:r2": "pB"})
    assert first["pA"]["lifetime_revenue"] == Decimal("20.00")
    assert first["pB"]["lifetime_revenue"] == Decimal("1.00")
    # Night 2: pB merged into pA (the older id survives); every record now belongs to pA.
    second = night({"crm:1": "pA", "loyalty:9": "pA", "pos:r1": "pA", "pos:r2": "pA"})
    assert set(second) == {"pA"}
    assert second["pA"]["lifetime_revenue"] == Decimal("21.00")
    assert (second["pA"]["frequency"], second["pA"]["lifetime_orders"]) == (2, 2)
    assert second["pA"]["channels"] == ["store"]
