"""Identity main: silver identities -> graph -> components -> gold.identity_map, by table name.

The graph is rebuilt from all of silver each night (identifiers seen years apart still link);
profile ids stay stable through ``assign_profile_ids`` against last night's map.

``resolve`` is the pure core, in named steps: guard rails (blocked, shared and household
identifiers), the person graph (deterministic links between person records, then splink's
probabilistic matches), behaviour attaching to persons, connected components over every
surviving edge, and the profile limits. ``run`` reads silver and writes the tables.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from cdp.core import catalog, storage
from cdp.core.errors import CdpError
from cdp.core.spark import scratch_checkpoints
from jobs.identity import attachment, matching
from jobs.identity.attribution import record_profiles
from jobs.identity.components import connected_components
from jobs.identity.graph import (
    apply_blocklist,
    bridging_records,
    components_holding,
    edges,
    household_identifiers,
    observations,
    shared_identifiers,
    still_held,
    told_traits,
    untold_records_of_torn_persons,
    vertices,
)
from jobs.identity.limits import enforce_profile_limits
from jobs.identity.profile_ids import assign_profile_ids
from schemas.gold import IDENTITY_MAP, PROFILE_MERGES, RECORD_PROFILES
from schemas.xdm import SCHEMAS

if TYPE_CHECKING:
    from cdp.core.settings import IdentitySettings, Settings

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
    rows = vertices_df.join(assigned, "id").select(
        "namespace",
        F.col("value").alias("identifier"),
        "profile_id",
        "first_seen",
        "last_seen",
        "records",
        F.col("id").alias("vertex_id"),
        "profile_created_at",
    )
    return IDENTITY_MAP.conform(rows)


def _check_no_collisions(vertices_df: DataFrame) -> None:
    clash = vertices_df.groupBy("id").count().where("count > 1").limit(1).collect()
    if clash:
        raise CdpError(f"identity vertex id collision on id {clash[0]['id']}; refusing to link")


def _check_one_profile_per_component(components: DataFrame, assigned: DataFrame) -> None:
    """A profile id that two components share would show one person's data to another."""
    pairs = components.join(assigned, "id").select("component", "profile_id").distinct()
    clash = pairs.groupBy("profile_id").count().where("count > 1").limit(1).collect()
    if clash:
        raise CdpError(f"profile id {clash[0]['profile_id']} given to two components; refusing")


def _stage_merges(spark: SparkSession, merges: DataFrame, warehouse: str) -> None:
    """Merge history is append-only: tonight's staged table is the published history plus
    tonight's new merges (a retired id already recorded keeps its row), so publishing can
    replace the table whole, and a re-run of the same date adds and loses nothing."""
    staged = merges.dropDuplicates(["retired_profile_id"])
    if catalog.exists(spark, "gold.profile_merges", warehouse):
        history = catalog.read(spark, "gold.profile_merges", warehouse)
        new = staged.join(history.select("retired_profile_id"), "retired_profile_id", "left_anti")
        staged = history.unionByName(new)
    catalog.write_staged(PROFILE_MERGES.conform(staged), "gold.profile_merges", warehouse)


def merge_components(
    spark: SparkSession, det_components: DataFrame, prob_edges: DataFrame
) -> DataFrame:
    """Join deterministic components that probabilistic edges connect (a small second graph:
    its vertices are the components the matched records sit in)."""
    ends = prob_edges.select("src", "dst")
    comp = det_components.select(F.col("id"), F.col("component"))
    links = (
        ends.join(comp.withColumnRenamed("id", "src").withColumnRenamed("component", "a"), "src")
        .join(comp.withColumnRenamed("id", "dst").withColumnRenamed("component", "b"), "dst")
        .where(F.col("a") != F.col("b"))
        .select(F.col("a").alias("src"), F.col("b").alias("dst"))
    )
    if links.limit(1).count() == 0:
        return det_components
    nodes = links.select(F.col("src").alias("id")).union(links.select(F.col("dst"))).distinct()
    joined = connected_components(spark, nodes, links).withColumnRenamed("component", "joined")
    return det_components.join(
        joined.withColumnRenamed("id", "component"), "component", "left"
    ).select("id", F.coalesce("joined", "component").alias("component"))


