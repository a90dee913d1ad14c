"""Analysts' masked view of the tables: identifying columns hashed or redacted.

Every column labelled identifying (I1 direct, I2 indirect; schemas/fields.py) is replaced:
text by its keyed hash (HMAC-SHA256 hex under the warehouse's subject key,
jobs/governance/keys.py), so analysts can still count, group and join on it (the same email
hashes alike in every table) but cannot read it or recompute it without the key; arrays,
maps and structs of text hash each text value (an identity's namespace stays readable);
anything else identifying (a birth date) is redacted to null.

``cdp sql`` and the SQL endpoint (``cdp serve-sql``, cdp/app/sql_endpoint.py) call
:func:`mask_session` unless ``governance.analyst_full_access``: each silver, gold and audit
table keeps its name but is a view over the masked columns of the table registered in
``SOURCES_DB``, and the raw tables (bronze extracts, the identity graph's edges and cuts,
which hold identifiers in every row) are not registered at all. The session's guard
(cdp.sql.GuardExtension) refuses reading ``SOURCES_DB`` or any file by path, so the views are
the only way in; whoever can read the warehouse's files (or the key) outside these sessions
can still read everything, so on a cluster analysts get storage access only through them.
"""

from __future__ import annotations

import hmac
import logging
from typing import TYPE_CHECKING

from pyspark.sql.types import ArrayType, DataType, MapType, StringType, StructType

from cdp.core import catalog
from cdp.core.errors import CdpError
from jobs.governance.keys import keyed_hash_sql, subject_key
from jobs.governance.usage import schema_of
from schemas.labels import IDENTIFYING, RAW_TABLES, column_labels

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from cdp.core.settings import Settings

log = logging.getLogger(__name__)

# Struct fields that name a kind of identifier rather than hold one.
READABLE_STRUCT_FIELDS = frozenset({"namespace"})

# The database holding the Delta tables behind the masked views. Nothing but the views reads
# it: the analysts' SQL guard (infra/sql_endpoint) refuses any statement that names it.
SOURCES_DB = "cdp_sources"

HASHED = "Masked for analysts: keyed hash (HMAC-SHA256) of the value."
REDACTED = "Masked for analysts: redacted (null)."


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def is_masked(table: str, column: str) -> bool:
    """Whether analysts see ``column`` of ``table`` masked: it is labelled identifying, or the
    table has a schema that does not know the column (an unlabelled column is not trusted)."""
    schema = schema_of(table)
    if schema is not None and column not in schema.names:
        return True
    return bool(column_labels(table, column) & IDENTIFYING)


def _mask(expression: str, dtype: DataType, key: bytes) -> str:
    """SQL masking ``expression`` of type ``dtype``: text hashed, containers element-wise,
    anything else null."""
    if isinstance(dtype, StringType):
        return keyed_hash_sql(key, expression)
    if isinstance(dtype, ArrayType):
        return f"transform({expression}, x -> {_mask('x', dtype.elementType, key)})"
    if isinstance(dtype, MapType):
        return f"transform_values({expression}, (k, v) -> {_mask('v', dtype.valueType, key)})"
    if isinstance(dtype, StructType):
        parts = ", ".join(
            f"'{f.name}', "
            + (
                f"{expression}.{_quote(f.name)}"
                if f.name in READABLE_STRUCT_FIELDS
                else _mask(f"{expression}.{_quote(f.name)}", f.dataType, key)
            )
            for f in dtype.fields
        )
        return f"if({expression} IS NULL, NULL, named_struct({parts}))"
    return f"CAST(NULL AS {dtype.simpleString()})"


def masking_expressions(table: str, schema: StructType, key: bytes) -> list[str]:
    """One SQL select expression per column of ``schema``: the column itself, or masked."""
    out = []
    for f in schema.fields:
        name = _quote(f.name)
        out.append(
            f"{_mask(name, f.dataType, key)} AS {name}" if is_masked(table, f.name) else name
        )
    return out


def masking_key(spark: SparkSession, settings: Settings) -> bytes:
    """The analysts' masking key: derived from the subject key, never the key itself.

    The masked views' SQL carries it, so it must not be the key behind audit.gdpr_requests
    and the suppression list; and with it anyone could hash a guessed email and find its
    profile, so the analysts' guard refuses the statements that show a view's SQL (``SHOW
    CREATE TABLE``, ``DESCRIBE EXTENDED``).
    """
    return hmac.new(subject_key(spark, settings), b"cdp analysts' masked views", "sha256").digest()


