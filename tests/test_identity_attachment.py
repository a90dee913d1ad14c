"""Behaviour attaches to persons and never joins two of them (jobs/identity/attachment.py).

Each test runs the whole pure core of the identity job (``resolve``) on a few inline records,
with probabilistic matching off, and reads the profiles back as sets of identifiers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from cdp.core.settings import IdentitySettings
from jobs.identity.run import resolve

T0 = dt.datetime(2026, 3, 1, 12, 0)
SETTINGS = dataclasses.replace(IdentitySettings(), probabilistic_matching=False)


def run_resolve(spark, rows, first_names=None, settings=SETTINGS):
    """Profiles as a set of frozensets of 'namespace:value', and the cuts by reason."""
    obs = spark.createDataFrame(
        [(r, r.split(":")[0], ns, v, T0) for r, ns, v in rows],
        "record_id string, source string, namespace string, value string, seen_at timestamp",
    )
    people = spark.createDataFrame(
        list((first_names or {}).items()), "record_id string, first_name_key string"
    )
    result = resolve(spark, people, obs, settings)
    members = result.components.join(result.vertices, "id").collect()
    groups: dict[int, set] = {}
    for m in members:
        groups.setdefault(m["component"], set()).add(f"{m['namespace']}:{m['value']}")
    cuts: dict[str, set] = {}
    for c in result.cuts.collect():
        cuts.setdefault(c["reason"], set()).add(f"{c['namespace']}:{c['value']}")
    return {frozenset(g) for g in groups.values()}, cuts


def profile_of(profiles, identifier):
    (found,) = [p for p in profiles if identifier in p]
    return found


@pytest.mark.slow  # many Spark jobs on inline data; not in make test-fast
def test_a_family_computer_cookie_does_not_join_two_people(spark):
    rows = [
        ("crm:1", "crm_id", "1"),
        ("crm:1", "email", "ann@x.se"),
        ("crm:2", "crm_id", "2"),
        ("crm:2", "email", "bo@x.se"),
        # Ann and Bo both log in on the family computer: one cookie, two people.
        ("web:e1", "anonymous_id", "family-cookie"),
        ("web:e1", "crm_id", "1"),
        ("web:e2", "anonymous_id", "family-cookie"),
        ("web:e2", "crm_id", "2"),
        # Ann's own phone app.
        ("web:e3", "device_id", "ann-phone"),
        ("web:e3", "crm_id", "1"),
    ]
    profiles, cuts = run_resolve(spark, rows)
    assert profile_of(profiles, "crm_id:1") == {"crm_id:1", "email:ann@x.se", "device_id:ann-phone"}
    assert profile_of(profiles, "crm_id:2") == {"crm_id:2", "email:bo@x.se"}
    assert cuts["links_several_persons"] == {"anonymous_id:family-cookie"}
    assert not any("anonymous_id:family-cookie" in p for p in profiles)


@pytest.mark.slow  # many Spark jobs on inline data; not in make test-fast
def test_a_logged_in_user_typing_another_persons_email_joins_nobody(spark):
    rows = [
        ("crm:1", "crm_id", "1"),
        ("crm:1", "email", "ann@x.se"),
        ("loyalty:9", "loyalty_id", "9"),
        ("loyalty:9", "email", "cy@x.se"),
        # Ann, logged in, signs her friend Cy up for the newsletter.
        ("web:e1", "crm_id", "1"),
        ("web:e1", "email", "cy@x.se"),
        ("web:e1", "anonymous_id", "ann-cookie"),
    ]
    profiles, cuts = run_resolve(spark, rows)
    assert profile_of(profiles, "crm_id:1") == {
        "crm_id:1",
        "email:ann@x.se",
        "anonymous_id:ann-cookie",
    }
    assert profile_of(profiles, "loyalty_id:9") == {"loyalty_id:9", "email:cy@x.se"}
    assert cuts["event_joins_persons"] == {"email:cy@x.se"}


@pytest.mark.slow  # many Spark jobs on inline data; not in make test-fast
def test_a_chain_of_behavioural_identifiers_between_two_people_is_split(spark):
    rows = [
        ("crm:1", "crm_id", "1"),
        ("crm:2", "crm_id", "2"),
        # cookie-a is Ann's, cookie-b is Bo's; a web-only email typed in both browsers
        # would chain them: Ann - cookie-a - shared@x.se - cookie-b - Bo.
        ("web:e1", "crm_id", "1"),
        ("web:e1", "anonymous_id", "cookie-a"),
        ("web:e2", "anonymous_id", "cookie-a"),
        ("web:e2", "email", "shared@x.se"),
        ("web:e3", "anonymous_id", "cookie-b"),
        ("web:e3", "email", "shared@x.se"),
        ("web:e4", "crm_id", "2"),
        ("web:e4", "anonymous_id", "cookie-b"),
    ]
    profiles, cuts = run_resolve(spark, rows)
    ann, bo = profile_of(profiles, "crm_id:1"), profile_of(profiles, "crm_id:2")
    assert ann != bo
    assert "anonymous_id:cookie-a" in ann and "anonymous_id:cookie-b" in bo
    assert cuts["profile_limit"], "the refused union is audited"


@pytest.mark.slow  # many Spark jobs on inline data; not in make test-fast
def test_a_person_with_several_records_keeps_all_their_behaviour(spark):
    rows = [
        # One person twice in the CRM (a duplicate), the same email links the two rows.
        ("crm:1", "crm_id", "1"),
        ("crm:1", "email", "dee@x.se"),
        ("crm:7", "crm_id", "7"),
        ("crm:7", "email", "dee@x.se"),
        # Her cookie sees both CRM ids: still one person, so it is not shared.
        ("web:e1", "crm_id", "1"),
        ("web:e1", "anonymous_id", "dee-cookie"),
        ("web:e2", "crm_id", "7"),
        ("web:e2", "anonymous_id", "dee-cookie"),
        # Her receipts: a card token beside her loyalty card, then alone.
        ("crm:1", "loyalty_id", "L1"),
        ("pos:r1", "loyalty_id", "L1"),
        ("pos:r1", "card_token", "tok-dee"),
        ("pos:r2", "card_token", "tok-dee"),
    ]
    profiles, cuts = run_resolve(spark, rows, {"crm:1": "dee", "crm:7": "dee"})
    assert profile_of(profiles, "crm_id:1") == {
        "crm_id:1",
        "crm_id:7",
        "email:dee@x.se",
        "anonymous_id:dee-cookie",
        "loyalty_id:L1",
        "card_token:tok-dee",
    }
    assert "links_several_persons" not in cuts


@pytest.mark.slow  # many Spark jobs on inline data; not in make test-fast
def test_a_payment_card_seen_now_and_then_with_a_loyalty_card_does_not_link(spark):
    rows = [
        ("crm:1", "crm_id", "1"),
        ("crm:1", "loyalty_id", "L1"),
        # Ann's own card goes with her loyalty card on both its receipts.
        *[r for i in range(2) for r in ((f"pos:a{i}", "loyalty_id", "L1"),
                                         (f"pos:a{i}", "card_token", "tok-ann"))],
        # Her son's card: once with her loyalty card at the till, three times without.
        ("pos:s0", "loyalty_id", "L1"),
        ("pos:s0", "card_token", "tok-son"),
        *[(f"pos:s{i}", "card_token", "tok-son") for i in range(1, 4)],
    ]  # fmt: skip
    profiles, cuts = run_resolve(spark, rows)
    assert profile_of(profiles, "crm_id:1") == {"crm_id:1", "loyalty_id:L1", "card_token:tok-ann"}
    assert profile_of(profiles, "card_token:tok-son") == {"card_token:tok-son"}
    assert cuts["weak_link"] == {"card_token:tok-son"}