def _probabilistic_edges(
    spark: SparkSession,
    settings: IdentitySettings,
    people: DataFrame,
    det_components: DataFrame,
    shared: DataFrame,
    model: dict | None = None,
) -> tuple[DataFrame, matching.MatchResult] | None:
    """Edges from splink matches between person records the person graph has not joined,
    and the match result (its model is saved for later nights).

    ``det_components``: (id, component) of the deterministic person graph.
    """
    household = shared.where(F.col("reason") == "household_identifier")
    records = matching.own_contacts(
        matching.match_input(people, settings.blocked_values), household
    ).localCheckpoint()
    scored = matching.scored_pairs(spark, records, settings, model)
    if scored is None:
        return None
    found = matching.probabilistic_edges(scored.pairs, records)
    # A blocked or shared source key stays out of linking, whatever the model says.
    cut = shared.select("namespace", "value")
    found = found.join(
        cut.withColumnRenamed("namespace", "src_namespace").withColumnRenamed("value", "src_value"),
        ["src_namespace", "src_value"],
        "left_anti",
    ).join(
        cut.withColumnRenamed("namespace", "dst_namespace").withColumnRenamed("value", "dst_value"),
        ["dst_namespace", "dst_value"],
        "left_anti",
    )
    comp = det_components.select("id", "component")
    edges = (
        found.join(comp.withColumnRenamed("id", "src").withColumnRenamed("component", "_a"), "src")
        .join(comp.withColumnRenamed("id", "dst").withColumnRenamed("component", "_b"), "dst")
        .where(F.col("_a") != F.col("_b"))
        .drop("_a", "_b")
        .localCheckpoint()
    )
    return edges, scored


def _bridging_records(
    spark: SparkSession,
    kept: DataFrame,
    shared: DataFrame,
    linking: DataFrame,
    people: DataFrame,
    persons: DataFrame,
) -> DataFrame | None:
    """Person records that join two people who cannot be one while telling nothing of whose
    they are (``graph.untold_records_of_torn_persons``, ``graph.bridging_records``), as cut
    rows with their record_id; None when there are none, the common case, which costs a few
    joins over the components that hold a record telling nothing. Their links are dropped;
    their identifiers still link through other records."""
    is_person = F.col("source").isin(*attachment.PERSON_SOURCES)
    person_obs = linking.where(is_person)
    traits = told_traits(people).localCheckpoint()
    suspects = untold_records_of_torn_persons(person_obs, traits, persons).localCheckpoint()
    if suspects.limit(1).count() == 0:
        return None
    # The person graph without the suspects' links (person records' edges only), over the
    # components that hold a suspect: no edge leaves a component, so the rest of the graph
    # cannot change what they fall apart into.
    torn_ids = components_holding(person_obs, suspects, persons).localCheckpoint()
    person_edges = edges(
        kept.where(is_person).join(suspects, "record_id", "left_anti"), shared
    ).join(torn_ids.withColumnRenamed("id", "src"), "src", "left_semi")
    apart = connected_components(spark, torn_ids, person_edges)
    bridges = bridging_records(person_obs, traits, suspects, apart).localCheckpoint()
    return None if bridges.limit(1).count() == 0 else bridges


@dataclass
class Resolution:
    """What ``resolve`` found: the graph, its profiles (components) and every cut."""

    vertices: DataFrame  # one row per linking identifier: id, namespace, value, first/last seen
    edges: DataFrame  # the edges that linked (deterministic and probabilistic)
    persons: DataFrame  # (id, component) of the person graph (tier 1)
    components: DataFrame  # (id, component): one component per profile
    cuts: DataFrame  # (namespace, value, reason, detail, records) for audit.identity_cuts
    match: matching.MatchResult | None = None  # the person model's result, when it ran