def masked(df: DataFrame, table: str, key: bytes) -> DataFrame:
    """``df`` (rows of registered ``table``) as analysts see it: identifying columns hashed
    or redacted, every other column as it is."""
    return df.selectExpr(*masking_expressions(table, df.schema, key))


def _sql_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def source_table(name: str) -> str:
    """Where the masked view ``name`` reads from: the table registered in ``SOURCES_DB``."""
    return f"{SOURCES_DB}.{name.replace('.', '__')}"


def _view_sql(name: str, schema: StructType, key: bytes) -> str:
    columns = []
    for f in schema.fields:
        comment = f.metadata.get("comment") or ""
        if is_masked(name, f.name):
            note = HASHED if _hashes(f.dataType) else REDACTED
            comment = f"{comment} {note}".strip()
        columns.append(f"{_quote(f.name)} COMMENT {_sql_string(comment)}")
    s = catalog.spec(name)
    table_comment = _sql_string(f"{s.comment} Grain: {s.grain}. Identifying columns masked.")
    select = ", ".join(masking_expressions(name, schema, key))
    return (
        f"CREATE OR REPLACE VIEW {name} ({', '.join(columns)}) COMMENT {table_comment} "
        f"AS SELECT {select} FROM {source_table(name)}"
    )


def _hashes(dtype: DataType) -> bool:
    if isinstance(dtype, StringType):
        return True
    if isinstance(dtype, ArrayType):
        return _hashes(dtype.elementType)
    if isinstance(dtype, MapType):
        return _hashes(dtype.valueType)
    if isinstance(dtype, StructType):
        return any(_hashes(f.dataType) for f in dtype.fields)
    return False


def mask_session(
    spark: SparkSession, settings: Settings, published: dict[str, str] | None = None
) -> dict[str, str]:
    """Give the session's table names the analysts' masked view; returns the names exposed,
    each with its columns (a JSON schema).

    Each silver, gold and audit table is replaced by a view of the same name over its masked
    columns, reading the Delta table registered in ``SOURCES_DB`` (by name, not by path: the
    analysts' session reads no file by path, ``spark.sql.runSQLOnFiles=false``); the raw
    tables (RAW_TABLES) are dropped from the session catalog, so querying one fails with
    Spark's own table-not-found error. The Delta files are untouched. The SQL endpoint's
    guard (cdp/app/sql_endpoint.py) refuses direct reads of ``SOURCES_DB``.

    With ``published`` (a previous call's answer) only the tables written since, or whose
    columns changed, are (re)published, each by one CREATE OR REPLACE VIEW: the SQL
    endpoint's refresh, which clients keep querying while it runs (Spark replaces a view by
    dropping and creating it, so a query at that very moment may find no such table).
    """
    if settings.spark.catalog != "registry":
        raise CdpError(
            "masked analysts' SQL needs spark.catalog=registry; with a Hive metastore grant "
            "analysts masked views there, or set governance.analyst_full_access"
        )
    wh = settings.paths.warehouse
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {SOURCES_DB}")
    key = None
    exposed = dict(published or {})
    changed = []
    for name in catalog.TABLES:
        if published is None:
            # The names were registered as external tables: dropping one leaves its files.
            spark.sql(f"DROP TABLE IF EXISTS {name}")
        if name in RAW_TABLES or not catalog.exists(spark, name, wh):
            continue
        schema = catalog.read(spark, name, wh).schema
        if exposed.get(name) == schema.json():
            continue
        # Read (or created) only once there is a table to mask: no key in an empty warehouse.
        key = key or masking_key(spark, settings)
        path = _sql_string(catalog.table_path(name, wh))
        spark.sql(f"CREATE TABLE IF NOT EXISTS {source_table(name)} USING DELTA LOCATION {path}")
        spark.sql(_view_sql(name, schema, key))
        exposed[name] = schema.json()
        changed.append(name)
    if published is None:
        log.info("analysts' view: %d tables masked, raw tables hidden", len(exposed))
    elif changed:
        log.info("analysts' view: %s published or changed since", ", ".join(changed))
    return exposed
