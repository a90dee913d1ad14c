"""Identity main: silver identities -> graph -> components -> gold.identity_map, by table name.

The graph is rebuilt from all of silver each night (identifiers seen years apart still link);
profile ids stay stable through ``assign_profile_ids`` against last night's map.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from cdp import catalog
from cdp.errors import CdpError
from jobs.identity.components import connected_components
from jobs.identity.graph import (
    apply_blocklist,
    edges,
    household_identifiers,
    observations,
    shared_identifiers,
    vertices,
)
from jobs.identity.profile_ids import assign_profile_ids
from schemas.xdm import SCHEMAS

if TYPE_CHECKING:
    from cdp.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class IdentityReport:
    """What one identity run built."""

    batch_date: str
    identifiers: int
    edges: int
    profiles: int
    cuts: int
    merges: int


def build_identity_map(vertices_df: DataFrame, assigned: DataFrame) -> DataFrame:
    """gold.identity_map rows: one per (namespace, identifier)."""
    return vertices_df.join(assigned, "id").select(
        "namespace",
        F.col("value").alias("identifier"),
        "profile_id",
        "first_seen",
        "last_seen",
        F.col("records").cast("long").alias("records"),
        F.col("id").alias("vertex_id"),
        "profile_created_at",
    )


def _check_no_collisions(vertices_df: DataFrame) -> None:
    clash = vertices_df.groupBy("id").count().where("count > 1").limit(1).collect()
    if clash:
        raise CdpError(f"identity vertex id collision on id {clash[0]['id']}; refusing to link")


def _append_new_merges(spark: SparkSession, merges: DataFrame, warehouse: str) -> None:
    """Merge history is append-only; a re-run of the same date must not add or lose rows."""
    if not catalog.exists(spark, "gold.profile_merges", warehouse):
        catalog.write(merges, "gold.profile_merges", warehouse, mode="append")
        return
    from delta.tables import DeltaTable

    target = DeltaTable.forPath(spark, catalog.table_path("gold.profile_merges", warehouse))
    (
        target.alias("t")
        .merge(merges.alias("s"), "t.retired_profile_id = s.retired_profile_id")
        .whenNotMatchedInsertAll()
        .execute()
    )


def run(spark: SparkSession, settings: Settings, batch_date: str) -> IdentityReport:
    """Resolve identities over all of silver as of ``batch_date``."""
    wh = settings.paths.warehouse
    day = dt.date.fromisoformat(batch_date)
    tables = ("silver.person_records", "silver.experience_events", "silver.commerce_lines")
    if not any(catalog.exists(spark, t, wh) for t in tables):
        raise CdpError("identity needs the silver tables; run the silver step first")
    # A source that never landed yet (a new installation) counts as empty.
    people, events, lines = (
        catalog.read(spark, t, wh)
        if catalog.exists(spark, t, wh)
        else spark.createDataFrame([], SCHEMAS[t].struct())
        for t in tables
    )
    upto = F.col("batch_date") <= F.lit(day)
    obs = observations(people.where(upto), events.where(upto), lines.where(upto))
    kept, blocked = apply_blocklist(obs, settings.identity.blocked_values)
    shared = shared_identifiers(kept, settings.identity.max_neighbours).unionByName(
        household_identifiers(kept, people.where(upto))
    )
    linking = kept.join(shared.select("namespace", "value"), ["namespace", "value"], "left_anti")

    run_at = F.lit(dt.datetime.combine(day, dt.time(23, 59, 59))).cast("timestamp")
    cuts = blocked.unionByName(shared).select(
        "*", F.lit(day).alias("batch_date"), run_at.alias("cut_at")
    )
    catalog.write(cuts, "audit.identity_cuts", wh, replace_where=f"batch_date = DATE'{batch_date}'")

    edge_df = edges(kept, shared)
    catalog.write(edge_df, "silver.identity_edges", wh, mode="overwrite")
    vertex_df = vertices(linking)
    _check_no_collisions(vertex_df)
    edge_df = catalog.read(spark, "silver.identity_edges", wh)
    comps = connected_components(spark, vertex_df, edge_df)

    previous = None
    if catalog.exists(spark, "gold.identity_map", wh):
        previous = catalog.read(spark, "gold.identity_map", wh).select(
            "vertex_id", "profile_id", "profile_created_at"
        )
        # Materialise last night's map before the write below replaces it.
        previous = previous.localCheckpoint()
    assigned, merges = assign_profile_ids(comps, previous, run_at)
    identity_map = build_identity_map(vertex_df, assigned).localCheckpoint()
    catalog.write(identity_map, "gold.identity_map", wh, mode="overwrite")
    _append_new_merges(spark, merges, wh)

    published = catalog.read(spark, "gold.identity_map", wh)
    report = IdentityReport(
        batch_date,
        identifiers=published.count(),
        edges=catalog.read(spark, "silver.identity_edges", wh).count(),
        profiles=published.select("profile_id").distinct().count(),
        cuts=catalog.read(spark, "audit.identity_cuts", wh)
        .where(F.col("batch_date") == F.lit(day))
        .count(),
        merges=merges.count(),
    )
    log.info("identity %s: %s", batch_date, report)
    return report
