"""Segments: rules refused before Spark, membership against a plain-Python reference, consent,
the entered/exited lifecycle over several nights, look-alikes, and the staged tables."""

from __future__ import annotations

import datetime as dt
import logging
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdp.core import catalog
from cdp.core.errors import CdpError
from jobs.segments.audience import AUDIENCE_TYPES, audience
from jobs.segments.definitions import SegmentDefinition, load_definitions
from jobs.segments.lookalike import candidate_features, lookalike
from jobs.segments.membership import rule_qualifying, segment_counts, update_membership
from jobs.segments.rules import check_rule, compile_rule
from jobs.segments.run import evaluate, run_segments
from schemas.gold import PROFILE, SEGMENT_MEMBERSHIP, SEGMENTS
from schemas.xdm import PURPOSES
from tests.conftest import make_settings

D = dt.date
T = dt.datetime
DAY = D(2026, 11, 24)
WHERE = "defs/x.yaml: segment 'x'"


def profile(pid: str, allowed: tuple[str, ...] = PURPOSES, **values) -> tuple:
    """A gold.profiles row: consent granted for ``allowed`` purposes, denied for the rest;
    unnamed columns null."""
    row = {"profile_id": pid, "is_anonymous": False, "as_of": DAY}
    for p in PURPOSES:
        row[f"consent_{p}"] = "granted" if p in allowed else "denied"
        row[f"consent_{p}_basis"] = "consent"
        row[f"is_{p}_allowed"] = p in allowed
    row.update(values)
    return tuple(row.get(n) for n in PROFILE.names)


def profiles(spark, rows):
    return spark.createDataFrame(rows, PROFILE.struct())


def write_yaml(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


# --- rules: refused with one line naming file and segment, never executed ----------------

REFUSED = [
    ("rfm_segment = ", "is not a valid expression"),
    ("(lifetime_orders > 1", "is not a valid expression"),
    ("'unterminated = rfm_segment", "cannot be read"),
    ("no_such_column > 1", "unknown column 'no_such_column'"),
    ("lifetime_order > 1", "did you mean 'lifetime_orders'"),
    ("p.lifetime_orders > 1", "use bare column names"),
    ("reflect('java.lang.Thread', 'sleep', 60000) is null", "calls function reflect"),
    ("java_method('java.lang.System', 'exit', 1) = 0", "calls function java_method"),
    ("lifetime_orders > (select 1)", "a subquery"),
    ("profile_id in (select profile_id from gold.profiles)", "a subquery"),
    ("exists(select 1)", "a SELECT"),
    ("select profile_id from gold.profiles", "a SELECT"),
    ("true; drop table gold.profiles", "contains ';'"),
    ("lifetime_orders > 1;", "contains ';'"),
    ("lifetime_orders", "numeric-valued"),
    ("lifetime_orders + 1", "numeric-valued"),
    ("rfm_segment", "string-valued"),
    ("transform(channels, c -> c = 'web') is not null", "a lambda (->)"),
    ("exists(channels, c -> c = 'web')", "a lambda"),
    ("sum(lifetime_orders) over (partition by country) > 10", "a window (OVER)"),
    ("sum(lifetime_orders) > 10", "calls function sum"),
    ("current_date() > as_of", "evaluated as of the batch date"),
    ("datediff(current_date(), last_purchase_at) > 30", "evaluated as of the batch date"),
    ("rand() < 0.5", "calls function rand"),
    ("cast(rfm_segment as int) > 1", "a cast"),
    ("rfm_segment = ${var}", "a parameter"),
    ("rfm_segment = 1", "compares string with numeric"),
    ("is_anonymous and lifetime_orders", "AND needs boolean"),
    ("lower(lifetime_orders) = 'x'", "lower needs string"),
    ("", "is empty"),
]


@pytest.mark.parametrize(("rule", "message"), REFUSED)
def test_a_malformed_or_dangerous_rule_is_refused_with_one_line(rule, message):
    with pytest.raises(CdpError) as refused:
        check_rule(rule, AUDIENCE_TYPES, WHERE)
    text = str(refused.value)
    assert text.startswith(f"{WHERE}: rule ")
    assert message in text
    assert "\n" not in text


def test_a_checked_rule_is_rewritten_from_its_tree():
    checked = check_rule(
        "RFM_SEGMENT = 'Champions' /* note */ and coalesce(score_churn, 0) < 0.5",
        AUDIENCE_TYPES,
    )
    # Spark runs the regenerated SQL: columns quoted in the audience's spelling, no comments.
    assert checked.sql == "`rfm_segment` = 'Champions' AND COALESCE(`score_churn`, 0) < 0.5"
    assert checked.columns == ("rfm_segment", "score_churn")


JUNK = st.one_of(
    st.text(max_size=80),
    st.lists(
        st.sampled_from(
            [
                "rfm_segment", "lifetime_orders", "channels", "(", ")", "'", "`", ";", ",",
                "select", "and", "or", "not", "=", ">", "<=", "+", "*", "-", "->", "over",
                "in", "is", "null", "case", "when", "then", "end", "1", "0.5", "'x'",
                "coalesce(", "reflect(", "size(", "${", "}", "?", "--", "/*", "*/", "\\",
            ]
        ),
        max_size=14,
    ).map(" ".join),
)  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JUNK)
def test_checking_junk_raises_nothing_but_cdp_error(text):
    try:
        checked = check_rule(text, AUDIENCE_TYPES, WHERE)
    except CdpError as e:
        assert str(e).startswith(WHERE) and "\n" not in str(e)
    else:
        # Whatever passes is one boolean expression over known columns, quoted.
        assert ";" not in checked.sql.replace("';'", "")
        assert set(checked.columns) <= set(AUDIENCE_TYPES)


