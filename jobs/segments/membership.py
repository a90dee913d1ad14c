"""Segment membership over time: who qualifies tonight, who entered, stayed and exited.

Tonight's qualifying set of a segment is the profiles matching its rule (or picked by its
look-alike) *and* allowed for its purpose (``is_<purpose>_allowed``). Against last night's
published gold.segment_membership, per (segment, profile):

- qualifies, was not a member (new, or exited before): enters - ``entered_at`` = the build
  time, ``exited_at`` null;
- qualifies, was a member: stays, keeping its ``entered_at``;
- does not qualify, was a member: exits - ``is_member`` false, ``exited_at`` = the build
  time, ``entered_at`` and the look-alike similarity kept (rank cleared: it ranks members);
- does not qualify, had exited: stays as it was.

The table holds only profiles allowed for the segment's purpose: a row whose profile
withdrew consent, or left gold.profiles (merged into another profile, erased), is removed
altogether, and counts as an exit of tonight when it was a member. A segment no longer
defined disappears. The build time identifies tonight's changes, so the counts are read
back from the tables (:func:`segment_counts`) rather than carried alongside.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from schemas.gold import SEGMENT_MEMBERSHIP
from schemas.xdm import PURPOSES

KEY = ["segment", "profile_id"]
QUALIFYING = ("segment", "profile_id", "similarity", "rank", "top_factors")


def allowed_for(purpose: Column) -> Column:
    """Whether the row's profile is allowed for the purpose named by ``purpose`` (reads the
    audience's ``is_<p>_allowed`` columns); false for an unknown purpose."""
    allowed = F.lit(False)
    for p in PURPOSES:
        allowed = F.when(purpose == F.lit(p), F.col(f"is_{p}_allowed")).otherwise(allowed)
    return F.coalesce(allowed, F.lit(False))


def rule_qualifying(audience: DataFrame, rules: Sequence[tuple[str, str, Column]]) -> DataFrame:
    """Tonight's qualifying rows (:data:`QUALIFYING`) of every rule segment in one pass over
    the audience: ``rules`` holds (segment, purpose, condition). A null condition does not
    qualify."""
    hits = [
        F.when(condition & F.col(f"is_{purpose}_allowed"), F.lit(name))
        for name, purpose, condition in rules
    ]
    if not hits:
        return _qualifying(
            audience.select("profile_id", F.lit(None).cast("string").alias("segment")).limit(0)
        )
    matched = audience.select(
        "profile_id", F.explode(F.array_compact(F.array(*hits))).alias("segment")
    )
    return _qualifying(matched)


def _qualifying(rows: DataFrame) -> DataFrame:
    return rows.select(
        F.col("segment").cast("string"),
        F.col("profile_id").cast("string"),
        F.lit(None).cast("double").alias("similarity"),
        F.lit(None).cast("int").alias("rank"),
        F.lit(None).cast("array<string>").alias("top_factors"),
    )


def lookalike_qualifying(segment: str, picked: DataFrame) -> DataFrame:
    """A look-alike's picks (jobs/segments/lookalike.py) as qualifying rows."""
    return picked.select(
        F.lit(segment).alias("segment"),
        F.col("profile_id").cast("string"),
        F.col("similarity").cast("double"),
        F.col("rank").cast("int"),
        F.col("top_factors").cast("array<string>"),
    )


def _purpose_of(purposes: Mapping[str, str]) -> Column:
    if not purposes:
        return F.lit(None).cast("string")
    pairs = [F.lit(x) for item in sorted(purposes.items()) for x in item]
    return F.create_map(*pairs)[F.col("segment")]


