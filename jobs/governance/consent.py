"""audit.consent_history: every change of a profile's effective consent, kept for audit.

gold.profiles holds tonight's consent per profile and purpose (the latest capture wins across
sources and merged identities, jobs/profiles/golden.py). Each night this step compares it
with the last state the history recorded on earlier nights and appends one row per
(profile, purpose) whose value or lawful basis changed. The table is rebuilt whole from the
published history of other nights plus tonight's changes, so re-running a night replaces
that night's rows instead of doubling them, and nothing recorded on another night is lost.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from cdp.core import catalog
from schemas.gold import CONSENT_HISTORY
from schemas.xdm import PURPOSES

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from cdp.core.settings import Settings

log = logging.getLogger(__name__)

TABLE = "audit.consent_history"


def consent_states(profiles: DataFrame) -> DataFrame:
    """gold.profiles' consent columns, one row per (profile, purpose): value, captured_at,
    source, record_id, lawful_basis, is_allowed."""
    per_purpose = F.explode(
        F.array(
            *[
                F.struct(
                    F.lit(p).alias("purpose"),
                    F.col(f"consent_{p}").alias("value"),
                    F.col(f"consent_{p}_at").alias("captured_at"),
                    F.col(f"consent_{p}_source").alias("source"),
                    F.col(f"consent_{p}_record_id").alias("record_id"),
                    F.col(f"consent_{p}_basis").alias("lawful_basis"),
                    F.col(f"is_{p}_allowed").alias("is_allowed"),
                )
                for p in PURPOSES
            ]
        )
    )
    return profiles.select("profile_id", per_purpose.alias("_s")).select("profile_id", "_s.*")


def last_recorded(history: DataFrame) -> DataFrame:
    """The latest history row per (profile, purpose)."""
    latest = Window.partitionBy("profile_id", "purpose").orderBy(
        F.col("batch_date").desc(), F.col("recorded_at").desc()
    )
    return history.withColumn("_pos", F.row_number().over(latest)).where("_pos = 1").drop("_pos")


def consent_changes(
    profiles: DataFrame,
    history: DataFrame,
    batch_date: dt.date,
    recorded_at: dt.datetime | Column | None = None,
) -> DataFrame:
    """Tonight's history rows: each (profile, purpose) whose value or lawful basis differs from
    the last row ``history`` holds for it before ``batch_date``. A purpose never captured and
    never recorded (unknown, no capture) is no change."""
    before = history.where(F.col("batch_date") < F.lit(batch_date))
    previous = last_recorded(before).select(
        "profile_id",
        "purpose",
        F.col("value").alias("previous_value"),
        F.col("lawful_basis").alias("_previous_basis"),
    )
    now = consent_states(profiles).join(previous, ["profile_id", "purpose"], "left")
    first = F.col("previous_value").isNull()
    never_captured = (F.col("value") == "unknown") & F.col("captured_at").isNull()
    changed = F.when(first, ~never_captured).otherwise(
        (F.col("value") != F.col("previous_value"))
        | ~F.col("lawful_basis").eqNullSafe(F.col("_previous_basis"))
    )
    if recorded_at is None:
        recorded_at = F.current_timestamp()
    elif not isinstance(recorded_at, Column):
        recorded_at = F.lit(recorded_at).cast("timestamp")
    rows = now.where(changed).withColumns(
        {"batch_date": F.lit(batch_date), "recorded_at": recorded_at}
    )
    return CONSENT_HISTORY.conform(rows)


def consent_history(
    profiles: DataFrame,
    history: DataFrame | None,
    batch_date: dt.date,
    recorded_at: dt.datetime | Column | None = None,
) -> DataFrame:
    """The whole audit.consent_history after ``batch_date``: ``history``'s rows of other
    nights plus tonight's changes (``history`` None: the table does not exist yet)."""
    changes = consent_changes(
        profiles,
        history if history is not None else empty_history(profiles.sparkSession),
        batch_date,
        recorded_at,
    )
    if history is None:
        return changes
    kept = CONSENT_HISTORY.conform(history.where(F.col("batch_date") != F.lit(batch_date)))
    return kept.unionByName(changes)


def empty_history(spark: SparkSession) -> DataFrame:
    """An empty audit.consent_history."""
    return spark.createDataFrame([], CONSENT_HISTORY.struct())


def run_consent_history(
    spark: SparkSession, settings: Settings, batch_date: str, profiles: DataFrame
) -> int:
    """Stage audit.consent_history for ``batch_date`` from tonight's ``profiles``; returns the
    number of changes recorded tonight."""
    wh, day = settings.paths.warehouse, dt.date.fromisoformat(batch_date)
    published = catalog.read(spark, TABLE, wh) if catalog.exists(spark, TABLE, wh) else None
    # Staged, not published: the quality gate checks it and `publish` replaces the published
    # table, which is read here and so must not be overwritten while being read.
    catalog.write_staged(consent_history(profiles, published, day), TABLE, wh)
    changes = catalog.read_staged(spark, TABLE, wh).where(F.col("batch_date") == F.lit(day)).count()
    log.info("consent history %s: %d changes", batch_date, changes)
    return changes
