"""Column steps shared by every layer that reads landed text: a landed column or null, a
trimmed value, and (namespace, value) identity structs."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F


def col_or_null(df: DataFrame, name: str) -> Column:
    """A bronze column, or null when the file did not carry it (only key columns are required)."""
    return F.col(f"`{name}`") if name in df.columns else F.lit(None).cast("string")


def trimmed(df: DataFrame, name: str) -> Column:
    """A bronze text value trimmed, blank turned into null."""
    value = F.trim(col_or_null(df, name))
    return F.when(value != "", value)


def identities(pairs: list[tuple[str, Column]]) -> Column:
    """(namespace, value) structs for the non-null identifiers of a row."""
    structs = [F.struct(F.lit(ns).alias("namespace"), value.alias("value")) for ns, value in pairs]
    return F.filter(F.array(*structs), lambda s: s["value"].isNotNull())
