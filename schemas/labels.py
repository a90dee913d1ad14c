"""Data-usage labels of every published table's columns, in one place.

Silver and gold columns carry their labels on their schema field (schemas/xdm.py,
schemas/gold.py). The tables without a conformed schema are labelled here: bronze keeps
landed text verbatim, so a landed column is labelled by what the contract says it holds;
the identity graph's edges and cuts hold normalised identifiers. Governance reads these
labels to mask analysts' views, to pick model features and export fields, and to keep
identifying values out of Delta's file statistics (which live in the transaction log, where
a GDPR erasure could not reach them).
"""

from __future__ import annotations

from schemas.audit import AUDIT_SCHEMAS
from schemas.fields import (
    ID_DIRECT,
    ID_INDIRECT,
    ID_SENSITIVE,
    IDENTIFYING_DIRECT,
    IDENTIFYING_INDIRECT,
)
from schemas.gold import GOLD_SCHEMAS
from schemas.landing import SOURCES
from schemas.xdm import SCHEMAS as SILVER_SCHEMAS

IDENTIFYING = frozenset({IDENTIFYING_DIRECT, IDENTIFYING_INDIRECT})

# What each landed column holds (CONTRACTS.md section 1); others carry no personal data.
LANDED_LABELS: dict[str, frozenset[str]] = {
    "first_name": ID_DIRECT,
    "last_name": ID_DIRECT,
    "email": ID_DIRECT,
    "phone": ID_DIRECT,
    "street": ID_DIRECT,
    "postal_code": ID_INDIRECT,
    "city": ID_INDIRECT,
    "region": ID_INDIRECT,
    "birth_date": ID_SENSITIVE,
    "crm_id": ID_INDIRECT,
    "user_id": ID_INDIRECT,
    "loyalty_id": ID_INDIRECT,
    "card_token": ID_INDIRECT,
    "anonymous_id": ID_INDIRECT,
    "device_id": ID_INDIRECT,
    "ip": ID_INDIRECT,
    "_raw_record": ID_DIRECT,
}

OTHER_TABLES: dict[str, dict[str, frozenset[str]]] = {
    "silver.identity_edges": {"src_value": ID_DIRECT, "dst_value": ID_DIRECT},
    # A cut's detail names what the identifier was seen with ("seen with crm_id:X").
    "audit.identity_cuts": {"value": ID_DIRECT, "detail": ID_DIRECT},
}


def column_labels(table: str, column: str) -> frozenset[str]:
    """The data-usage labels of ``column`` in registered ``table`` (empty: none apply)."""
    for schemas in (GOLD_SCHEMAS, SILVER_SCHEMAS, AUDIT_SCHEMAS):
        if table in schemas:
            try:
                return schemas[table].field(column).labels
            except KeyError:
                return frozenset()
    if table in OTHER_TABLES:
        return OTHER_TABLES[table].get(column, frozenset())
    if any(spec.bronze_table == table for spec in SOURCES.values()):
        if column in LANDED_LABELS:
            return LANDED_LABELS[column]
        # An extra landed column nobody described may hold anything: treat it as identifying.
        return frozenset() if column.startswith("_") else ID_DIRECT
    return frozenset()


def is_identifying(table: str, column: str) -> bool:
    """Whether the column identifies a person, directly or in combination."""
    return bool(column_labels(table, column) & IDENTIFYING)