def resolve(
    spark: SparkSession,
    people: DataFrame,
    obs: DataFrame,
    settings: IdentitySettings,
    match_model: dict | None = None,
) -> Resolution:
    """Observations -> profiles, every guard rail applied (the pure core of the identity job).

    ``people``: silver person records (only ``record_id`` and ``first_name_key`` are needed
    when probabilistic matching is off); ``obs``: ``graph.observations`` of all records;
    ``match_model``: a saved person model to score with instead of training one.
    """
    kept, blocked = apply_blocklist(obs, settings.blocked_values)
    # Checkpointed: the household check's plan is deep (name groups, pairs, centres), and
    # every later step joins against ``shared``; on a Spark Connect client a plan that deep
    # is refused outright ("Exceeded upb_DecodeOptions_MaxDepth").
    shared = (
        shared_identifiers(kept, settings.max_neighbours)
        .unionByName(household_identifiers(kept, people))
        .localCheckpoint()
    )
    linking = kept.join(shared.select("namespace", "value"), ["namespace", "value"], "left_anti")
    vertex_df = vertices(linking).localCheckpoint()
    _check_no_collisions(vertex_df)
    det_edges = edges(kept, shared).localCheckpoint()

    # Tier 1, the person graph: person records' identifiers, their deterministic links, then
    # probabilistic matches between the persons that share no identifier.
    person_edges, event_edges = attachment.split_edges(det_edges)
    person_ids = attachment.person_vertices(linking)
    persons = connected_components(spark, person_ids, person_edges).localCheckpoint()
    bridges = _bridging_records(spark, kept, shared, linking, people, persons)
    bridge_cuts = shared.limit(0)
    if bridges is not None:
        det_edges = edges(kept.join(bridges, "record_id", "left_anti"), shared).localCheckpoint()
        person_edges, event_edges = attachment.split_edges(det_edges)
        persons = connected_components(spark, person_ids, person_edges).localCheckpoint()
        bridge_cuts = bridges.drop("record_id")
    prob_edges = match = None
    if settings.probabilistic_matching:
        found = _probabilistic_edges(spark, settings, people, persons, shared, match_model)
        if found is not None:
            prob_edges, match = found
    if prob_edges is not None:
        persons = merge_components(spark, persons, prob_edges).localCheckpoint()

    # Tier 2: behaviour attaches to persons and never joins two of them.
    event_edges, weak_cuts = attachment.corroborated(
        event_edges, vertex_df, settings.min_link_share
    )
    event_links, attach_cuts = attachment.attach_events(event_edges, persons)
    # A shared behavioural identifier (the family tablet's cookie) is nobody's: no profile.
    now_shared = attach_cuts.where(F.col("reason") == "links_several_persons")
    vertex_df = vertex_df.join(
        now_shared.select("namespace", "value"), ["namespace", "value"], "left_anti"
    ).localCheckpoint()
    edge_df = person_edges.unionByName(event_links)
    if prob_edges is not None:
        edge_df = edge_df.unionByName(prob_edges, allowMissingColumns=True)
    edge_df = edge_df.localCheckpoint()
    comps = connected_components(spark, vertex_df, edge_df)
    comps, limit_cuts = enforce_profile_limits(
        comps,
        vertex_df,
        edge_df,
        settings.max_per_profile,
        settings.max_profile_identifiers,
        persons,
    )
    cuts = (
        blocked.unionByName(shared)
        .unionByName(bridge_cuts)
        .unionByName(weak_cuts)
        .unionByName(attach_cuts)
        .unionByName(limit_cuts)
    )
    return Resolution(vertex_df, edge_df, persons, comps.localCheckpoint(), cuts, match)


def _model_folder(warehouse: str) -> str:
    return f"{warehouse.rstrip('/')}/_models/person_match"


