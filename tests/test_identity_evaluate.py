"""Identity evaluation: counted pair measures equal a brute-force enumeration of pairs."""

from __future__ import annotations

import itertools
import random

import pytest

from cdp_dev.identity.evaluate import evaluate, record_evidence


def brute_force(truth: dict[str, str], resolved: dict[str, str]):
    true_pairs = predicted = correct = 0
    for a, b in itertools.combinations(sorted(truth), 2):
        same_person = truth[a] == truth[b]
        same_profile = a in resolved and b in resolved and resolved[a] == resolved[b]
        true_pairs += same_person
        predicted += same_profile
        correct += same_person and same_profile
    return true_pairs, predicted, correct


@pytest.mark.slow  # many Spark jobs on inline data; not in make test-fast
@pytest.mark.parametrize("seed", [3, 4])
def test_pair_counts_equal_brute_force_on_random_resolutions(spark, seed):
    rng = random.Random(seed)
    sources = ["crm", "loyalty", "pos", "web"]
    truth = {f"{rng.choice(sources)}:{i}": f"P{rng.randrange(25)}" for i in range(120)}
    # A noisy resolution: mostly right, some merges, some splits, some unresolved records.
    resolved = {}
    for record, person in truth.items():
        roll = rng.random()
        if roll < 0.08:
            continue
        resolved[record] = (
            f"x{rng.randrange(25)}" if roll < 0.2 else f"p-{person}-{rng.random() < 0.1}"
        )
    truth_df = spark.createDataFrame(list(truth.items()), "record_id string, person_id string")
    resolved_df = spark.createDataFrame(
        [(r, r.split(":")[0], p) for r, p in resolved.items()],
        "record_id string, source string, profile_id string",
    )
    result = evaluate(truth_df, resolved_df)
    expected = brute_force(truth, resolved)
    got = result.overall
    assert (got.true_pairs, got.predicted_pairs, got.correct_pairs) == expected
    assert result.unresolved_records == len(truth) - len(resolved)
    assert result.records == len(truth)

    # Per source pair, against the same enumeration restricted to that pair of sources.
    for name, counts in result.by_source_pair.items():
        a, b = name.split("-")
        pairs = [0, 0, 0]
        for x, y in itertools.combinations(sorted(truth), 2):
            if sorted((x.split(":")[0], y.split(":")[0])) != sorted((a, b)):
                continue
            same_person = truth[x] == truth[y]
            same_profile = x in resolved and y in resolved and resolved[x] == resolved[y]
            pairs[0] += same_person
            pairs[1] += same_profile
            pairs[2] += same_person and same_profile
        assert (counts.true_pairs, counts.predicted_pairs, counts.correct_pairs) == tuple(pairs), (
            name
        )


def test_false_merges_and_missed_links_are_counted(spark):
    truth = spark.createDataFrame(
        [("crm:1", "A"), ("web:1", "A"), ("crm:2", "B"), ("web:2", "B"), ("pos:9", "C")],
        "record_id string, person_id string",
    )
    resolved = spark.createDataFrame(
        [
            ("crm:1", "crm", "p1"),
            ("web:1", "web", "p1"),
            ("crm:2", "crm", "p1"),
            ("web:2", "web", "p2"),
        ],
        "record_id string, source string, profile_id string",
    )
    result = evaluate(truth, resolved)
    assert result.false_merges == 1  # p1 holds A and B
    assert result.missed_links == 1  # B is split over p1 and p2
    assert result.unresolved_records == 1
    assert result.overall.precision == pytest.approx(1 / 3)
    assert result.overall.recall == pytest.approx(1 / 2)
    assert result.cluster_sizes == {3: 1, 1: 1}
    assert "overall" in result.table()


@pytest.mark.slow  # many Spark jobs on inline data; not in make test-fast
def test_evidence_tells_linkable_pairs_and_borrowed_identifiers(spark):
    """Ann: CRM and loyalty rows sharing nothing, a receipt on her card, an anonymous web
    visit. Bo, her son, swipes her card once and pays with his own payment card."""
    truth = spark.createDataFrame(
        [
            ("crm:1", "ann"),
            ("loyalty:L1", "ann"),
            ("pos:r1", "ann"),
            ("web:e1", "ann"),
            ("pos:r2", "bo"),
            ("pos:r3", "bo"),
        ],
        "record_id string, person_id string",
    )
    observations = spark.createDataFrame(
        [
            ("crm:1", "crm_id", "1"),
            ("loyalty:L1", "loyalty_id", "L1"),
            ("pos:r1", "loyalty_id", "L1"),
            ("pos:r1", "card_token", "tok-ann"),
            ("web:e1", "anonymous_id", "cookie-never-logged-in"),
            ("pos:r2", "loyalty_id", "L1"),
            ("pos:r2", "card_token", "tok-bo"),
            ("pos:r3", "card_token", "tok-bo"),
        ],
        "record_id string, namespace string, value string",
    )
    evidence = {r["record_id"]: r for r in record_evidence(spark, truth, observations).collect()}
    group = {k: v["evidence_group"] for k, v in evidence.items()}
    # Ann's person records are linkable (name and birth date could match), her receipt via
    # her card; her anonymous visit shares nothing with the rest.
    assert group["crm:1"] == group["loyalty:L1"] == group["pos:r1"] != group["web:e1"]
    assert group["pos:r2"] == group["pos:r3"]
    # The card is Ann's (her loyalty record carries it): Bo's receipt with it is borrowed.
    assert {k for k, v in evidence.items() if v["borrowed"]} == {"pos:r2"}

    # A resolver that puts everything on the card in Ann's profile.
    resolved = spark.createDataFrame(
        [
            ("crm:1", "crm", "pA"),
            ("loyalty:L1", "loyalty", "pA"),
            ("pos:r1", "pos", "pA"),
            ("pos:r2", "pos", "pA"),
            ("pos:r3", "pos", "pA"),
            ("web:e1", "web", "pW"),
        ],
        "record_id string, source string, profile_id string",
    )
    result = evaluate(truth, resolved, record_evidence(spark, truth, observations))
    # Ann: 6 true pairs (4 records), 3 of them linkable; Bo: 1, linkable.
    assert (result.overall.true_pairs, result.linkable.true_pairs) == (7, 4)
    assert result.linkable.correct_pairs == 4 and result.linkable.recall == 1.0
    assert result.recall_ceiling == pytest.approx(4 / 7)
    # Without Bo's borrowed receipt: Ann's 3 + Bo's r3 in pA -> 6 pairs, 3 correct.
    assert (result.unborrowed.predicted_pairs, result.unborrowed.correct_pairs) == (6, 3)
    assert result.borrowed_records == 1
    assert "what the data allows" in result.table()
