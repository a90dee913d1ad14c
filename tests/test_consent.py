"""Consent per purpose: merging against a plain-Python reference, the allow rule, the history.

The merge is checked the splink way, against an independent reference on random inputs:
hypothesis draws whole histories (records from several sources, captures with tied and
missing times, profiles merging), and one Spark job per example merges many such worlds.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdp.core import catalog
from cdp.core.settings import GovernanceSettings
from jobs.governance.consent import consent_changes, consent_history, run_consent_history
from jobs.governance.purposes import allowed_col, is_allowed
from jobs.profiles.profiles import profile_consents
from schemas.xdm import CONSENT_VALUES, LAWFUL_BASES, PURPOSES

T = dt.datetime
D = dt.date
# Most protective first: on a tie of capture times the earlier one here wins.
STRICTNESS = {"denied": 0, "unknown": 1, "granted": 2}
SOURCES = ("crm", "loyalty", "web")
# Few distinct times, so ties across sources are common.
TIMES = [T(2026, 1, 1), T(2026, 1, 1, 12), T(2026, 2, 1), T(2026, 3, 1)]
CAPTURE = "record_id string, source string, purpose string, value string, captured_at timestamp"


# --------------------------------------------------------------------------- reference


def reference(captures: list[tuple[str, dt.datetime | None]]) -> tuple[str, dt.datetime | None]:
    """The consent a profile holds for one purpose, straight from the rule's words: the latest
    capture wins; a capture without a time loses to any timed one; on a tie the most
    protective value wins; never captured is unknown."""
    if not captures:
        return "unknown", None
    timed = [c for c in captures if c[1] is not None]
    if timed:
        latest = max(at for _, at in timed)
        tied = [v for v, at in timed if at == latest]
        return min(tied, key=STRICTNESS.__getitem__), latest
    return min((v for v, _ in captures), key=STRICTNESS.__getitem__), None


def merged_owner(records: int, merges: list[tuple[int, int]]) -> dict[int, int]:
    """Each record's profile after the merges (the surviving profile keeps the smaller id),
    starting from one profile per record."""
    parent = list(range(records))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in merges:
        ra, rb = find(a % records), find(b % records)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {r: find(r) for r in range(records)}


@st.composite
def world(draw):
    """One small history: records from several sources, their captures, the merges."""
    records = draw(st.integers(min_value=1, max_value=6))
    sources = draw(st.lists(st.sampled_from(SOURCES), min_size=records, max_size=records))
    captures = draw(
        st.lists(
            st.tuples(
                st.integers(0, records - 1),
                st.sampled_from(PURPOSES),
                st.sampled_from(CONSENT_VALUES),
                st.one_of(st.none(), st.sampled_from(TIMES)),
            ),
            max_size=12,
        )
    )
    merges = draw(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), max_size=4))
    return sources, captures, merges


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@pytest.mark.slow  # many Spark jobs on inline data; not in make test-fast
@given(worlds=st.lists(world(), min_size=1, max_size=8))
def test_merged_consent_is_the_latest_capture_per_purpose(spark, worlds):
    events, owners, expected, captured = [], [], {}, {}
    for w, (sources, captures, merges) in enumerate(worlds):
        owner = merged_owner(len(sources), merges)
        for r, source in enumerate(sources):
            owners.append((f"{source}:{w}.{r}", source, f"w{w}p{owner[r]}"))
        for r, purpose, value, at in captures:
            events.append((f"{sources[r]}:{w}.{r}", sources[r], purpose, value, at))
            key = (f"w{w}p{owner[r]}", purpose)
            captured.setdefault(key, []).append((value, at))
        for profile in {f"w{w}p{p}" for p in owner.values()}:
            for purpose in PURPOSES:
                expected[(profile, purpose)] = reference(captured.get((profile, purpose), []))

    record_profiles = spark.createDataFrame(
        owners, "record_id string, source string, profile_id string"
    )
    profile_ids = record_profiles.select("profile_id").distinct()
    got = profile_consents(
        profile_ids,
        spark.createDataFrame(events, CAPTURE),
        record_profiles,
        GovernanceSettings().lawful_basis,
    ).collect()

    assert len(got) == len({p for p, _ in expected})
    for row in got:
        for purpose in PURPOSES:
            value, at = expected[(row["profile_id"], purpose)]
            assert (row[f"consent_{purpose}"], row[f"consent_{purpose}_at"]) == (value, at), (
                row["profile_id"],
                purpose,
            )
            # Unknown (or anything short of a granted capture) never turns into granted.
            if value == "granted":
                assert ("granted", at) in captured[(row["profile_id"], purpose)]
            assert row[f"is_{purpose}_allowed"] == is_allowed(
                value, row[f"consent_{purpose}_basis"]
            )


# --------------------------------------------------------------------------- allow rule


@pytest.mark.parametrize("basis", LAWFUL_BASES)
def test_allow_rule_consent_needs_granted_other_bases_need_no_objection(spark, basis):
    rows = spark.createDataFrame([(v,) for v in (*CONSENT_VALUES, None)], "value string")
    got = {
        r["value"]: r["ok"]
        for r in rows.select("value", allowed_col("value", basis).alias("ok")).collect()
    }
    for value, ok in got.items():
        assert ok == is_allowed(value, basis)
    if basis == "consent":
        assert got == {"granted": True, "denied": False, "unknown": False, None: False}
    else:
        assert got == {"granted": True, "denied": False, "unknown": True, None: True}


def test_analytics_stays_unknown_until_captured_and_takes_its_basis_from_settings(spark):
    record_profiles = spark.createDataFrame(
        [("crm:1", "crm", "p1")], "record_id string, source string, profile_id string"
    )
    events = spark.createDataFrame([("crm:1", "crm", "email", "granted", T(2026, 1, 1))], CAPTURE)
    basis = {**GovernanceSettings().lawful_basis, "analytics": "consent", "email": "contract"}
    (row,) = profile_consents(
        record_profiles.select("profile_id"), events, record_profiles, basis
    ).collect()
    assert row["consent_analytics"] == "unknown" and row["consent_analytics_source"] is None
    assert row["consent_analytics_basis"] == "consent" and row["is_analytics_allowed"] is False
    assert (row["consent_email"], row["consent_email_record_id"]) == ("granted", "crm:1")
    assert row["consent_email_basis"] == "contract" and row["is_email_allowed"] is True


# --------------------------------------------------------------------------- history


def tonight(spark, captures, basis=None):
    """Profile consents (as in gold.profiles) from (record, purpose, value, time) captures."""
    record_profiles = spark.createDataFrame(
        [("crm:1", "crm", "p1"), ("loyalty:1", "loyalty", "p1"), ("crm:2", "crm", "p2")],
        "record_id string, source string, profile_id string",
    )
    events = spark.createDataFrame(
        [(r, r.split(":")[0], p, v, at) for r, p, v, at in captures], CAPTURE
    )
    return profile_consents(
        record_profiles.select("profile_id").distinct(),
        events,
        record_profiles,
        basis or GovernanceSettings().lawful_basis,
    )


def published(df):
    """``df`` computed once, as the published table it stands for (no growing lineage)."""
    return df.sparkSession.createDataFrame(df.collect(), df.schema)


def rows(df):
    """History rows as (profile, purpose, previous value, value, batch date), sorted."""
    return sorted(
        (
            (r["profile_id"], r["purpose"], r["previous_value"], r["value"], str(r["batch_date"]))
            for r in df.collect()
        ),
        key=lambda r: (r[0], r[1], r[4]),
    )


def test_history_appends_changes_only_and_a_rerun_does_not_double(spark):
    night1 = [
        ("crm:1", "email", "granted", T(2026, 1, 1)),
        ("crm:2", "sms", "denied", T(2026, 1, 1)),
    ]
    h1 = published(consent_history(tonight(spark, night1), None, D(2026, 1, 1)))
    # Captured purposes only: a purpose never captured is no change.
    assert rows(h1) == [
        ("p1", "email", None, "granted", "2026-01-01"),
        ("p2", "sms", None, "denied", "2026-01-01"),
    ]
    # Night 2: nothing changed -> nothing appended.
    h2 = published(consent_history(tonight(spark, night1), h1, D(2026, 1, 2)))
    assert rows(h2) == rows(h1)
    # Night 3: loyalty captures a later denial for p1's email: one row, previous granted.
    night3 = [*night1, ("loyalty:1", "email", "denied", T(2026, 1, 3))]
    h3 = published(consent_history(tonight(spark, night3), h2, D(2026, 1, 3)))
    assert rows(h3) == [
        *rows(h2)[:1],
        ("p1", "email", "granted", "denied", "2026-01-03"),
        rows(h2)[1],
    ]
    (change,) = h3.where("batch_date = '2026-01-03'").collect()
    assert (change["source"], change["record_id"]) == ("loyalty", "loyalty:1")
    assert change["captured_at"] == T(2026, 1, 3) and change["is_allowed"] is False
    assert change["lawful_basis"] == "consent"
    # Re-running night 3 over a history that already holds it replaces, never doubles.
    again = consent_history(tonight(spark, night3), h3, D(2026, 1, 3))
    assert rows(again) == rows(h3)


def test_a_lawful_basis_change_is_recorded(spark):
    night = [("crm:1", "personalization", "unknown", T(2026, 1, 1))]
    h1 = published(consent_history(tonight(spark, night), None, D(2026, 1, 1)))
    assert [(r["value"], r["lawful_basis"]) for r in h1.collect()] == [
        ("unknown", "legitimate_interest")
    ]
    basis = {**GovernanceSettings().lawful_basis, "personalization": "consent"}
    changes = consent_changes(tonight(spark, night, basis), h1, D(2026, 1, 2)).collect()
    assert [
        (r["previous_value"], r["value"], r["lawful_basis"], r["is_allowed"]) for r in changes
    ] == [("unknown", "unknown", "consent", False)]


def test_run_consent_history_stages_the_whole_table_and_reruns_idempotently(spark, tmp_path):
    from tests.conftest import make_settings

    settings = make_settings(tmp_path / "landing", tmp_path / "warehouse")
    wh = settings.paths.warehouse
    night1 = [("crm:1", "email", "granted", T(2026, 1, 1))]
    night2 = [*night1, ("crm:2", "sms", "granted", T(2026, 1, 2))]

    assert run_consent_history(spark, settings, "2026-01-01", tonight(spark, night1)) == 1
    catalog.publish(spark, ["audit.consent_history"], wh)
    for _ in range(2):  # the same night twice: the second run replaces the first's rows
        assert run_consent_history(spark, settings, "2026-01-02", tonight(spark, night2)) == 1
    catalog.publish(spark, ["audit.consent_history"], wh)
    history = catalog.read(spark, "audit.consent_history", wh)
    assert rows(history) == [
        ("p1", "email", None, "granted", "2026-01-01"),
        ("p2", "sms", None, "granted", "2026-01-02"),
    ]
    described = {f.name: f.metadata.get("comment") for f in history.schema.fields}
    assert all(described.values()), described


def test_built_warehouse_history_ends_in_tonights_consent(spark, built):
    """On the generated demo: the last history row of each (profile, purpose) is the consent
    gold.profiles holds, and a profile never holds a consent the history did not record."""
    settings, _ = built
    wh = settings.paths.warehouse
    history = catalog.read(spark, "audit.consent_history", wh)
    assert history.count() > 0
    assert (
        history.groupBy("profile_id", "purpose", "batch_date").count().where("count > 1").count()
        == 0
    )
    history.createOrReplaceTempView("t_history")
    catalog.read(spark, "gold.profiles", wh).createOrReplaceTempView("t_profiles")
    stack = ", ".join(f"'{p}', consent_{p}, consent_{p}_at" for p in PURPOSES)
    mismatches = spark.sql(
        f"""
        WITH now AS (
          SELECT profile_id, stack({len(PURPOSES)}, {stack}) AS (purpose, value, captured_at)
          FROM t_profiles
        ),
        last AS (
          SELECT profile_id, purpose, value FROM (
            SELECT *, row_number() OVER (PARTITION BY profile_id, purpose
                                         ORDER BY batch_date DESC) AS pos
            FROM t_history) WHERE pos = 1
        )
        SELECT n.profile_id, n.purpose, n.value, l.value AS recorded
        FROM now n LEFT JOIN last l USING (profile_id, purpose)
        WHERE NOT (n.value <=> l.value)
          AND NOT (l.value IS NULL AND n.value = 'unknown' AND n.captured_at IS NULL)
        """
    ).collect()
    assert mismatches == []
