"""The table registry: every published table's name, layer, storage path, grain and comment.

Jobs, DAGs, tests and analysts use names only (``silver.person_records``); this module is the
one place that maps a name to storage, like kedro's ``catalog.yml`` or dbt's ``ref()``. At
session start every table whose Delta log exists is registered by name in the session
catalog, so a fresh process (``cdp sql``) can query what another process wrote.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cdp.core.errors import CdpError
from schemas.tables import TABLES as SCHEMAS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from cdp.core.settings import Settings

LAYERS = ("bronze", "silver", "gold", "audit")


@dataclass(frozen=True)
class TableSpec:
    """One table as the catalog knows it: where it lives and how it is described (read from
    the table's schema, schemas/tables.py)."""

    name: str
    grain: str
    comment: str
    partition_by: tuple[str, ...] = ()

    @property
    def layer(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def entity(self) -> str:
        return self.name.split(".", 1)[1]

    def path(self, warehouse: str) -> str:
        """Storage location: ``<warehouse>/<layer>/<entity>``."""
        return f"{warehouse.rstrip('/')}/{self.layer}/{self.entity}"


# Every table, from its one description (schemas/tables.py).
TABLES: dict[str, TableSpec] = {
    name: TableSpec(name, schema.grain, schema.description, schema.partition_by)
    for name, schema in SCHEMAS.items()
}


def spec(name: str) -> TableSpec:
    """The registered table ``name``; a one-line error for an unknown one."""
    try:
        return TABLES[name]
    except KeyError:
        known = ", ".join(sorted(TABLES))
        raise CdpError(f"unknown table '{name}' (known: {known})") from None


def table_path(name: str, warehouse: str) -> str:
    """Storage location of table ``name`` under ``warehouse``."""
    return spec(name).path(warehouse)


def _delta_exists(spark: SparkSession, path: str) -> bool:
    """Whether a Delta table lives at ``path``: a transaction log with a commit in it."""
    from cdp.core import storage

    local = storage.local_path(path)
    if local is not None:
        # Read from disk: no query, and the same answer for a classic and a Connect session.
        log = local / "_delta_log"
        return log.is_dir() and any(log.glob("*.json"))
    if not is_connect(spark):
        from delta.tables import DeltaTable

        return DeltaTable.isDeltaTable(spark, path)
    from pyspark.errors import AnalysisException

    try:
        return spark.sql(f"DESCRIBE DETAIL delta.`{path}`").first()["format"] == "delta"
    except AnalysisException:
        return False


def is_connect(spark: SparkSession) -> bool:
    """Whether ``spark`` is a Spark Connect client session (no JVM in this process)."""
    return type(spark).__module__.startswith("pyspark.sql.connect")


# Delta's table operations in SQL rather than through delta.tables.DeltaTable: the Python
# DeltaTable of a Spark Connect session needs Delta's Connect plugin on the server, which
# Maven Central does not serve for this Delta version; SQL runs on either kind of session.


def delta_properties(spark: SparkSession, path: str) -> dict[str, str]:
    """The table properties of the Delta table at ``path``."""
    return spark.sql(f"DESCRIBE DETAIL delta.`{path}`").first()["properties"] or {}


def delta_versions(spark: SparkSession, path: str) -> list[int]:
    """Every version of the Delta table at ``path`` still in its log, newest first."""
    rows = spark.sql(f"DESCRIBE HISTORY delta.`{path}`").select("version").collect()
    return sorted((r[0] for r in rows), reverse=True)


def merge_into(
    spark: SparkSession, path: str, source: DataFrame, condition: str, clauses: str
) -> dict[str, int]:
    """``MERGE INTO`` the Delta table at ``path`` (alias ``t``) from ``source`` (alias
    ``s``) ``ON condition``, then ``clauses`` (``WHEN MATCHED THEN DELETE``); the merge's
    row counts (``num_deleted_rows``, ``num_inserted_rows``, ...)."""
    import uuid

    view = f"_cdp_merge_source_{uuid.uuid4().hex}"
    source.createOrReplaceTempView(view)
    try:
        done = spark.sql(
            f"MERGE INTO delta.`{path}` AS t USING {view} AS s ON {condition} {clauses}"
        ).first()
    finally:
        spark.catalog.dropTempView(view)
    return {k: int(v or 0) for k, v in done.asDict().items()} if done is not None else {}


# (session id, table name) -> location registered, so re-registering is free and a session
# pointed at another warehouse (tests, a second landing) re-points the name.
_registered: dict[tuple[int, str], str] = {}


def register(spark: SparkSession, name: str, warehouse: str) -> bool:
    """Register table ``name`` in the session catalog if its Delta log exists."""
    s = spec(name)
    path = s.path(warehouse)
    key = (id(spark), name)
    if _registered.get(key) == path:
        return True
    if key in _registered:
        # External table: dropping the name leaves the Delta files alone.
        spark.sql(f"DROP TABLE IF EXISTS {s.name}")
        del _registered[key]
    if not _delta_exists(spark, path):
        return False
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {s.layer}")
    spark.sql(f"CREATE TABLE IF NOT EXISTS {s.name} USING DELTA LOCATION '{path}'")
    _registered[key] = path
    return True


def register_all(spark: SparkSession, warehouse: str) -> list[str]:
    """Register every existing table of the warehouse by name; returns the names registered."""
    for layer in LAYERS:
        spark.sql(f"CREATE DATABASE IF NOT EXISTS {layer}")
    return [name for name in TABLES if register(spark, name, warehouse)]


def exists(spark: SparkSession, name: str, warehouse: str) -> bool:
    """Whether table ``name`` has been written under ``warehouse``."""
    return _delta_exists(spark, table_path(name, warehouse))


def read(spark: SparkSession, name: str, warehouse: str) -> DataFrame:
    """Read table ``name``; a one-line error if it was never written."""
    path = table_path(name, warehouse)
    if not _delta_exists(spark, path):
        raise CdpError(f"table {name} does not exist yet under {warehouse}")
    return spark.read.format("delta").load(path)


STAGING = "_staging"


def staged_path(name: str, warehouse: str) -> str:
    """Where tonight's build of table ``name`` waits for the quality gate:
    ``<warehouse>/_staging/<layer>/<entity>``. Readers of ``name`` never see it."""
    s = spec(name)
    return f"{warehouse.rstrip('/')}/{STAGING}/{s.layer}/{s.entity}"


def exists_staged(spark: SparkSession, name: str, warehouse: str) -> bool:
    """Whether tonight's build has staged table ``name``."""
    return _delta_exists(spark, staged_path(name, warehouse))


def read_staged(spark: SparkSession, name: str, warehouse: str) -> DataFrame:
    """Tonight's staged build of table ``name``."""
    path = staged_path(name, warehouse)
    if not _delta_exists(spark, path):
        raise CdpError(f"table {name} has not been staged under {warehouse}")
    return spark.read.format("delta").load(path)


def write_staged(df: DataFrame, name: str, warehouse: str) -> None:
    """Stage tonight's build of table ``name`` (whole table) for the quality gate to check
    and ``publish`` to replace the published table with."""
    df = with_column_comments(df, name)
    (
        df.write.format("delta")
        .mode("overwrite")
        .option("overwriteSchema", "true")
        .option(STATS_COLUMNS, _stats_columns(name, df))
        .save(staged_path(name, warehouse))
    )


def publish(spark: SparkSession, names: list[str] | tuple[str, ...], warehouse: str) -> list[str]:
    """Replace each published table with its staged build, then drop the staged copy.

    Each table is replaced atomically (one Delta commit); readers see last night's table or
    tonight's, never a half-written one. Returns the names published.
    """
    from cdp.core import storage

    done = []
    for name in names:
        if not exists_staged(spark, name, warehouse):
            continue
        write(read_staged(spark, name, warehouse), name, warehouse, mode="overwrite")
        storage.delete(staged_path(name, warehouse))
        done.append(name)
    return done


def publish_build(spark: SparkSession, settings: Settings, batch_date: str) -> list[str]:
    """The step ``publish``: every table staged tonight replaces its published version."""
    return publish(spark, list(TABLES), settings.paths.warehouse)


# Delta keeps per-file min/max statistics in its transaction log; an identifying value there
# would outlive a GDPR erasure, so statistics are kept on non-identifying columns only.
STATS_COLUMNS = "delta.dataSkippingStatsColumns"


_stats_checked: set[tuple[int, str]] = set()


def _ensure_stats_columns(spark: SparkSession, name: str, df: DataFrame, path: str) -> None:
    """A table created before statistics were limited gets the limit (once per session)."""
    if (id(spark), path) in _stats_checked:
        return
    props = delta_properties(spark, path)
    if STATS_COLUMNS not in props:
        columns = _stats_columns(name, df, partitioned=True)
        spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ('{STATS_COLUMNS}' = '{columns}')")
    _stats_checked.add((id(spark), path))


def _stats_columns(name: str, df: DataFrame, partitioned: bool = False) -> str:
    from pyspark.sql.types import (
        DateType,
        DecimalType,
        NumericType,
        StringType,
        TimestampNTZType,
        TimestampType,
    )

    from schemas.labels import is_identifying

    # Delta refuses statistics on partition columns (their values are in the path anyway)
    # and on types it cannot order (booleans, arrays, maps, structs).
    kept = (DateType, DecimalType, NumericType, StringType, TimestampNTZType, TimestampType)
    skip = set(spec(name).partition_by) if partitioned else set()
    return ",".join(
        f"`{f.name}`"
        for f in df.schema.fields
        if not is_identifying(name, f.name) and f.name not in skip and isinstance(f.dataType, kept)
    )


def write(
    df: DataFrame,
    name: str,
    warehouse: str,
    mode: str = "append",
    replace_where: str | None = None,
    merge_schema: bool = False,
) -> None:
    """Write ``df`` to table ``name`` (Delta) and register it by name.

    ``replace_where`` makes a write idempotent for a slice (one batch date, one file): the
    slice is replaced atomically, so re-running a step never doubles its rows.
    """
    s = spec(name)
    df = with_column_comments(df, name)
    writer = df.write.format("delta").mode("overwrite" if replace_where else mode)
    if replace_where:
        writer = writer.option("replaceWhere", replace_where)
    if merge_schema:
        writer = writer.option("mergeSchema", "true")
    elif mode == "overwrite" and not replace_where:
        # A whole-table rebuild takes the schema of this release (a column added since).
        writer = writer.option("overwriteSchema", "true")
    if s.partition_by:
        writer = writer.partitionBy(*s.partition_by)
    path = s.path(warehouse)
    spark = df.sparkSession
    is_new = not _delta_exists(spark, path)
    if is_new:
        writer = writer.option(STATS_COLUMNS, _stats_columns(name, df, partitioned=True))
    else:
        _ensure_stats_columns(spark, name, df, path)
    writer.save(path)
    register(spark, name, warehouse)
    if is_new:
        # Once, at creation: every COMMENT is a Delta commit of its own.
        comment = _sql_string(f"{s.comment} Grain: {s.grain}.")
        spark.sql(f"COMMENT ON TABLE {s.name} IS {comment}")


def with_column_comments(df: DataFrame, name: str) -> DataFrame:
    """Attach the registered comment (schemas/comments.py) to every column that has none:
    a table is created with each column described, for analysts' `DESCRIBE TABLE`."""
    from schemas.comments import column_comment

    for f in df.schema.fields:
        if f.metadata.get("comment"):
            continue
        comment = column_comment(name, f.name)
        if comment:
            df = df.withMetadata(f.name, {**f.metadata, "comment": comment})
    return df


def _sql_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
