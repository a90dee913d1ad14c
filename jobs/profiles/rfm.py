"""RFM as CONTRACTS.md defines it, with 1-5 scores and named segments.

As of the batch date, over the lookback (default: all history), per profile:
- recency_days = batch date minus the date of the last purchase;
- frequency = distinct purchases (POS transaction_id, web order_id; a return-only receipt is
  not a purchase);
- monetary = sum of quantity x unit price over the profile's orders in the lookback, returns
  subtracting, in the reporting currency.

Scores rank each profile among the profiles that bought: score = 1 + floor(5 x the share of
buyers with a strictly worse value), capped at 5. Ties share a score (most buyers bought once,
and all of them get f_score 1), unlike ntile, which splits ties arbitrarily. The segment is
the first rule in ``profiles.rfm_segments`` whose r_score range and fm range (the rounded mean
of f_score and m_score) hold.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from schemas.gold import RFM


def _score(value: Column, better_is_higher: bool) -> Column:
    """1 + floor(5 x share of others strictly worse), over all rows of the frame."""
    order = value.asc() if better_is_higher else value.desc()
    share_worse = F.percent_rank().over(Window.orderBy(order))
    return F.least(F.lit(5), F.lit(1) + F.floor(share_worse * 5)).cast("int")


def segment(segments: tuple[tuple[str, int, int, int, int], ...]) -> Column:
    """The named segment of (r_score, f_score, m_score) columns; first match wins."""
    fm = F.round((F.col("f_score") + F.col("m_score")) / 2).cast("int")
    named = F.lit("Other")
    for name, r_lo, r_hi, fm_lo, fm_hi in reversed(segments):
        rule = F.col("r_score").between(r_lo, r_hi) & fm.between(fm_lo, fm_hi)
        named = F.when(rule, F.lit(name)).otherwise(named)
    return named


def rfm(
    purchases: DataFrame,
    as_of: dt.date,
    lookback_days: int,
    segments: tuple[tuple[str, int, int, int, int], ...],
) -> DataFrame:
    """One row per profile with at least one purchase in the lookback (gold.rfm)."""
    orders = purchases.where(
        F.col("profile_id").isNotNull() & (F.col("order_date") <= F.lit(as_of))
    )
    if lookback_days > 0:
        start = as_of - dt.timedelta(days=lookback_days - 1)
        orders = orders.where(F.col("order_date") >= F.lit(start))
    per_profile = orders.groupBy("profile_id").agg(
        F.max(F.when(F.col("is_purchase"), F.col("order_date"))).alias("last_purchase"),
        F.count_distinct(F.when(F.col("is_purchase"), F.col("order_id"))).alias("frequency"),
        F.sum("amount_reporting").alias("monetary"),
    )
    buyers = per_profile.where(F.col("frequency") > 0).select(
        "profile_id",
        F.lit(as_of).alias("as_of"),
        F.datediff(F.lit(as_of), "last_purchase").alias("recency_days"),
        "frequency",
        F.coalesce("monetary", F.lit(0)).cast("decimal(18,2)").alias("monetary"),
    )
    # One global ranking: at 100M profiles this is a single-partition sort of one row per
    # buyer; Spark handles it, and the scores must compare every buyer with every other.
    scored = buyers.select(
        "*",
        _score(F.col("recency_days"), better_is_higher=False).alias("r_score"),
        _score(F.col("frequency"), better_is_higher=True).alias("f_score"),
        _score(F.col("monetary"), better_is_higher=True).alias("m_score"),
    )
    return RFM.conform(scored.withColumn("rfm_segment", segment(segments)))
