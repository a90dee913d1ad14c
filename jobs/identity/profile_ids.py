"""Stable profile ids across nightly runs (CONTRACTS.md: profile_id is stable).

Given tonight's components and last night's identity map:
- a component whose identifiers all had one profile keeps it;
- a profile whose identifiers now sit in several components (a split) stays with the
  component holding most of them (ties: the smallest component id); the others get new ids;
- a component holding several old profiles (a merge) keeps the oldest one; the others are
  retired into the merge history, where they stay resolvable;
- a component with no old profile gets a new id derived from its smallest vertex id and the
  run's time (``new_profile_id``).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F


def new_profile_id(component: Column, run_at: Column) -> Column:
    """Id for a new profile: 'p' + 16 hex digits of a hash of its smallest vertex id and the
    run's time. Deterministic, so re-running a night gives the same ids; the run's time in
    the hash keeps the part split off a profile from getting that profile's id back when it
    holds the smallest vertex the old id was made from."""
    return F.concat(F.lit("p"), F.lpad(F.lower(F.hex(F.xxhash64(component, run_at))), 16, "0"))


def assign_profile_ids(
    components: DataFrame, previous_map: DataFrame | None, run_at: Column
) -> tuple[DataFrame, DataFrame]:
    """(vertex ``id``, ``profile_id``, ``profile_created_at``) per vertex, and the merges.

    ``components``: (id, component). ``previous_map``: last night's (vertex_id, profile_id,
    profile_created_at), or None on a new installation.
    """
    if previous_map is None:
        assigned = components.select(
            "id",
            new_profile_id(F.col("component"), run_at).alias("profile_id"),
            run_at.alias("profile_created_at"),
        )
        empty = assigned.sparkSession.createDataFrame(
            [], "retired_profile_id string, profile_id string, merged_at timestamp, reason string"
        )
        return assigned, empty

    old = previous_map.select(
        F.col("vertex_id").alias("id"), F.col("profile_id").alias("old_pid"), "profile_created_at"
    )
    members = components.join(old, "id", "left")
    # How many of each old profile's identifiers landed in each component.
    spread = (
        members.where(F.col("old_pid").isNotNull())
        .groupBy("old_pid", "component")
        .agg(F.count(F.lit(1)).alias("n"), F.min("profile_created_at").alias("created_at"))
    )
    # Split rule: an old profile is owned by the component with most of its identifiers.
    by_size = Window.partitionBy("old_pid").orderBy(F.col("n").desc(), F.col("component"))
    owned = spread.withColumn("_r", F.row_number().over(by_size)).where(F.col("_r") == 1)
    # Merge rule: of the old profiles a component owns, the oldest survives.
    by_age = Window.partitionBy("component").orderBy(F.col("created_at"), F.col("old_pid"))
    ranked = owned.withColumn("_age", F.row_number().over(by_age))
    survivors = ranked.where(F.col("_age") == 1).select(
        "component",
        F.col("old_pid").alias("profile_id"),
        F.col("created_at").alias("profile_created_at"),
    )
    merges = ranked.where(F.col("_age") > 1).join(
        survivors.select("component", F.col("profile_id").alias("survivor")), "component"
    )
    merge_history = merges.select(
        F.col("old_pid").alias("retired_profile_id"),
        F.col("survivor").alias("profile_id"),
        run_at.alias("merged_at"),
        F.lit("merged: identifiers of both profiles are now linked").alias("reason"),
    )
    assigned = components.join(survivors, "component", "left").select(
        "id",
        F.coalesce("profile_id", new_profile_id(F.col("component"), run_at)).alias("profile_id"),
        F.coalesce("profile_created_at", run_at).alias("profile_created_at"),
    )
    return assigned, merge_history
