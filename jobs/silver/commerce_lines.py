"""Silver commerce lines: POS receipt lines and web purchases as one class of signed amounts."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.silver.common import lineage, split_quarantine
from jobs.standardise import udfs
from jobs.standardise.columns import identities, trimmed
from schemas.landing import POS
from schemas.xdm import COMMERCE_LINE


def standardise_pos(bronze: DataFrame) -> tuple[DataFrame, DataFrame]:
    """Bronze POS receipt lines -> (silver commerce lines, quarantined rows)."""
    key = [trimmed(bronze, "transaction_id"), trimmed(bronze, "line_no")]
    good, quarantine = split_quarantine(bronze, POS.source, key, "transaction_id/line_no")
    staged = good.select(
        "*",
        udfs.timestamp_udf(trimmed(good, "transaction_ts")).alias("_ts"),
        udfs.int_udf(trimmed(good, "quantity")).alias("_qty"),
        udfs.decimal_udf(trimmed(good, "unit_price")).alias("_price"),
        udfs.int_udf(trimmed(good, "line_no")).alias("_line"),
    )
    txn = trimmed(staged, "transaction_id")
    loyalty_id = trimmed(staged, "loyalty_id")
    card_token = trimmed(staged, "card_token")
    quantity = F.col("_qty")["value"].cast("int")
    unit_price = F.col("_price")["value"].cast("decimal(18,2)")
    lines = staged.select(
        F.concat_ws(":", F.lit("pos"), txn, trimmed(staged, "line_no")).alias("line_id"),
        F.lit("pos").alias("source"),
        txn.alias("order_id"),
        F.col("_line")["value"].cast("int").alias("line_no"),
        F.col("_ts")["value"].alias("ordered_at"),
        F.lit("store").alias("channel"),
        trimmed(staged, "store_id").alias("store_id"),
        loyalty_id.alias("loyalty_id"),
        card_token.alias("card_token"),
        F.lit(None).cast("string").alias("crm_id"),
        F.lit(None).cast("string").alias("anonymous_id"),
        F.lit(None).cast("string").alias("device_id"),
        trimmed(staged, "sku").alias("sku"),
        udfs.tidy_text_udf(trimmed(staged, "product_name")).alias("product_name"),
        udfs.tidy_text_udf(trimmed(staged, "category")).alias("category"),
        quantity.alias("quantity"),
        unit_price.alias("unit_price"),
        (quantity * unit_price).cast("decimal(18,2)").alias("amount"),
        F.upper(trimmed(staged, "currency")).alias("currency"),
        (quantity < 0).alias("is_return"),
        identities([("loyalty_id", loyalty_id), ("card_token", card_token)]).alias("identities"),
        udfs.collect_issues(
            udfs.issue("transaction_ts", F.col("_ts")),
            udfs.issue("quantity", F.col("_qty")),
            udfs.issue("unit_price", F.col("_price")),
            udfs.issue("line_no", F.col("_line")),
        ).alias("issues"),
        *lineage(staged),
    )
    return COMMERCE_LINE.conform(lines), quarantine


def web_purchase_lines(events: DataFrame) -> DataFrame:
    """Purchase events as commerce lines (one line per order: the web feed has no line items).

    Derived from silver experience events, so each web row is counted once in the invariant
    (its primary silver table is experience_events) and once more here as a purchase.
    """
    purchases = events.where((F.col("event_type") == "purchase") & F.col("order_id").isNotNull())
    revenue = F.col("revenue")
    lines = purchases.select(
        F.concat_ws(":", F.lit("web"), "order_id", "event_id").alias("line_id"),
        F.lit("web").alias("source"),
        F.col("order_id"),
        F.lit(1).alias("line_no"),
        F.col("event_ts").alias("ordered_at"),
        F.coalesce(F.col("channel"), F.lit("web")).alias("channel"),
        F.lit(None).cast("string").alias("store_id"),
        F.lit(None).cast("string").alias("loyalty_id"),
        F.lit(None).cast("string").alias("card_token"),
        "crm_id",
        "anonymous_id",
        "device_id",
        "sku",
        F.lit(None).cast("string").alias("product_name"),
        F.lit(None).cast("string").alias("category"),
        F.lit(1).alias("quantity"),
        revenue.alias("unit_price"),
        revenue.alias("amount"),
        "currency",
        (revenue < 0).alias("is_return"),
        "identities",
        F.filter("issues", lambda i: i.startswith("revenue:") | i.startswith("event_ts:")).alias(
            "issues"
        ),
        "batch_date",
        "source_file",
        "file_sha256",
        "row_number",
    )
    return COMMERCE_LINE.conform(lines)
