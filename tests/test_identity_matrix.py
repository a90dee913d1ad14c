"""The identity evaluation matrix (issue 15).

Unit tests on tiny inline data with hand-computed answers: pair metrics with and without
twin-like pairs, Jaro-Winkler against DuckDB's, blocking recall from splink rules, the bar,
and the plain splink baseline on records without email or phone. Then the matrix itself at
small scale: every data set generated, built (bronze, silver, identity) and held to the bar
with the project's one set of defaults. That test fails while the project is below the bar.
"""

from __future__ import annotations

import datetime as dt
import random

import pandas as pd
import pytest

from cdp_dev.identity import baseline
from cdp_dev.identity.evaluate import PairCounts
from cdp_dev.identity.matrix import (
    DATA_SETS,
    MIN_PRECISION,
    MIN_RECALL,
    SET_NAMES,
    BlockingRecall,
    MissedPairs,
    PairMetrics,
    bar_failures,
    blocking_recall,
    data_sets,
    is_twin_like,
    jaro_winkler,
    missed_pairs,
    pair_metrics,
    run_matrix,
    true_pairs,
    twin_like_pairs,
)
from tests.conftest import make_settings

# -- Jaro-Winkler and twin-like pairs -------------------------------------------------------


def test_jaro_winkler_textbook_values():
    # Winkler (1990) and the record-linkage literature's usual examples.
    assert jaro_winkler("martha", "marhta") == pytest.approx(0.9611, abs=1e-4)
    assert jaro_winkler("dwayne", "duane") == pytest.approx(0.84, abs=1e-4)
    assert jaro_winkler("dixon", "dicksonx") == pytest.approx(0.8133, abs=1e-4)
    assert jaro_winkler("anna", "anna") == 1.0
    assert jaro_winkler("abc", "") == 0.0


def test_jaro_winkler_equals_duckdb_on_random_names():
    import duckdb

    rng = random.Random(5)
    words = [
        "".join(rng.choice("aeiklnorst") for _ in range(rng.randint(1, 9))) for _ in range(300)
    ]
    pairs = list(zip(words[:150], words[150:], strict=True))
    con = duckdb.connect()
    expected = con.execute(
        "select jaro_winkler_similarity(a, b) from (select unnest($1) as a, unnest($2) as b)",
        [[a for a, _ in pairs], [b for _, b in pairs]],
    ).fetchall()
    for (a, b), (want,) in zip(pairs, expected, strict=True):
        assert jaro_winkler(a, b) == pytest.approx(want, abs=1e-9), (a, b)


def test_twin_like_needs_two_unrelated_first_names_not_swapped():
    assert is_twin_like(("anna", "berg"), ("lotta", "berg"))  # unrelated: JW 0.48
    assert not is_twin_like(("jon", "berg"), ("john", "berg"))  # a typo: JW 0.93
    assert not is_twin_like(("anna", "berg"), ("berg", "anna"))  # swapped with the surname
    assert not is_twin_like((None, "berg"), ("lotta", "berg"))  # one first name missing
    assert not is_twin_like(("anna", "berg"), ("anna", "lund"))  # same first name
    # Three records of (anna, berg) and one of lotta: 3 twin-like pairs, counted per name.
    names = {"a": ("anna", "berg"), "b": ("anna", "berg"), "c": ("anna", "berg")}
    names["d"] = ("lotta", "berg")
    assert twin_like_pairs(["a", "b", "c", "d"], names) == 3
    assert twin_like_pairs(["a", "b", "unnamed"], names) == 0


# -- pair metrics -----------------------------------------------------------------------------