def update_membership(
    previous: DataFrame | None,
    qualifying: DataFrame,
    audience: DataFrame,
    purposes: Mapping[str, str],
    built_at: dt.datetime,
    as_of: dt.date,
) -> DataFrame:
    """Tonight's gold.segment_membership from last night's (``previous``, None on the first
    night), tonight's ``qualifying`` rows (already consent-filtered), the audience (for who
    still exists and what they allow) and ``purposes`` (segment -> purpose, every segment
    defined tonight)."""
    build = F.lit(built_at).cast("timestamp")
    today = qualifying.select(*QUALIFYING).withColumn("_today", F.lit(True))
    if previous is None or not purposes:
        kept = today.select(*KEY).limit(0)
        prev = kept.select(
            *KEY,
            F.lit(None).cast("boolean").alias("_was_member"),
            F.lit(None).cast("timestamp").alias("_entered_at"),
            F.lit(None).cast("timestamp").alias("_exited_at"),
            F.lit(None).cast("double").alias("_similarity"),
            F.lit(None).cast("array<string>").alias("_top_factors"),
        )
    else:
        permissions = audience.select("profile_id", *[F.col(f"is_{p}_allowed") for p in PURPOSES])
        prev = (
            previous.where(F.col("segment").isin(sorted(purposes)))
            # Inner join: a profile gone from gold.profiles (merged, erased) leaves the table.
            .join(permissions, "profile_id")
            .where(allowed_for(_purpose_of(purposes)))
            .select(
                *KEY,
                F.col("is_member").alias("_was_member"),
                F.col("entered_at").alias("_entered_at"),
                F.col("exited_at").alias("_exited_at"),
                F.col("similarity").alias("_similarity"),
                F.col("top_factors").alias("_top_factors"),
            )
        )
    joined = prev.join(today, KEY, "full")
    now = F.col("_today").isNotNull()
    stays = now & F.coalesce(F.col("_was_member"), F.lit(False))
    leaves = ~now & F.col("_was_member")
    rows = joined.select(
        *KEY,
        _purpose_of(purposes).alias("purpose"),
        now.alias("is_member"),
        F.when(stays, F.col("_entered_at"))
        .when(now, build)
        .otherwise(F.col("_entered_at"))
        .alias("entered_at"),
        F.when(now, F.lit(None).cast("timestamp"))
        .when(leaves, build)
        .otherwise(F.col("_exited_at"))
        .alias("exited_at"),
        F.when(now, F.col("similarity")).otherwise(F.col("_similarity")).alias("similarity"),
        F.when(now, F.col("rank")).alias("rank"),
        F.when(now, F.col("top_factors")).otherwise(F.col("_top_factors")).alias("top_factors"),
        F.lit(as_of).cast("date").alias("as_of"),
    )
    return SEGMENT_MEMBERSHIP.conform(rows)


def segment_counts(
    previous: DataFrame | None,
    current: DataFrame,
    segments: Sequence[str],
    built_at: dt.datetime,
) -> DataFrame:
    """Per segment of ``segments``: members, entered and exited tonight. Exits are rows that
    exited by the rule plus last night's members whose row was removed (consent withdrawn,
    profile gone). Segments without rows are absent (read them as zeros)."""
    build = F.lit(built_at).cast("timestamp")
    tonight = current.groupBy("segment").agg(
        F.count_if(F.col("is_member")).alias("members"),
        F.count_if(F.col("is_member") & (F.col("entered_at") == build)).alias("entered"),
        F.count_if(F.col("exited_at") == build).alias("exited_by_rule"),
    )
    if previous is None:
        removed = tonight.select("segment", F.lit(0).cast("bigint").alias("removed")).limit(0)
    else:
        removed = (
            previous.where(F.col("is_member") & F.col("segment").isin(list(segments)))
            .select(*KEY)
            .join(current.select(*KEY), KEY, "left_anti")
            .groupBy("segment")
            .agg(F.count(F.lit(1)).alias("removed"))
        )
    zero = F.lit(0).cast("bigint")
    return tonight.join(removed, "segment", "full").select(
        "segment",
        F.coalesce(F.col("members"), zero).alias("members"),
        F.coalesce(F.col("entered"), zero).alias("entered"),
        (F.coalesce(F.col("exited_by_rule"), zero) + F.coalesce(F.col("removed"), zero)).alias(
            "exited"
        ),
    )