@pytest.mark.slow  # many Spark jobs on inline data; not in make test-fast
def test_a_refused_rule_never_reaches_spark(spark, tmp_path, monkeypatch):
    import pyspark.sql.functions as functions

    calls: list[str] = []
    real_expr = functions.expr
    monkeypatch.setattr(functions, "expr", lambda s: calls.append(s) or real_expr(s))

    # Through the main: the YAML folder is checked before any table is read or written.
    folder = tmp_path / "defs"
    write_yaml(
        folder,
        "ok.yaml",
        "name: fine\ndescription: d\npurpose: analytics\nrule: lifetime_orders > 0\n",
    )
    write_yaml(
        folder,
        "evil.yaml",
        "name: evil\ndescription: d\npurpose: email\n"
        "rule: reflect('java.lang.Thread', 'sleep', 600000) is null\n",
    )
    s = make_settings(tmp_path / "landing", tmp_path / "warehouse")
    s.segments.definitions = str(folder)
    with pytest.raises(CdpError, match=r"evil\.yaml: segment 'evil': rule calls function reflect"):
        run_segments(spark, s, DAY.isoformat())
    assert not catalog.exists_staged(spark, "gold.segment_membership", s.paths.warehouse)

    # Around the loader: a definition built by hand is still checked before compiling.
    people = audience(profiles(spark, [profile("p1", lifetime_orders=1)]), None, DAY)
    evil = SegmentDefinition("evil", "d", "email", "java_method('x', 'y') = 1", None, None, "h")
    with pytest.raises(CdpError, match="calls function java_method"):
        evaluate([evil], people)
    assert calls == []


def test_spark_rejecting_a_checked_rule_is_a_cdp_error(spark):
    # The checks trust the declared column types; should the frame disagree (here an array
    # where a number was declared), Spark's analysis refuses it before any job runs.
    people = audience(profiles(spark, [profile("p1")]), None, DAY)
    checked = check_rule("lifetime_orders > 0", AUDIENCE_TYPES)
    odd = people.withColumn("lifetime_orders", people["channels"])
    with pytest.raises(CdpError, match=r"^h: segment 'x': rule is refused by Spark"):
        compile_rule(checked, odd, "h: segment 'x'")


