"""Silver experience events: web and app events standardised to the XDM-like event class."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.silver.common import extra_columns, lineage, split_quarantine
from jobs.standardise import udfs
from jobs.standardise.columns import identities, trimmed
from schemas.landing import WEB
from schemas.xdm import EXPERIENCE_EVENT


def standardise_web(bronze: DataFrame) -> tuple[DataFrame, DataFrame]:
    """Bronze web/app events -> (silver experience events, quarantined rows)."""
    good, quarantine = split_quarantine(
        bronze, WEB.source, [trimmed(bronze, "event_id")], "event_id"
    )
    staged = good.select(
        "*",
        udfs.timestamp_udf(trimmed(good, "event_ts")).alias("_ts"),
        udfs.email_udf(trimmed(good, "email")).alias("_email"),
        udfs.decimal_udf(trimmed(good, "revenue")).alias("_revenue"),
    )
    anonymous_id = trimmed(staged, "anonymous_id")
    device_id = trimmed(staged, "device_id")
    crm_id = trimmed(staged, "user_id")
    email_key = F.col("_email")["key"]
    issues = udfs.collect_issues(
        udfs.issue("event_ts", F.col("_ts")),
        udfs.issue("revenue", F.col("_revenue")),
        F.when(F.col("_email")["is_valid"] == F.lit(False), F.lit("email:invalid_email")),
    )
    events = staged.select(
        trimmed(staged, "event_id").alias("event_id"),
        F.col("_ts")["value"].alias("event_ts"),
        F.lower(trimmed(staged, "channel")).alias("channel"),
        F.lower(trimmed(staged, "event_type")).alias("event_type"),
        anonymous_id.alias("anonymous_id"),
        device_id.alias("device_id"),
        crm_id.alias("crm_id"),
        F.col("_email")["value"].alias("email"),
        F.col("_email")["is_valid"].alias("email_is_valid"),
        email_key.alias("email_key"),
        trimmed(staged, "page_url").alias("page_url"),
        trimmed(staged, "sku").alias("sku"),
        trimmed(staged, "order_id").alias("order_id"),
        F.col("_revenue")["value"].cast("decimal(18,2)").alias("revenue"),
        F.upper(trimmed(staged, "currency")).alias("currency"),
        trimmed(staged, "ip").alias("ip"),
        trimmed(staged, "user_agent").alias("user_agent"),
        identities(
            [
                ("anonymous_id", anonymous_id),
                ("device_id", device_id),
                ("crm_id", crm_id),
                ("email", email_key),
            ]
        ).alias("identities"),
        issues.alias("issues"),
        extra_columns(good, WEB).alias("extra"),
        *lineage(staged),
    )
    return EXPERIENCE_EVENT.conform(events), quarantine
