"""Steps every silver job shares: lineage, extra columns, quarantine."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from schemas.landing import LINEAGE_COLUMNS, LandingSpec
from schemas.xdm import QUARANTINE


def data_columns(df: DataFrame) -> list[str]:
    """The landed (non-lineage) columns of a bronze frame."""
    return [c for c in df.columns if c not in LINEAGE_COLUMNS]


def lineage(df: DataFrame) -> list[Column]:
    """Bronze lineage renamed to the silver lineage fields."""
    return [
        F.col("_batch_date").alias("batch_date"),
        F.col("_source_file").alias("source_file"),
        F.col("_file_sha256").alias("file_sha256"),
        F.col("_row_number").alias("row_number"),
    ]


def extra_columns(df: DataFrame, spec: LandingSpec) -> Column:
    """Columns beyond the contract, kept verbatim in one map (nulls left out)."""
    extra = [c for c in data_columns(df) if c not in spec.columns]
    if not extra:
        return F.create_map().cast("map<string,string>")
    pairs = F.map_from_arrays(
        F.array(*[F.lit(c) for c in extra]), F.array(*[F.col(f"`{c}`") for c in extra])
    )
    return F.map_filter(pairs, lambda _k, v: v.isNotNull())


def split_quarantine(
    bronze: DataFrame, source: str, key: list[Column], detail: str
) -> tuple[DataFrame, DataFrame]:
    """Route each bronze row to exactly one side: usable rows, or quarantine with a reason.

    Reasons, first match wins: the parser flagged the row (malformed CSV/JSON, not UTF-8);
    a key column is blank; the key repeats within the batch (the last row in file order is
    kept, as an extract lists a record's newest state last). ``bronze`` may hold several
    batch dates: a key seen again on another date is a new record version, not a duplicate.
    """
    key_missing = F.lit(False)
    for k in key:
        key_missing = key_missing | k.isNull()
    order = Window.partitionBy(F.col("_batch_date"), *key).orderBy(
        F.col("_source_file").desc(), F.col("_row_number").desc()
    )
    tagged = bronze.withColumn(
        "_reason",
        F.when(F.col("_malformed_reason").isNotNull(), F.col("_malformed_reason"))
        .when(key_missing, F.lit("missing_key"))
        .otherwise(F.lit(None).cast("string")),
    )
    usable = tagged.where(F.col("_reason").isNull())
    usable = usable.withColumn("_dup_rank", F.row_number().over(order))
    good = usable.where(F.col("_dup_rank") == 1).drop("_dup_rank", "_reason")
    dups = (
        usable.where(F.col("_dup_rank") > 1)
        .drop("_dup_rank")
        .withColumn("_reason", F.lit("duplicate_key"))
    )
    bad = tagged.where(F.col("_reason").isNotNull()).unionByName(dups)
    raw = F.coalesce(
        F.col("_raw_record"), F.to_json(F.struct(*[F.col(f"`{c}`") for c in data_columns(bronze)]))
    )
    reason_detail = (
        F.when(F.col("_reason") == "missing_key", F.lit(f"blank {detail}"))
        .when(
            F.col("_reason") == "duplicate_key",
            F.lit(f"{detail} repeated in this batch; a later row was kept"),
        )
        .when(F.col("_reason") == "invalid_utf8", F.lit("file is not valid UTF-8"))
        .otherwise(F.lit("the row could not be parsed"))
    )
    quarantine = bad.select(
        F.lit(source).alias("source"),
        F.col("_reason").alias("reason_code"),
        reason_detail.alias("reason_detail"),
        raw.alias("raw_record"),
        F.current_timestamp().alias("quarantined_at"),
        *lineage(bad),
    )
    return good, QUARANTINE.conform(quarantine)