# --- definitions: YAML checked at load -----------------------------------------------------

RULE_OK = "name: {name}\ndescription: d\npurpose: email\nrule: lifetime_orders > 0\n"


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            {"a.yaml": RULE_OK.format(name="a") + "colour: blue\n"},
            r"a\.yaml: segment 'a': unknown key 'colour'",
        ),
        (
            {"a.yaml": "name: a\ndescription: d\nrule: lifetime_orders > 0\n"},
            r"a\.yaml: segment 'a': missing key 'purpose'",
        ),
        (
            {"a.yaml": RULE_OK.format(name="a").replace("email", "telepathy")},
            r"a\.yaml: segment 'a': unknown purpose 'telepathy'",
        ),
        (
            {"a.yaml": RULE_OK.format(name="dup"), "b.yaml": RULE_OK.format(name="dup")},
            r"b\.yaml: segment 'dup': duplicate segment name \(also defined in .*a\.yaml\)",
        ),
        (
            {"l.yaml": "name: l\ndescription: d\npurpose: ad_sharing\n"
             "lookalike:\n  seed: nobody\n  size: 10\n"},
            r"l\.yaml: segment 'l': unknown seed segment 'nobody'",
        ),
        (
            {"l.yaml": "- name: l1\n  description: d\n  purpose: ad_sharing\n"
             "  lookalike: {seed: l2, size: 5}\n"
             "- name: l2\n  description: d\n  purpose: ad_sharing\n"
             "  lookalike: {seed: l1, size: 5}\n"},
            r"l\.yaml: segment 'l1': look-alike seeds form a cycle: l1 -> l2 -> l1",
        ),
        (
            {"l.yaml": "name: l\ndescription: d\npurpose: ad_sharing\n"
             "lookalike: {seed: l, size: 0}\n"},
            r"'lookalike\.size' must be a positive whole number",
        ),
        (
            {"l.yaml": "name: l\ndescription: d\npurpose: ad_sharing\n"
             "lookalike: {seed: x, size: 3, k: 1}\n"},
            r"l\.yaml: segment 'l': unknown key 'lookalike\.k'",
        ),
        (
            {"a.yaml": RULE_OK.format(name="a") + "lookalike: {seed: a, size: 1}\n"},
            r"needs exactly one of 'rule' or 'lookalike'",
        ),
        (
            {"a.yaml": RULE_OK.format(name="Big Spenders")},
            r"'name' must be lower-case letters",
        ),
        ({"a.yaml": "name: [unclosed\n"}, r"a\.yaml: .* at line"),
        (
            {"a.yaml": RULE_OK.format(name="a").replace("lifetime_orders > 0", "nope = 1")},
            r"a\.yaml: segment 'a': rule names unknown column 'nope'",
        ),
    ],
)  # fmt: skip
def test_a_bad_definition_file_is_refused_naming_file_and_key(tmp_path, files, message):
    for name, text in files.items():
        write_yaml(tmp_path, name, text)
    with pytest.raises(CdpError, match=message) as refused:
        load_definitions(tmp_path)
    assert "\n" not in str(refused.value)


def test_bundled_definitions_load_in_evaluation_order():
    definitions = load_definitions()
    names = [d.name for d in definitions]
    assert {"champions", "win_back", "likely_buyers", "at_risk", "lookalike_champions"} <= set(
        names
    )
    look = next(d for d in definitions if d.name == "lookalike_champions")
    assert (look.kind, look.seed, look.size, look.purpose) == (
        "lookalike",
        "champions",
        200,
        "ad_sharing",
    )
    assert names.index("champions") < names.index("lookalike_champions")
    assert all(d.purpose in PURPOSES for d in definitions)


# --- audience and rule membership ----------------------------------------------------------


