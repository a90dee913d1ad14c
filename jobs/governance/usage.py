"""Data-usage labels enforced where data leaves for a use: model features and exports.

Every silver, gold and audit column carries labels on its schema field (schemas/fields.py,
in the spirit of Adobe's data-usage labels); the tables without a conformed schema are
labelled in schemas/labels.py. Jobs that train models ask :func:`feature_columns`; jobs
that export ask :func:`export_columns`. Neither decides by column name: a label added to a
field in the schema takes effect everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable

from schemas.audit import AUDIT_SCHEMAS
from schemas.fields import NO_DATA_SCIENCE, NO_THIRD_PARTY_EXPORT, Schema
from schemas.gold import GOLD_SCHEMAS
from schemas.labels import column_labels
from schemas.xdm import SCHEMAS as SILVER_SCHEMAS


def schema_of(table: str) -> Schema | None:
    """The conformed schema of registered ``table``; None for bronze and the identity graph."""
    for schemas in (GOLD_SCHEMAS, SILVER_SCHEMAS, AUDIT_SCHEMAS):
        if table in schemas:
            return schemas[table]
    return None


def _columns(table: str, schema: Schema | None, columns: Iterable[str] | None) -> list[str]:
    if columns is not None:
        return list(columns)
    if schema is None:
        raise ValueError(f"{table} has no conformed schema: name the columns")
    return schema.names


def labels_of(schema_or_table: Schema | str, column: str) -> frozenset[str]:
    """The labels of ``column``: a column the schema does not know carries none (a derived
    feature); bronze's undescribed landed columns count as identifying (schemas/labels.py)."""
    if isinstance(schema_or_table, Schema):
        try:
            return schema_or_table.field(column).labels
        except KeyError:
            return frozenset()
    return column_labels(schema_or_table, column)


def without(schema_or_table: Schema | str, columns: Iterable[str] | None, label: str) -> list[str]:
    """``columns`` (default: every column of the schema), in order, less those labelled
    ``label``."""
    if isinstance(schema_or_table, Schema):
        table, schema = schema_or_table.name, schema_or_table
    else:
        table, schema = schema_or_table, schema_of(schema_or_table)
    return [
        c for c in _columns(table, schema, columns) if label not in labels_of(schema_or_table, c)
    ]


def feature_columns(
    schema_or_table: Schema | str, columns: Iterable[str] | None = None
) -> list[str]:
    """The columns a model may use as features: no field labelled no-data-science (C9)."""
    return without(schema_or_table, columns, NO_DATA_SCIENCE)


def export_columns(
    table: Schema | str, columns: Iterable[str] | None = None, third_party: bool = True
) -> list[str]:
    """The columns an export may carry: for a third party, no field labelled
    no-third-party-export (C2); internal exports keep every column."""
    if not third_party:
        schema = table if isinstance(table, Schema) else schema_of(table)
        name = table.name if isinstance(table, Schema) else table
        return _columns(name, schema, columns)
    return without(table, columns, NO_THIRD_PARTY_EXPORT)