# Eight person records of four persons. r3 swaps given name and surname; r4 carries an
# unrelated first name (twin-like with r1, r2, r3); r5 has no first name; r8 is a namesake
# of r1 (another person).
NAMES = {
    "r1": ("anna", "berg"),
    "r2": ("anna", "berg"),
    "r3": ("berg", "anna"),
    "r4": ("lotta", "berg"),
    "r5": (None, "berg"),
    "r6": ("erik", "berg"),
    "r7": ("olle", "berg"),
    "r8": ("anna", "berg"),
}
TRUTH = {"r1": "P1", "r2": "P1", "r3": "P1", "r4": "P1", "r5": "P2", "r6": "P2", "r7": "P3"}
TRUTH["r8"] = "P4"
# r8 merged into r1's cluster (a false merge of namesakes), r4 with r7 (a false, twin-like
# merge), r5 and r6 apart (a missed link); r6 has no cluster; x9 is not a person record.
CLUSTERS = {"r1": "C1", "r2": "C1", "r3": "C1", "r8": "C1", "r4": "C2", "r7": "C2", "r5": "C3"}
CLUSTERS["x9"] = "C1"


def test_pair_metrics_by_hand():
    m = pair_metrics(TRUTH, CLUSTERS, NAMES)
    # True pairs: P1's 4 records make 6, P2's 2 make 1. Predicted: C1's 4 records make 6,
    # C2 makes 1. Correct: r1-r2, r1-r3, r2-r3.
    assert (m.raw.true_pairs, m.raw.predicted_pairs, m.raw.correct_pairs) == (7, 7, 3)
    # Twin-like: true r1-r4, r2-r4, r3-r4; predicted r4-r7; none correct.
    tw = m.twin_like
    assert (tw.true_pairs, tw.predicted_pairs, tw.correct_pairs) == (3, 1, 0)
    nt = m.without_twin_like
    assert (nt.true_pairs, nt.predicted_pairs, nt.correct_pairs) == (4, 6, 3)
    assert m.raw.precision == pytest.approx(3 / 7)
    assert m.raw.recall == pytest.approx(3 / 7)
    assert nt.precision == pytest.approx(0.5)
    assert nt.recall == pytest.approx(0.75)
    assert nt.f1 == pytest.approx(0.6)
    # For reference: only true twin-like pairs left out, so the false r4-r7 merge still
    # counts: 4 true, 7 predicted, 3 correct.
    ref = m.without_true_twin_like
    assert (ref.true_pairs, ref.predicted_pairs, ref.correct_pairs) == (4, 7, 3)


def test_pair_metrics_of_the_truth_itself_and_of_singletons():
    perfect = pair_metrics(TRUTH, TRUTH, NAMES)
    assert perfect.raw.precision == perfect.raw.recall == 1.0
    assert perfect.without_twin_like.recall == 1.0
    alone = pair_metrics(TRUTH, {}, NAMES)
    assert alone.raw.predicted_pairs == 0 and alone.raw.recall == 0.0
    assert alone.raw.precision is None


def test_missed_pairs_by_reason():
    # P1: r1, r2 and r3 together; r4 (lotta, twin-like with all three) with r7; r5 of P2
    # alone and r6 without a cluster. Missed, twin-like left out: none of P1 (r4's pairs
    # are all twin-like); P2's r5-r6, where r5 tells neither given name nor birth date.
    assert missed_pairs(TRUTH, CLUSTERS, NAMES, untold={"r5"}) == MissedPairs(0, 1, 0)
    assert missed_pairs(TRUTH, CLUSTERS, NAMES, untold=set()) == MissedPairs(0, 0, 1)
    # Lotta's copy r4 beside an unnamed copy r9 of P1: r9 fits r1's cluster but r4 is
    # twin-like to it, so the pairs r4-r9 (not twin-like: r9 is unnamed) are lost with it.
    truth, names = {**TRUTH, "r9": "P1"}, {**NAMES, "r9": (None, "berg")}
    clusters = {**CLUSTERS, "r9": "C1"}
    missed = missed_pairs(truth, clusters, names, untold={"r5", "r9"})
    assert missed == MissedPairs(beside_twin_like=1, untold=1, other=0)
    assert missed_pairs(truth, truth, names, untold=set()).total == 0


# -- blocking recall --------------------------------------------------------------------------


