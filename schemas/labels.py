"""Data-usage labels of every table's columns, read from each table's one description
(schemas/tables.py): silver and gold columns carry them on their schema field, bronze's landed
columns by what the contract says they hold (schemas/bronze.py). Governance reads these labels
to mask analysts' views, to pick model features and export fields, and to keep identifying
values out of Delta's file statistics (which live in the transaction log, where a GDPR
erasure could not reach them).
"""

from __future__ import annotations

from schemas.fields import ID_DIRECT, IDENTIFYING_DIRECT, IDENTIFYING_INDIRECT
from schemas.tables import TABLES

IDENTIFYING = frozenset({IDENTIFYING_DIRECT, IDENTIFYING_INDIRECT})
# Tables that hold raw identifiers in every row: no masked view, analysts do not see them.
RAW_TABLES = frozenset(name for name, schema in TABLES.items() if schema.raw)


def column_labels(table: str, column: str) -> frozenset[str]:
    """The data-usage labels of ``column`` in registered ``table`` (empty: none apply)."""
    schema = TABLES.get(table)
    if schema is None:
        return frozenset()
    try:
        return schema.field(column).labels
    except KeyError:
        pass
    if table.startswith("bronze.") and table != "bronze.file_log" and not column.startswith("_"):
        # An extra landed column nobody described may hold anything: treat it as identifying.
        return ID_DIRECT
    return frozenset()


def is_identifying(table: str, column: str) -> bool:
    """Whether the column identifies a person, directly or in combination."""
    return bool(column_labels(table, column) & IDENTIFYING)
