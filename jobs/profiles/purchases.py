"""gold.purchases: one row per POS receipt or web order, with the profile behind it.

A POS receipt is the record ``pos:<transaction_id>``; a web order belongs to the profile of
its purchase event (``web:<event_id>``). Money is summed per order in its own currency and
converted to the reporting currency with the rates in ``profiles.fx_rates``; an order in a
currency without a rate keeps its amount and gets a null reporting amount, never a guess.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from schemas.gold import PURCHASE


def record_of_line() -> Column:
    """The source record a commerce line belongs to (as ``graph.observations`` names it)."""
    event_id = F.element_at(F.split("line_id", ":"), -1)
    return F.when(F.col("source") == "pos", F.concat(F.lit("pos:"), "order_id")).otherwise(
        F.concat(F.lit("web:"), event_id)
    )


def to_reporting(amount: Column, currency: Column, rates: dict[str, float]) -> Column:
    """``amount`` in the reporting currency: divided by the units of ``currency`` per unit."""
    rate = F.create_map(*[x for c, r in sorted(rates.items()) for x in (F.lit(c), F.lit(r))])
    return (amount / rate[F.upper(currency)]).cast("decimal(18,2)")


def purchases(
    commerce_lines: DataFrame, record_profiles: DataFrame, rates: dict[str, float]
) -> DataFrame:
    """Orders from commerce lines, each with its profile (null when it did not resolve)."""
    lines = commerce_lines.withColumn("record_id", record_of_line())
    per_category = lines.groupBy("source", "order_id", "category").agg(
        F.sum("amount").alias("_cat_amount")
    )
    top = Window.partitionBy("source", "order_id").orderBy(
        F.col("_cat_amount").desc(), F.col("category")
    )
    top_category = (
        per_category.where(F.col("category").isNotNull())
        .withColumn("_pos", F.row_number().over(top))
        .where("_pos = 1")
        .select("source", "order_id", F.col("category").alias("top_category"))
    )
    orders = lines.groupBy("source", "order_id").agg(
        F.first("record_id", ignorenulls=True).alias("record_id"),
        F.first("channel", ignorenulls=True).alias("channel"),
        F.first("store_id", ignorenulls=True).alias("store_id"),
        F.min("ordered_at").alias("ordered_at"),
        F.count(F.lit(1)).alias("lines"),
        F.sum("quantity").alias("items"),
        F.max(F.col("quantity") > 0).alias("is_purchase"),
        F.sum("amount").alias("amount"),
        F.first("currency", ignorenulls=True).alias("currency"),
        F.max("batch_date").alias("batch_date"),
    )
    resolved = orders.join(top_category, ["source", "order_id"], "left").join(
        record_profiles.select("record_id", "profile_id"), "record_id", "left"
    )
    rows = resolved.select(
        F.concat_ws(":", "source", "order_id").alias("order_id"),
        "profile_id",
        "source",
        "channel",
        "store_id",
        "ordered_at",
        F.to_date("ordered_at").alias("order_date"),
        "lines",
        "items",
        F.coalesce("is_purchase", F.lit(False)).alias("is_purchase"),
        "amount",
        "currency",
        to_reporting(F.col("amount"), F.col("currency"), rates).alias("amount_reporting"),
        "top_category",
        "batch_date",
    )
    return PURCHASE.conform(rows)
