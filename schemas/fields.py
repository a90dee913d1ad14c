"""Schema building blocks: a field with its type, meaning and data-usage labels, and a table
schema that says everything about one table (schemas/tables.py lists them all)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame
    from pyspark.sql.types import StructType

# Data-usage labels in the spirit of Adobe's DULE labels; enforced by governance jobs.
IDENTIFYING_DIRECT = "I1"  # identifies a person on its own (email, phone, name + address)
IDENTIFYING_INDIRECT = "I2"  # identifies in combination (cookie, device id, birth date)
SENSITIVE = "S1"
NO_THIRD_PARTY_EXPORT = "C2"
NO_DATA_SCIENCE = "C9"


def labels(*codes: str) -> frozenset[str]:
    """A label set, e.g. ``labels(IDENTIFYING_DIRECT, NO_DATA_SCIENCE)``."""
    return frozenset(codes)


# The usual label sets. Direct identifiers never feed models or leave for third parties;
# indirect ones (a cookie, a postal code) may feed models but are not exported.
ID_DIRECT = labels(IDENTIFYING_DIRECT, NO_THIRD_PARTY_EXPORT, NO_DATA_SCIENCE)
ID_INDIRECT = labels(IDENTIFYING_INDIRECT, NO_THIRD_PARTY_EXPORT)
ID_SENSITIVE = labels(IDENTIFYING_INDIRECT, SENSITIVE, NO_THIRD_PARTY_EXPORT, NO_DATA_SCIENCE)


@dataclass(frozen=True)
class Field:
    """One column: name, Spark SQL type, description (becomes the column comment), labels."""

    name: str
    dtype: str
    description: str
    nullable: bool = True
    labels: frozenset[str] = field(default_factory=frozenset)
    # Accepted values, checked by the table's suite in expectations/ (None: any value).
    accepted: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Schema:
    """One table, described once: its name, grain, description (the table comment),
    partitioning, ordered fields (type, comment, labels, accepted values) and the key that
    makes a row unique. The catalog, the column comments, the labels, the analysts' masked
    views and the Great Expectations suites are all read from here."""

    name: str
    description: str
    fields: tuple[Field, ...]
    key: tuple[str, ...] = ()
    grain: str = ""
    partition_by: tuple[str, ...] = ()
    # A raw table holds identifiers in every row (bronze as landed, the identity graph): it
    # has no masked view, so analysts do not see it at all.
    raw: bool = False

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def struct(self) -> StructType:
        """The Spark schema, descriptions and labels kept as column metadata."""
        from pyspark.sql.types import StructField, StructType, _parse_datatype_string

        return StructType(
            [
                StructField(
                    f.name,
                    _parse_datatype_string(f.dtype),
                    f.nullable,
                    {"comment": f.description, "labels": sorted(f.labels)},
                )
                for f in self.fields
            ]
        )

    def conform(self, df: DataFrame) -> DataFrame:
        """Select exactly this schema's columns, cast to their types, with comments attached.

        Fails loudly (AnalysisException) when a column is missing: a job that forgets one is a bug.
        """
        from pyspark.sql import functions as F

        return df.select(
            *[
                F.col(f.name)
                .cast(f.dtype)
                .alias(f.name, metadata={"comment": f.description, "labels": sorted(f.labels)})
                for f in self.fields
            ]
        )