def test_blocking_recall_counts_true_pairs_any_rule_generates():
    from splink import block_on

    records = pd.DataFrame(
        {
            "unique_id": ["a1", "a2", "a3", "b1", "b2", "c1"],
            "dob": ["1980", "1980", None, "1990", "1991", "1980"],
            "zip": ["111", "222", "111", "333", "333", "111"],
            "names": [["ann"], ["ann", "annie"], ["x"], ["bo"], ["bob", "bo"], ["ann"]],
        }
    )
    truth = {"a1": "A", "a2": "A", "a3": "A", "b1": "B", "b2": "B", "c1": "C"}
    assert true_pairs(truth, records["unique_id"]) == [
        ("a1", "a2"),
        ("a1", "a3"),
        ("a2", "a3"),
        ("b1", "b2"),
    ]
    # dob: a1-a2 (the null never blocks); zip: a1-a3, b1-b2. a2-a3 share neither.
    got = blocking_recall(records, truth, [block_on("dob"), block_on("zip")])
    assert (got.true_pairs, got.generated) == (4, 3)
    assert got.recall == 0.75
    assert sorted(got.by_rule.values()) == [1, 2]
    # Every pair the rules generate: 1980 makes a1-a2, a1-c1, a2-c1; zip 111 adds a1-a3,
    # a3-c1 and 333 b1-b2.
    assert got.comparisons == 6
    # An exploding rule: a1-a2 share "ann", b1-b2 share "bo".
    exploded = blocking_recall(records, truth, [block_on("names", arrays_to_explode=["names"])])
    assert exploded.generated == 2
    assert exploded.comparisons == 4  # "ann": a1-a2, a1-c1, a2-c1; "bo": b1-b2
    assert blocking_recall(records.iloc[:0], truth, [block_on("dob")]).recall is None


# -- the bar --------------------------------------------------------------------------------


def _metrics(true, predicted, correct, twin=(0, 0, 0)) -> PairMetrics:
    return PairMetrics(PairCounts(true, predicted, correct), PairCounts(*twin))


def test_bar():
    default = next(s for s in DATA_SETS if s.name == "default")
    households = next(s for s in DATA_SETS if s.name == "households")
    assert households.precision_over_baseline and not default.precision_over_baseline
    perfect = _metrics(1000, 1000, 1000)
    assert bar_failures(perfect, perfect, default) == []
    # Recall counted without twin-like pairs: 985 of 1000 true pairs found, 10 of the 15
    # missed are twin-like, so recall is 985/990.
    twins_missed = _metrics(1000, 985, 985, twin=(10, 0, 0))
    assert twins_missed.without_twin_like.recall == pytest.approx(985 / 990)
    assert bar_failures(twins_missed, twins_missed, default) == []
    low_recall = _metrics(1000, 980, 980)
    assert bar_failures(low_recall, low_recall, default) == [f"recall 0.9800 < {MIN_RECALL}"]
    imprecise = _metrics(1000, 1010, 1000)
    assert bar_failures(imprecise, perfect, default)[0] == f"precision 0.9901 < {MIN_PRECISION}"
    # F1 below the baseline's fails everywhere but on the households set, where precision
    # at least the baseline's is asked instead.
    good = _metrics(1000, 995, 995)
    assert bar_failures(good, perfect, default) == ["F1 0.9975 < baseline 1.0000"]
    assert bar_failures(good, perfect, households) == []
    sloppy_baseline = _metrics(1000, 1000, 999)
    assert bar_failures(good, sloppy_baseline, households) == []
    precise_baseline = _metrics(1000, 996, 996)
    assert bar_failures(_metrics(1000, 1000, 996), precise_baseline, households) == [
        "precision 0.9960 < baseline 1.0000"
    ]


def test_data_sets_by_name():
    assert [s.name for s in data_sets()] == list(SET_NAMES)
    assert [s.name for s in data_sets(["households", "default"])] == ["default", "households"]
    with pytest.raises(ValueError, match="unknown data set"):
        data_sets(["defaults"])


# -- the baseline ---------------------------------------------------------------------------


