"""Stable profile ids across two nightly runs, including a merge and a split."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import functions as F

from jobs.identity.profile_ids import assign_profile_ids

NIGHT1 = dt.datetime(2026, 3, 1, 2, 0)
NIGHT2 = dt.datetime(2026, 3, 2, 2, 0)


def components(spark, groups: dict[int, list[int]]):
    return spark.createDataFrame(
        [(v, c) for c, members in groups.items() for v in members], "id long, component long"
    )


def as_map(assigned):
    return {r["id"]: r["profile_id"] for r in assigned.collect()}


def test_ids_are_stable_and_merges_and_splits_follow_the_rules(spark):
    night1 = components(spark, {1: [1, 2], 3: [3, 4], 5: [5, 6, 7, 8], 9: [9], 12: [12, 13, 14]})
    first, merges1 = assign_profile_ids(night1, None, F.lit(NIGHT1))
    ids1 = as_map(first)
    assert merges1.count() == 0
    assert len({ids1[1], ids1[3], ids1[5], ids1[9]}) == 4
    assert ids1[1] == ids1[2] and ids1[5] == ids1[8]

    # Night 2: {1,2} unchanged; {3,4} merges with the new identifier 10 and with {9};
    # {5,6,7,8} splits into {5,6,7} and {8}; {12,13,14} splits so that the smaller part holds
    # the smallest vertex; 11 is a newcomer.
    previous = first.select(
        F.col("id").alias("vertex_id"),
        "profile_id",
        # Profile of 9 is older than that of 3: it must survive the merge.
        F.when(F.col("id") == 9, F.lit(dt.datetime(2026, 1, 1)))
        .otherwise(F.col("profile_created_at"))
        .alias("profile_created_at"),
    )
    night2 = components(
        spark, {1: [1, 2], 3: [3, 4, 9, 10], 5: [5, 6, 7], 8: [8], 11: [11], 12: [12], 13: [13, 14]}
    )
    second, merges2 = assign_profile_ids(night2, previous, F.lit(NIGHT2))
    ids2 = as_map(second)
    assert ids2[1] == ids2[2] == ids1[1]  # unchanged person keeps the id
    assert ids2[3] == ids2[10] == ids1[9]  # the older profile survives the merge
    (merge,) = merges2.collect()
    assert (merge["retired_profile_id"], merge["profile_id"]) == (ids1[3], ids1[9])
    assert ids2[5] == ids1[5]  # the larger part of a split keeps the id
    assert ids2[8] not in set(ids1.values())  # the smaller part gets a new one
    assert ids2[11] not in set(ids1.values())
    assert ids2[13] == ids2[14] == ids1[12]
    assert ids2[12] not in set(ids1.values())
    assert len(set(ids2.values())) == 7  # one id per component, none shared
    created = {r["id"]: r["profile_created_at"] for r in second.collect()}
    assert created[8] == NIGHT2 and created[5] == NIGHT1