def test_audience_pivots_scores_and_counts_days_from_the_batch_date(spark):
    rows = [
        profile("p1", last_purchase_at=T(2026, 11, 14, 23, 0), first_seen=T(2026, 1, 1)),
        profile("p2"),
    ]
    scores = spark.createDataFrame(
        [("p1", "purchase_propensity", 0.8, 10), ("p1", "churn", 0.1, 2)],
        "profile_id string, model string, score double, decile int",
    )
    got = {r["profile_id"]: r for r in audience(profiles(spark, rows), scores, DAY).collect()}
    assert list(audience(profiles(spark, rows), None, DAY).columns) == list(AUDIENCE_TYPES)
    assert got["p1"]["score_purchase_propensity"] == 0.8 and got["p1"]["decile_churn"] == 2
    assert got["p1"]["days_since_last_purchase"] == 10
    assert got["p1"]["days_since_first_seen"] == (DAY - D(2026, 1, 1)).days
    assert got["p2"]["score_churn"] is None and got["p2"]["days_since_last_purchase"] is None


RULES = {
    "champs": (
        "rfm_segment = 'Champions'",
        lambda r: r["rfm_segment"] == "Champions",
        "analytics",
    ),
    "win_back": (
        "lifetime_orders > 0 and days_since_last_purchase > 90",
        lambda r: (
            (r["lifetime_orders"] or 0) > 0
            and r["days_since_last_purchase"] is not None
            and r["days_since_last_purchase"] > 90
        ),
        "email",
    ),
    "web_buyers": (
        "array_contains(channels, 'web') and coalesce(lifetime_revenue, 0) between 10 and 500",
        lambda r: (
            r["channels"] is not None
            and "web" in r["channels"]
            and 10 <= float(r["lifetime_revenue"] or 0) <= 500
        ),
        "personalization",
    ),
    "not_se": (
        "country not in ('SE') or country is null",
        lambda r: r["country"] != "SE",
        "sms",
    ),
    "by_case": (
        "case when frequency >= 3 then true when lower(country) like 'd%' then true else false end",
        lambda r: (r["frequency"] or 0) >= 3 or (r["country"] or "").lower().startswith("d"),
        "ad_sharing",
    ),
}


def random_profiles(seed: int, n: int = 25) -> list[tuple]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        bought = rng.random() < 0.7
        out.append(
            profile(
                f"p{i:02d}",
                allowed=tuple(p for p in PURPOSES if rng.random() < 0.7),
                rfm_segment=rng.choice(["Champions", "Lost", "Loyal", None]) if bought else None,
                lifetime_orders=rng.randint(1, 6) if bought else rng.choice([0, None]),
                lifetime_revenue=None if not bought else rng.choice([5, 50, 400, 900]),
                last_purchase_at=T(2026, 11, 24) - dt.timedelta(days=rng.randint(0, 200))
                if bought
                else None,
                frequency=rng.randint(1, 5) if bought else None,
                channels=rng.choice([["web"], ["store"], ["store", "web"], None]),
                country=rng.choice(["SE", "DK", "de", None]),
            )
        )
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_rule_membership_equals_a_plain_python_reference(spark, seed):
    from decimal import Decimal

    rows = [
        tuple(Decimal(v) if n == "lifetime_revenue" and v is not None else v
              for n, v in zip(PROFILE.names, r, strict=True))
        for r in random_profiles(seed)
    ]  # fmt: skip
    people = audience(profiles(spark, rows), None, DAY)
    rules = [
        (name, purpose, compile_rule(check_rule(rule, AUDIENCE_TYPES), people))
        for name, (rule, _, purpose) in RULES.items()
    ]
    got = {(r["segment"], r["profile_id"]) for r in rule_qualifying(people, rules).collect()}
    expected = {
        (name, r["profile_id"])
        for r in people.collect()
        for name, (_, reference, purpose) in RULES.items()
        if reference(r) and r[f"is_{purpose}_allowed"]
    }
    assert got == expected
    assert got  # the random data exercises something


