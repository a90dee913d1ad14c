"""Point-in-time features and labels for the propensity models.

Every feature is computed *as of a cutoff*: only purchases and web/app events dated on or
before the cutoff day are read, so a training set built at a cutoff in the past sees what the
nightly build saw that night, and its label (what happened in the days after the cutoff)
never leaks into its features. The same function builds tonight's scoring features with the
batch date as the cutoff.

Inputs are event-level tables with their own timestamps (gold.purchases, silver
experience events through gold.record_profiles), never the profile snapshot's totals, which
already know the future of a past cutoff. The columns read are checked against the
data-usage labels (jobs/governance/usage.py): a column labelled no-data-science (C9) cannot
become a feature. Behaviour of a source counts only for profiles whose consent lets that
source feed them (governance.source_purposes), as in gold.profiles.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from cdp.core.errors import CdpError
from jobs.governance.usage import feature_columns

# The columns each input may contribute; checked against the labels when features are built.
PURCHASE_INPUTS = ("profile_id", "order_id", "order_date", "is_purchase", "channel", "items",
                   "amount_reporting", "top_category")  # fmt: skip
EVENT_INPUTS = ("event_id", "event_ts", "channel", "event_type")

# Days since an event that never happened: larger than any history, so trees split it off.
NEVER = 9999.0

# Event types that signal buying intent.
INTENT_EVENTS = ("product_view", "add_to_cart")


def checked_inputs(table: str, columns: Iterable[str]) -> list[str]:
    """``columns`` of ``table`` if none is labelled no-data-science; else a one-line error."""
    columns = list(columns)
    allowed = set(feature_columns(table, columns))
    refused = [c for c in columns if c not in allowed]
    if refused:
        raise CdpError(
            f"{table}: column(s) {', '.join(refused)} are labelled no data science (C9) and "
            "cannot feed a model"
        )
    return columns


def web_activity(experience_events: DataFrame, record_profiles: DataFrame) -> DataFrame:
    """Web and app events with the profile behind each: (profile_id, event_date, channel,
    event_type)."""
    events = experience_events.select(*checked_inputs("silver.experience_events", EVENT_INPUTS))
    owner = record_profiles.where(F.col("source") == "web").select(
        F.expr("substring(record_id, 5)").alias("event_id"), "profile_id"
    )
    return events.join(owner, "event_id").select(
        "profile_id",
        F.to_date("event_ts").alias("event_date"),
        "channel",
        "event_type",
    )


def _days(since: str, cutoff: dt.date) -> F.Column:
    return F.coalesce(F.datediff(F.lit(cutoff), F.col(since)).cast("double"), F.lit(NEVER))


def features_as_of(
    population: DataFrame,
    purchases: DataFrame,
    activity: DataFrame,
    cutoff: dt.date,
    windows: Iterable[int] = (30, 90, 180, 365),
) -> DataFrame:
    """One row per profile of ``population`` (profile_id, first_seen) seen by ``cutoff``:
    behaviour counted over each window of days ending at the cutoff, and lifetime totals
    up to it. Nothing dated after the cutoff day is read."""
    windows = sorted(set(windows))
    day = F.lit(cutoff)
    people = population.where(F.to_date("first_seen") <= day).select(
        "profile_id", F.to_date("first_seen").alias("first_seen_date")
    )

    bought = (
        purchases.select(*checked_inputs("gold.purchases", PURCHASE_INPUTS))
        .where(F.col("profile_id").isNotNull() & (F.col("order_date") <= day))
        .withColumn("age", F.datediff(day, F.col("order_date")))
        .withColumn("buy", F.col("is_purchase").cast("boolean"))
        .withColumn("amount", F.coalesce(F.col("amount_reporting").cast("double"), F.lit(0.0)))
    )
    per_window = []
    for w in windows:
        inside = F.col("age") < w
        per_window += [
            F.count_distinct(F.when(inside & F.col("buy"), F.col("order_id"))).alias(
                f"orders_{w}d"
            ),
            F.sum(F.when(inside, F.col("amount")).otherwise(0.0)).alias(f"revenue_{w}d"),
        ]
    orders = bought.groupBy("profile_id").agg(
        F.count_distinct(F.when(F.col("buy"), F.col("order_id"))).alias("lifetime_orders"),
        F.sum("amount").alias("lifetime_revenue"),
        F.max(F.when(F.col("buy"), F.col("order_date"))).alias("last_order_date"),
        F.min(F.when(F.col("buy"), F.col("order_date"))).alias("first_order_date"),
        F.sum(F.when(~F.col("buy"), 1).otherwise(0)).alias("returns"),
        F.count_distinct(F.when(F.col("buy"), F.col("top_category"))).alias("categories"),
        F.avg(F.when(F.col("channel") == "store", 1.0).otherwise(0.0)).alias("store_share"),
        *per_window,
    )

    seen = activity.where(F.col("event_date") <= day).withColumn(
        "age", F.datediff(day, F.col("event_date"))
    )
    per_window = []
    for w in windows:
        inside = F.col("age") < w
        per_window += [
            F.sum(F.when(inside, 1).otherwise(0)).alias(f"events_{w}d"),
            F.count_distinct(F.when(inside, F.col("event_date"))).alias(f"active_days_{w}d"),
            F.sum(F.when(inside & F.col("event_type").isin(*INTENT_EVENTS), 1).otherwise(0)).alias(
                f"intent_events_{w}d"
            ),
        ]
    web = seen.groupBy("profile_id").agg(
        F.max("event_date").alias("last_event_date"),
        F.avg(F.when(F.col("channel") == "app", 1.0).otherwise(0.0)).alias("app_share"),
        *per_window,
    )

    # The rhythm of a customer's buying: the days between one purchase day and the next.
    days = bought.where(F.col("buy")).select("profile_id", "order_date", "age").distinct()
    previous = F.lag("order_date").over(Window.partitionBy("profile_id").orderBy("order_date"))
    rhythm = (
        days.withColumn("gap", F.datediff(F.col("order_date"), previous))
        .groupBy("profile_id")
        .agg(
            F.count("*").alias("purchase_day_count"),
            F.avg("gap").alias("mean_gap"),
            F.stddev_samp("gap").alias("std_gap"),
            # The same days of the year, a year ago: what the next weeks were like then.
            F.sum(F.when(F.col("age").between(365 - SEASON, 364), 1)).alias("season_days"),
            F.sum(F.when(F.col("age").between(TREND, 2 * TREND - 1), 1)).alias(
                "previous_trend_days"
            ),
            F.sum(F.when(F.col("age") < TREND, 1)).alias("trend_days"),
        )
    )

    out = (
        people.join(orders, "profile_id", "left")
        .join(web, "profile_id", "left")
        .join(rhythm, "profile_id", "left")
    )
    out = out.select(
        "profile_id",
        F.datediff(day, F.col("first_seen_date")).cast("double").alias("tenure_days"),
        _days("last_order_date", cutoff).alias("days_since_last_order"),
        _days("first_order_date", cutoff).alias("days_since_first_order"),
        _days("last_event_date", cutoff).alias("days_since_last_event"),
        *[
            F.coalesce(F.col(c).cast("double"), F.lit(0.0)).alias(c)
            for c in feature_names(windows)
            if c not in _DAYS_SINCE
        ],
        # No second purchase day yet: no rhythm, as far off as an event that never happened.
        F.coalesce(F.col("purchase_day_count").cast("double"), F.lit(0.0)).alias("purchase_days"),
        F.coalesce(F.col("mean_gap").cast("double"), F.lit(NEVER)).alias(
            "mean_days_between_orders"
        ),
        F.coalesce(F.col("std_gap").cast("double"), F.lit(0.0)).alias("std_days_between_orders"),
        # How late the next purchase is against the customer's own rhythm (0 without one).
        F.coalesce(F.datediff(day, F.col("last_order_date")) - F.col("mean_gap"), F.lit(0.0))
        .cast("double")
        .alias("days_overdue"),
        (
            F.coalesce(F.col("trend_days"), F.lit(0))
            - F.coalesce(F.col("previous_trend_days"), F.lit(0))
        )
        .cast("double")
        .alias("purchase_days_trend"),
        F.coalesce(F.col("season_days"), F.lit(0))
        .cast("double")
        .alias("purchase_days_season_last_year"),
        F.when(F.col("lifetime_orders") > 0, F.col("lifetime_revenue") / F.col("lifetime_orders"))
        .otherwise(0.0)
        .alias("avg_order_value"),
    )
    return out


_DAYS_SINCE = ("tenure_days", "days_since_last_order", "days_since_first_order",
               "days_since_last_event")  # fmt: skip


def feature_names(windows: Iterable[int] = (30, 90, 180, 365)) -> list[str]:
    """The feature columns :func:`features_as_of` returns, in model order."""
    windows = sorted(set(windows))
    names = [*_DAYS_SINCE, "lifetime_orders", "lifetime_revenue", "returns", "categories",
             "store_share", "app_share"]  # fmt: skip
    for w in windows:
        names += [f"orders_{w}d", f"revenue_{w}d", f"events_{w}d", f"active_days_{w}d",
                  f"intent_events_{w}d"]  # fmt: skip
    return names


# Features of the purchase rhythm, the same for every window setting: the days with a
# purchase (two receipts on one day are one purchase occasion, as BG/NBD counts them), the
# mean and spread of the days between purchase days, how overdue the next one is, purchase days of the last
# TREND days minus the TREND before them, and purchase days in the SEASON days that followed
# this date a year ago. They need nothing but receipts, so a POS-only history has them.
RHYTHM_FEATURES = ("purchase_days", "mean_days_between_orders", "std_days_between_orders",
                   "days_overdue", "purchase_days_trend",
                   "purchase_days_season_last_year")  # fmt: skip
TREND = 90
SEASON = 90


def all_feature_names(windows: Iterable[int] = (30, 90, 180, 365)) -> list[str]:
    """Every feature column of :func:`features_as_of`, in model order."""
    return [*feature_names(windows), *RHYTHM_FEATURES, "avg_order_value"]


def purchase_label(purchases: DataFrame, cutoff: dt.date, horizon_days: int) -> DataFrame:
    """(profile_id, label): 1.0 for a profile that bought in the ``horizon_days`` after the
    cutoff day."""
    start, end = cutoff, cutoff + dt.timedelta(days=horizon_days)
    return (
        purchases.where(
            F.col("is_purchase")
            & F.col("profile_id").isNotNull()
            & (F.col("order_date") > F.lit(start))
            & (F.col("order_date") <= F.lit(end))
        )
        .select("profile_id")
        .distinct()
        .withColumn("bought", F.lit(1.0))
    )


def labelled(features: DataFrame, outcome: DataFrame, model: str) -> DataFrame:
    """Features with the label column: purchase propensity is 1 when the profile bought in
    the horizon; churn is 1 when it did not."""
    joined = features.join(outcome, "profile_id", "left")
    bought = F.coalesce(F.col("bought"), F.lit(0.0))
    label = bought if model == "purchase_propensity" else F.lit(1.0) - bought
    return joined.withColumn("label", label).drop("bought")


def churn_population(features: DataFrame, lookback_days: int) -> DataFrame:
    """Churn is defined for recent buyers only: a purchase in the lookback before the cutoff."""
    return features.where(F.col("days_since_last_order") < lookback_days)


def permitted_behaviour(
    profiles: DataFrame,
    purchases: DataFrame,
    activity: DataFrame,
    source_purposes: Mapping[str, Iterable[str]],
) -> tuple[DataFrame, DataFrame]:
    """Purchases and web activity kept only for profiles whose consent lets the source feed
    them (governance.source_purposes: pos receipts, web events); web orders count as web."""

    def allowed(source: str) -> DataFrame:
        flags = [F.col(f"is_{p}_allowed") for p in source_purposes.get(source, ())]
        cond = F.lit(True)
        for flag in flags:
            cond = cond & flag
        return profiles.where(cond).select("profile_id")

    store_ok, web_ok = allowed("pos"), allowed("web")
    kept_purchases = (
        purchases.where(F.col("channel") == "store")
        .join(store_ok, "profile_id", "left_semi")
        .unionByName(
            purchases.where(F.col("channel").isNull() | (F.col("channel") != "store")).join(
                web_ok, "profile_id", "left_semi"
            )
        )
    )
    return kept_purchases, activity.join(web_ok, "profile_id", "left_semi")
