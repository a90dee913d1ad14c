"""Segments main: gold.segment_membership and gold.segments for one batch date, by name.

Reads tonight's staged gold.profiles, the propensity scores (tonight's staged ones, else the
published ones, else none: score columns null) and the membership the night before left
(``previous_state``);
evaluates every definition (rule segments in one pass, then each look-alike after its
seed) and stages both tables whole (``catalog.write_staged``) for the quality gate. The
definitions are loaded and every rule checked before any table is read, so a refused rule
stops the step before Spark runs anything.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from cdp.core import catalog
from cdp.core.errors import CdpError
from jobs.segments.audience import AUDIENCE_TYPES, audience
from jobs.segments.definitions import SegmentDefinition, load_definitions
from jobs.segments.lookalike import lookalike
from jobs.segments.membership import (
    lookalike_qualifying,
    rule_qualifying,
    segment_counts,
    update_membership,
)
from jobs.segments.rules import compile_rule
from schemas.gold import SEGMENTS

if TYPE_CHECKING:
    from cdp.core.settings import Settings

log = logging.getLogger(__name__)

PROFILES, SCORES = "gold.profiles", "gold.propensity_scores"
MEMBERSHIP, SEGMENTS_TABLE = "gold.segment_membership", "gold.segments"


def _scores(spark: SparkSession, warehouse: str) -> DataFrame | None:
    if catalog.exists_staged(spark, SCORES, warehouse):
        return catalog.read_staged(spark, SCORES, warehouse)
    if catalog.exists(spark, SCORES, warehouse):
        return catalog.read(spark, SCORES, warehouse)
    return None


def previous_state(spark: SparkSession, warehouse: str, day: dt.date) -> DataFrame | None:
    """The membership as the build of the night before ``day`` left it.

    Normally the published table; when it was already built for ``day`` or later (a night
    run again, a backfill), the newest earlier Delta version built for an earlier night, so
    re-running a night gives the same entries and exits."""
    if not catalog.exists(spark, MEMBERSHIP, warehouse):
        return None
    current = catalog.read(spark, MEMBERSHIP, warehouse)
    latest = current.agg(F.max("as_of")).first()[0]
    if latest is None or latest < day:
        return current
    path = catalog.table_path(MEMBERSHIP, warehouse)
    for version in catalog.delta_versions(spark, path):
        older = spark.read.format("delta").option("versionAsOf", version).load(path)
        try:
            as_of = older.agg(F.max("as_of")).first()[0]
        except Exception:  # its files were vacuumed (a GDPR erasure): no older state left
            log.warning("segments: no state before %s left to re-run from; starting afresh", day)
            return None
        if as_of is None or as_of < day:
            return older
    return None


def evaluate(
    definitions: list[SegmentDefinition], people: DataFrame, training_purpose: str = "analytics"
) -> DataFrame:
    """Tonight's qualifying rows of every definition (in evaluation order) over the
    audience ``people``: rule segments in one pass, each look-alike seeded by its seed's
    qualifying profiles."""
    rules = [
        (d.name, d.purpose, compile_rule(d.checked_rule(AUDIENCE_TYPES), people, d.where()))
        for d in definitions
        if d.kind == "rule"
    ]
    qualifying = rule_qualifying(people, rules)
    for d in definitions:
        if d.kind != "lookalike":
            continue
        seed = qualifying.where(F.col("segment") == d.seed).select("profile_id")
        picked = lookalike(people, seed, d.purpose, d.size or 0, training_purpose, d.name)
        qualifying = qualifying.unionByName(lookalike_qualifying(d.name, picked))
    return qualifying


def segments_rows(
    definitions: list[SegmentDefinition], counts: dict[str, dict[str, int]], as_of: dt.date
) -> list[tuple]:
    """gold.segments rows (SEGMENTS field order), one per definition."""
    return [
        (
            d.name,
            d.description,
            d.purpose,
            d.kind,
            d.rule,
            d.seed,
            counts[d.name]["members"],
            counts[d.name]["entered"],
            counts[d.name]["exited"],
            as_of,
        )
        for d in definitions
    ]


def run_segments(
    spark: SparkSession,
    settings: Settings,
    batch_date: str,
    built_at: dt.datetime | None = None,
) -> dict[str, dict[str, int]]:
    """Stage gold.segment_membership and gold.segments as of ``batch_date``.

    ``built_at`` stamps tonight's entries and exits; by default the end of the batch date
    (UTC), the business time the build describes, so re-running a night stamps the same
    times. Returns, for Airflow's XCom, ``{segment: {"members": n, "entered": n,
    "exited": n}}``.
    """
    day = dt.date.fromisoformat(batch_date)
    built_at = built_at or dt.datetime.combine(day + dt.timedelta(days=1), dt.time())
    wh = settings.paths.warehouse
    # Every definition and rule is checked first: a refused rule never reaches Spark.
    definitions = load_definitions(settings.segments.definitions)
    if not catalog.exists_staged(spark, PROFILES, wh):
        raise CdpError("segments need tonight's gold.profiles; run the profiles step first")
    previous = previous_state(spark, wh, day)

    # The audience feeds one rule pass, every look-alike's training and scoring, and the
    # membership update: computed once.
    people = audience(catalog.read_staged(spark, PROFILES, wh), _scores(spark, wh), day)
    people = people.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        qualifying = evaluate(definitions, people, settings.propensity.purpose)
        purposes = {d.name: d.purpose for d in definitions}
        membership = update_membership(previous, qualifying, people, purposes, built_at, day)
        catalog.write_staged(membership, MEMBERSHIP, wh)
    finally:
        people.unpersist()

    staged = catalog.read_staged(spark, MEMBERSHIP, wh)
    names = [d.name for d in definitions]
    counts = {n: {"members": 0, "entered": 0, "exited": 0} for n in names}
    for row in segment_counts(previous, staged, names, built_at).collect():
        if row["segment"] in counts:
            counts[row["segment"]] = {
                "members": row["members"],
                "entered": row["entered"],
                "exited": row["exited"],
            }
    summary = spark.createDataFrame(segments_rows(definitions, counts, day), SEGMENTS.struct())
    catalog.write_staged(summary, SEGMENTS_TABLE, wh)
    for name, c in counts.items():
        log.info(
            "segment %s %s: %d members, %d entered, %d exited",
            name,
            batch_date,
            c["members"],
            c["entered"],
            c["exited"],
        )
    return counts