def test_a_matching_profile_not_allowed_for_the_purpose_is_absent(spark):
    rows = [
        profile("yes", rfm_segment="Champions"),
        profile("no_email", allowed=("analytics",), rfm_segment="Champions"),
    ]
    people = audience(profiles(spark, rows), None, DAY)
    rule = compile_rule(check_rule("rfm_segment = 'Champions'", AUDIENCE_TYPES))
    got = rule_qualifying(people, [("c", "email", rule), ("a", "analytics", rule)]).collect()
    assert sorted((r["segment"], r["profile_id"]) for r in got) == [
        ("a", "no_email"),
        ("a", "yes"),
        ("c", "yes"),
    ]


# --- lifecycle over nights -----------------------------------------------------------------


def night(spark, previous, rows, built_at, purposes=None):
    """One night of a rule segment 'vip' (lifetime_orders >= 5, purpose email)."""
    purposes = purposes or {"vip": "email"}
    people = audience(profiles(spark, rows), None, built_at.date())
    rule = compile_rule(check_rule("lifetime_orders >= 5", AUDIENCE_TYPES))
    qualifying = rule_qualifying(people, [(s, p, rule) for s, p in purposes.items()])
    current = update_membership(previous, qualifying, people, purposes, built_at, built_at.date())
    current = spark.createDataFrame(current.collect(), SEGMENT_MEMBERSHIP.struct())
    counts = {
        r["segment"]: (r["members"], r["entered"], r["exited"])
        for r in segment_counts(previous, current, list(purposes), built_at).collect()
    }
    return current, {r["profile_id"]: r for r in current.collect()}, counts


@pytest.mark.slow  # many Spark jobs on inline data; not in make test-fast
def test_entered_and_exited_times_over_three_nights(spark):
    n1, n2, n3, n4 = T(2026, 11, 22, 3), T(2026, 11, 23, 3), T(2026, 11, 24, 3), T(2026, 11, 25, 3)
    # Night 1: a and b qualify, c does not.
    m1, r1, c1 = night(
        spark,
        None,
        [profile("a", lifetime_orders=5), profile("b", lifetime_orders=9),
         profile("c", lifetime_orders=1), profile("d", lifetime_orders=7)],
        n1,
    )  # fmt: skip
    assert {p for p, r in r1.items() if r["is_member"]} == {"a", "b", "d"}
    assert r1["a"]["entered_at"] == n1 and r1["a"]["exited_at"] is None
    assert "c" not in r1
    assert c1["vip"] == (3, 3, 0)

    # Night 2: a stays (same entered_at), b drops below (exits), c enters, d withdraws email
    # consent (row removed, counted as exit), e is new but only allowed for analytics.
    m2, r2, c2 = night(
        spark,
        m1,
        [profile("a", lifetime_orders=6), profile("b", lifetime_orders=2),
         profile("c", lifetime_orders=5), profile("d", allowed=("analytics",), lifetime_orders=7),
         profile("e", allowed=("analytics",), lifetime_orders=8)],
        n2,
    )  # fmt: skip
    assert r2["a"]["is_member"] and r2["a"]["entered_at"] == n1 and r2["a"]["exited_at"] is None
    assert not r2["b"]["is_member"] and r2["b"]["entered_at"] == n1 and r2["b"]["exited_at"] == n2
    assert r2["c"]["is_member"] and r2["c"]["entered_at"] == n2
    assert "d" not in r2 and "e" not in r2
    assert c2["vip"] == (2, 1, 2)

    # Night 3: b stays exited (unchanged), a is merged away (gone from profiles: removed).
    m3, r3, c3 = night(
        spark,
        m2,
        [profile("b", lifetime_orders=2), profile("c", lifetime_orders=5)],
        n3,
    )
    assert not r3["b"]["is_member"] and r3["b"]["exited_at"] == n2 and r3["b"]["entered_at"] == n1
    assert r3["c"]["entered_at"] == n2
    assert "a" not in r3
    assert c3["vip"] == (1, 0, 1)

    # Night 4: b qualifies again and re-enters: entered_at restarts, exited_at cleared.
    _, r4, c4 = night(
        spark, m3, [profile("b", lifetime_orders=5), profile("c", lifetime_orders=5)], n4
    )
    assert r4["b"]["is_member"] and r4["b"]["entered_at"] == n4 and r4["b"]["exited_at"] is None
    assert c4["vip"] == (2, 1, 0)