def load_match_model(
    spark: SparkSession, warehouse: str, batch_date: str, max_age_days: int
) -> dict | None:
    """The newest saved person model trained for a date in (batch_date - max_age, batch_date],
    for the current comparisons; None means train tonight. Keyed by batch date, so re-running
    a date picks the same model again."""
    if max_age_days <= 0:
        return None
    day = dt.date.fromisoformat(batch_date)
    oldest = day - dt.timedelta(days=max_age_days - 1)
    fingerprint = matching.model_fingerprint()
    for name in reversed(storage.list_names(_model_folder(warehouse))):
        try:
            trained_for = dt.date.fromisoformat(name.removesuffix(".json"))
        except ValueError:
            continue
        if not oldest <= trained_for <= day:
            continue
        saved = json.loads(storage.read_text(f"{_model_folder(warehouse)}/{name}"))
        if saved.get("fingerprint") == fingerprint:
            log.info("person model: reusing the one trained for %s", trained_for)
            return saved["model"]
    return None


def save_match_model(spark: SparkSession, warehouse: str, batch_date: str, model: dict) -> None:
    """Keep tonight's trained person model for the next nights (and for audit)."""
    saved = {"fingerprint": matching.model_fingerprint(), "trained_for": batch_date, "model": model}
    uri = f"{_model_folder(warehouse)}/{batch_date}.json"
    storage.write_text(uri, json.dumps(saved, default=str, indent=1))


def run(spark: SparkSession, settings: Settings, batch_date: str) -> IdentityReport:
    """Resolve identities over all of silver as of ``batch_date``; splink's intermediate
    tables go to a checkpoint folder of this run's own, removed when it ends."""
    with scratch_checkpoints(spark, settings.paths.warehouse):
        return _run(spark, settings, batch_date)


def _run(spark: SparkSession, settings: Settings, batch_date: str) -> IdentityReport:
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
    people = people.where(upto)
    obs = observations(people, events.where(upto), lines.where(upto))
    obs = still_held(obs, people).localCheckpoint()
    saved = load_match_model(spark, wh, batch_date, settings.identity.model_max_age_days)
    r = resolve(spark, people, obs, settings.identity, saved)
    if r.match is not None and r.match.trained:
        save_match_model(spark, wh, batch_date, r.match.model)
    comps, vertex_df, edge_df = r.components, r.vertices, r.edges

    run_at = F.lit(dt.datetime.combine(day, dt.time(23, 59, 59))).cast("timestamp")
    cuts = r.cuts.select("*", F.lit(day).alias("batch_date"), run_at.alias("cut_at"))
    catalog.write(cuts, "audit.identity_cuts", wh, replace_where=f"batch_date = DATE'{batch_date}'")
    catalog.write(edge_df, "silver.identity_edges", wh, mode="overwrite", merge_schema=True)

    previous = None
    if catalog.exists(spark, "gold.identity_map", wh):
        previous = catalog.read(spark, "gold.identity_map", wh).select(
            "vertex_id", "profile_id", "profile_created_at"
        )
        # Last night's published map (tonight's is staged until the quality gate passes),
        # materialised once: assignment and the checks below read it.
        previous = previous.localCheckpoint()
    assigned, merges = assign_profile_ids(comps, previous, run_at)
    assigned = assigned.localCheckpoint()
    _check_one_profile_per_component(comps, assigned)
    identity_map = build_identity_map(vertex_df, assigned).localCheckpoint()
    catalog.write_staged(identity_map, "gold.identity_map", wh)
    _stage_merges(spark, merges, wh)
    catalog.write_staged(
        RECORD_PROFILES.conform(record_profiles(obs, identity_map)), "gold.record_profiles", wh
    )

    staged = catalog.read_staged(spark, "gold.identity_map", wh)
    report = IdentityReport(
        batch_date,
        identifiers=staged.count(),
        edges=catalog.read(spark, "silver.identity_edges", wh).count(),
        profiles=staged.select("profile_id").distinct().count(),
        cuts=catalog.read(spark, "audit.identity_cuts", wh)
        .where(F.col("batch_date") == F.lit(day))
        .count(),
        merges=merges.count(),
    )
    log.info("identity %s: %s", batch_date, report)
    return report