def test_baseline_leaves_out_columns_without_values():
    d = dt.date
    rows = [
        ("crm:1", "anna", "berg", d(1980, 1, 2), "Storgatan 1", "11122", "Stockholm"),
        ("loyalty:1", "anna", "berg", d(1980, 1, 2), "Storgatan 1", "11122", "Stockholm"),
        ("crm:2", "anan", "berg", d(1980, 1, 2), "Storgatan 1", "11122", "Stockholm"),
        ("crm:3", "erik", "lund", d(1975, 5, 6), "Kungsgatan 9", "41119", "Göteborg"),
        ("loyalty:3", "erik", "lund", d(1975, 5, 6), "Kungsgatan 9", "41119", "Göteborg"),
        ("crm:4", "lisa", "holm", d(1990, 3, 4), "Lilla vägen 3", "22100", "Lund"),
        ("loyalty:4", "lisa", "holm", d(1990, 3, 4), "Lilla vägen 3", "22100", "Lund"),
        ("crm:5", "olle", "ek", d(1960, 7, 8), "Ågatan 2", "75320", "Uppsala"),
        ("crm:6", "karin", "sjö", d(1985, 9, 10), "Norra 5", "90325", "Umeå"),
        ("crm:7", "per", "dahl", d(1970, 11, 12), "Södra 7", "58222", "Linköping"),
    ]
    columns = ["unique_id", "first_name_key", "last_name_key", "birth_date"]
    records = pd.DataFrame(rows, columns=[*columns, "street", "postal_code", "city"])
    records["email_key"] = None
    records["phone"] = None
    assert baseline.empty_columns(records) == ["email_key", "phone"]
    result = baseline.link(records)
    assert result.dropped == ["email_key", "phone"]
    assert set(result.clusters) == set(records["unique_id"])
    clusters = result.clusters
    assert clusters["crm:1"] == clusters["loyalty:1"] == clusters["crm:2"]
    assert clusters["crm:3"] == clusters["loyalty:3"] != clusters["crm:1"]
    assert len({clusters[f"crm:{i}"] for i in (5, 6, 7)}) == 3
    names = [c.get_comparison("duckdb").output_column_name for c in baseline.comparisons()]
    assert names == ["first_name_key", "last_name_key", "birth_date", "address", "email_key"] + [
        "phone"
    ]
    kept = baseline.comparisons({"email_key", "phone"})
    assert len(kept) == 4


# -- the matrix -----------------------------------------------------------------------------

# Small enough for the suite (each set is one bronze, silver and identity build), big enough
# that every data set has households, duplicates and CRM-loyalty pairs.
MATRIX_PERSONS, MATRIX_DAYS, MATRIX_SEED = 120, 5, 11


@pytest.fixture(scope="module")
def matrix(spark, tmp_path_factory):
    base = tmp_path_factory.mktemp("identity_matrix")
    settings = make_settings(base / "landing", base / "warehouse")
    result = run_matrix(spark, settings, base / "work", MATRIX_PERSONS, MATRIX_DAYS, MATRIX_SEED)
    print(result.table())
    return result


@pytest.mark.slow
def test_matrix_scores_every_data_set(matrix):
    assert [s.name for s in matrix.sets] == list(SET_NAMES)
    for s in matrix.sets:
        assert s.records > 0 and s.project.raw.true_pairs > 0, s.name
        assert set(s.blocking) == {"project", "baseline"}
        for recall in s.blocking.values():
            assert isinstance(recall, BlockingRecall) and recall.true_pairs > 0
        assert s.baseline.raw.predicted_pairs > 0, s.name
    assert "set" in matrix.table() and matrix.to_dict()["sets"][0]["name"] == "default"


# Issue 15 is open: at this scale the project is below the bar on these sets today (the
# issue's notes hold the figures). Strict, so a set that starts to pass fails the run until
# its mark goes.
BELOW_THE_BAR_TODAY = {"heavy", "names_dob_address", "households"}


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        pytest.param(
            n,
            marks=pytest.mark.xfail(strict=True, reason="issue 15: below the bar today"),
        )
        if n in BELOW_THE_BAR_TODAY
        else n
        for n in SET_NAMES
    ],
)
def test_matrix_data_set_meets_the_bar(matrix, name):
    row = next(s for s in matrix.sets if s.name == name)
    assert row.passed, f"{name} below the bar: {row.failures}\n{matrix.table()}"