def test_a_segment_no_longer_defined_disappears(spark):
    built = T(2026, 11, 22, 3)
    rows = [profile("a", lifetime_orders=5)]
    m1, _, _ = night(spark, None, rows, built, {"vip": "email", "old": "email"})
    assert {r["segment"] for r in m1.collect()} == {"vip", "old"}
    m2, _, counts = night(spark, m1, rows, T(2026, 11, 23, 3), {"vip": "email"})
    assert {r["segment"] for r in m2.collect()} == {"vip"}
    assert set(counts) == {"vip"}


# --- look-alike ----------------------------------------------------------------------------


def lookalike_profiles() -> list[tuple]:
    """Seed: six heavy buyers. 'twin' buys like them; 'stranger' never bought; 'hidden'
    buys like them but refused ad sharing; the rest are occasional buyers."""
    rng = random.Random(5)

    def heavy(pid, **kw):
        return profile(
            pid,
            rfm_segment=kw.pop("rfm_segment", "Lost"),
            lifetime_orders=rng.randint(9, 12),
            frequency=rng.randint(7, 10),
            points_balance=rng.randint(900, 1100),
            last_purchase_at=T(2026, 11, 20),
            identifiers=3,
            **kw,
        )

    rows = [heavy(f"seed{i}", rfm_segment="Champions") for i in range(6)]
    rows += [heavy("twin"), heavy("hidden", allowed=("analytics", "email"))]
    rows.append(
        profile("stranger", lifetime_orders=0, frequency=0, points_balance=0, identifiers=1)
    )
    rows += [
        profile(
            f"p{i:02d}",
            rfm_segment="Lost",
            lifetime_orders=rng.randint(1, 3),
            frequency=rng.randint(1, 2),
            points_balance=rng.randint(0, 300),
            last_purchase_at=T(2026, 6, 1) + dt.timedelta(days=i),
            identifiers=2,
        )
        for i in range(14)
    ]
    return rows


@pytest.mark.slow  # many Spark jobs on inline data; not in make test-fast
def test_lookalike_ranks_the_resembling_profile_first_within_size_and_consent(spark):
    people = audience(profiles(spark, lookalike_profiles()), None, DAY)
    seed = people.where("rfm_segment = 'Champions'").select("profile_id")
    picked = lookalike(people, seed, "ad_sharing", size=10)
    rows = picked.orderBy("rank").collect()
    ids = [r["profile_id"] for r in rows]

    assert len(rows) == 10
    assert [r["rank"] for r in rows] == list(range(1, 11))
    assert ids[0] == "twin"
    assert not any(i.startswith("seed") for i in ids)
    assert "hidden" not in ids  # resembles the seed but refused ad sharing
    sims = [r["similarity"] for r in rows]
    assert sims == sorted(sims, reverse=True) and all(0 <= s <= 1 for s in sims)
    features = set(candidate_features(people))
    top = rows[0]["top_factors"]
    assert 1 <= len(top) <= 3
    assert all(f in features or f.removesuffix("_missing") in features for f in top)

    everyone = lookalike(people, seed, "ad_sharing", size=100).collect()
    rank = {r["profile_id"]: r["rank"] for r in everyone}
    assert rank["twin"] < rank["stranger"]
    assert len(everyone) == 16  # everyone allowed for ad sharing, less the seed


def test_lookalike_features_leave_out_no_data_science_columns(spark):
    people = audience(profiles(spark, [profile("a")]), None, DAY)
    features = candidate_features(people)
    assert {"lifetime_orders", "score_churn", "days_since_last_purchase"} <= set(features)
    assert all("C9" not in PROFILE.field(f).labels for f in features if f in PROFILE.names)


def test_a_seed_too_small_gives_an_empty_segment_and_a_warning(spark, caplog):
    people = audience(profiles(spark, lookalike_profiles()), None, DAY)
    seed = people.where("profile_id = 'seed0'").select("profile_id")
    with caplog.at_level(logging.WARNING, logger="jobs.segments.lookalike"):
        picked = lookalike(people, seed, "ad_sharing", size=5, name="tiny")
    assert picked.count() == 0
    assert "segment tiny: seed has 1 trainable members" in caplog.text


# --- the main: staged tables over two nights -----------------------------------------------


@pytest.mark.slow
def test_run_segments_stages_membership_and_segments(spark, tmp_path):
    folder = tmp_path / "defs"
    write_yaml(
        folder,
        "heavy.yaml",
        "name: heavy\ndescription: Many orders.\npurpose: analytics\n"
        "rule: rfm_segment = 'Champions'\n",
    )
    write_yaml(
        folder,
        "like_heavy.yaml",
        "name: like_heavy\ndescription: Like heavy.\npurpose: ad_sharing\n"
        "lookalike:\n  seed: heavy\n  size: 3\n",
    )
    s = make_settings(tmp_path / "landing", tmp_path / "warehouse")
    s.segments.definitions = str(folder)
    wh = s.paths.warehouse
    rows = lookalike_profiles()
    catalog.write_staged(profiles(spark, rows), "gold.profiles", wh)

    n1 = T(2026, 11, 24, 3)
    counts = run_segments(spark, s, DAY.isoformat(), built_at=n1)
    assert counts == {
        "heavy": {"members": 6, "entered": 6, "exited": 0},
        "like_heavy": {"members": 3, "entered": 3, "exited": 0},
    }
    membership = catalog.read_staged(spark, "gold.segment_membership", wh)
    assert membership.columns == SEGMENT_MEMBERSHIP.names
    assert membership.count() == membership.select("segment", "profile_id").distinct().count()
    like = membership.where("segment = 'like_heavy'").orderBy("rank").collect()
    assert like[0]["profile_id"] == "twin" and like[0]["purpose"] == "ad_sharing"
    summary = {r["segment"]: r for r in catalog.read_staged(spark, "gold.segments", wh).collect()}
    assert summary["like_heavy"]["kind"] == "lookalike"
    assert summary["like_heavy"]["seed_segment"] == "heavy"
    assert summary["heavy"]["rule"] == "rfm_segment = 'Champions'"
    assert catalog.read_staged(spark, "gold.segments", wh).columns == SEGMENTS.names
    catalog.publish(spark, ["gold.segment_membership", "gold.segments"], wh)

    # Next night: seed0 stops being a champion (exits), seed1 is erased (removed, an exit).
    n2 = T(2026, 11, 25, 3)
    changed = []
    for r in rows:
        d = dict(zip(PROFILE.names, r, strict=True))
        if d["profile_id"] == "seed1":
            continue
        if d["profile_id"] == "seed0":
            d["rfm_segment"] = "Loyal"
        changed.append(tuple(d[n] for n in PROFILE.names))
    catalog.write_staged(profiles(spark, changed), "gold.profiles", wh)
    counts = run_segments(spark, s, "2026-11-25", built_at=n2)
    assert counts["heavy"] == {"members": 4, "entered": 0, "exited": 2}
    heavy = {
        r["profile_id"]: r
        for r in catalog.read_staged(spark, "gold.segment_membership", wh)
        .where("segment = 'heavy'")
        .collect()
    }
    assert heavy["seed0"]["exited_at"] == n2 and heavy["seed0"]["entered_at"] == n1
    assert "seed1" not in heavy
    assert heavy["seed2"]["entered_at"] == n1 and heavy["seed2"]["is_member"]
