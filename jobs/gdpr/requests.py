"""GDPR requests: access (Articles 15 and 20) and erasure (Article 17), audited.

``access`` exports everything held about the subject in every layer, each row with where and
when it came from, as JSON. ``erase`` deletes the subject's rows from every table, makes the
deletion physical (VACUUM with no retention, so no old file version keeps them for time
travel; transient checkpoints and staged builds removed), puts keyed hashes of their
identifiers on audit.suppression_list so the bronze job refuses them tomorrow, and records
the request in audit.gdpr_requests by keyed hash only.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F

from cdp.core import catalog, storage
from cdp.core.errors import CdpError
from jobs.activation.run import exports_dir as activation_exports_dir
from jobs.gdpr import exports as gdpr_exports
from jobs.gdpr import locate
from jobs.gdpr.subject import Subject, resolve
from jobs.governance.keys import keyed_hash, keyed_hash_col, subject_key
from jobs.standardise import identifiers
from schemas.audit import GDPR_REQUEST, SUPPRESSION

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from cdp.core.settings import Settings

log = logging.getLogger(__name__)

# Folders beside the tables that may hold copies of personal data and are safe to drop:
# Spark checkpoints of the identity job, and a staged build the quality gate refused.
TRANSIENT_FOLDERS = ("_checkpoints", catalog.STAGING)
# What rows_affected calls the activation export files (not a table).
EXPORTS = "activation_exports"


@dataclass
class RequestResult:
    """What a request did."""

    request_id: str
    kind: str
    outcome: str
    subject: Subject
    rows: dict[str, int] = field(default_factory=dict)
    files_removed: int = 0
    export: dict[str, Any] | None = None

    def describe(self) -> str:
        touched = {t: n for t, n in self.rows.items() if n}
        verb = "exported" if self.kind == "access" else "erased"
        lines = [
            f"{self.kind} request {self.request_id}: {self.outcome};"
            f" {len(self.subject.profile_ids)} profile(s),"
            f" {len(self.subject.identifiers)} identifier(s),"
            f" {sum(touched.values())} rows {verb}"
        ]
        lines += [f"  {table}: {n}" for table, n in sorted(touched.items())]
        if self.kind == "erase":
            lines.append(f"  data files physically removed: {self.files_removed}")
        return "\n".join(lines)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def find_subject(spark: SparkSession, settings: Settings, namespace: str, raw: str) -> Subject:
    """Normalise the requested identifier and resolve the subject in the published graph."""
    try:
        value = identifiers.normalise(namespace, raw, settings.standardise)
    except CdpError:
        if namespace != "phone":
            raise
        # A national number ("070-123 45 67") without its country: the graph's phones are
        # E.164, so look for the one number ending in the same national digits.
        value = _phone_by_national_digits(spark, settings.paths.warehouse, raw)
    return resolve(spark, settings.paths.warehouse, namespace, value)


def _phone_by_national_digits(spark: SparkSession, warehouse: str, raw: str) -> str:
    digits = "".join(c for c in raw if c.isdigit()).lstrip("0")
    if len(digits) < 8 or not catalog.exists(spark, "gold.identity_map", warehouse):
        raise CdpError("--phone: not a phone number; give it as +<country><number>")
    idmap = catalog.read(spark, "gold.identity_map", warehouse)
    found = [
        r["identifier"]
        for r in idmap.where((F.col("namespace") == "phone") & F.col("identifier").endswith(digits))
        .select("identifier")
        .distinct()
        .collect()
    ]
    if len(found) > 1:
        raise CdpError(f"--phone: matches {len(found)} numbers; give its country code")
    if not found:
        raise CdpError("--phone: not a known number; give it as +<country><number>")
    return found[0]


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if hasattr(value, "asDict"):
        return _json_value(value.asDict(recursive=True))
    if value is not None and not isinstance(value, str | int | float | bool):
        return str(value)  # Decimal
    return value


def access(spark: SparkSession, settings: Settings, namespace: str, raw: str) -> RequestResult:
    """Everything held about the subject, as a JSON-ready dict (``result.export``)."""
    received = _now()
    subject = find_subject(spark, settings, namespace, raw)
    found = locate.subject_rows(spark, settings, subject)
    # Activation exports are files, not tables: the rows sent to each destination.
    exported = gdpr_exports.find_in_exports(
        spark, activation_exports_dir(settings), subject.profile_ids
    )
    tables: dict[str, Any] = {}
    rows: dict[str, int] = {}
    for name, df in found.items():
        rule = locate.rule(name)
        items = []
        for row in df.collect():
            data = {k: _json_value(v) for k, v in row.asDict(recursive=True).items()}
            items.append({"came_from": {c: data.get(c) for c in rule.came_from}, "data": data})
        rows[name] = len(items)
        if items:
            spec = catalog.spec(name)
            tables[name] = {
                "layer": spec.layer,
                "description": spec.comment,
                "grain": spec.grain,
                "rows": items,
            }
    request_id = str(uuid.uuid4())
    export = {
        "request_id": request_id,
        "kind": "access",
        "generated_at": _now().isoformat() + "Z",
        "warehouse": settings.paths.warehouse,
        "subject": {
            "requested": {"namespace": subject.namespace, "identifier": subject.identifier},
            "profile_ids": list(subject.profile_ids),
            "identifiers": [{"namespace": ns, "identifier": v} for ns, v in subject.identifiers],
        },
        "tables": tables,
        "activation_exports": [
            {**r, "row": {k: _json_value(v) for k, v in r["row"].items()}} for r in exported
        ],
    }
    rows[EXPORTS] = len(exported)
    outcome = "completed" if any(rows.values()) else "not_found"
    result = RequestResult(request_id, "access", outcome, subject, rows, export=export)
    _record(spark, settings, result, received)
    return result


def _cores(spark: SparkSession) -> int:
    """The cluster's cores as Spark counts them (a Connect client sees no SparkContext: the
    shuffle partitions, sized for the cluster, stand in)."""
    if catalog.is_connect(spark):
        return int(spark.conf.get("spark.sql.shuffle.partitions"))
    return spark.sparkContext.defaultParallelism


def _vacuum(spark: SparkSession, path: str) -> int:
    """Remove every data file no longer in the table's current version; files removed."""
    before = storage.count_files(path, ".parquet")
    if catalog.delta_properties(spark, path).get("delta.enableDeletionVectors") == "true":
        # Deletion vectors only hide rows; purge rewrites the files without them.
        spark.sql(f"REORG TABLE delta.`{path}` APPLY (PURGE)")
    spark.sql(f"VACUUM delta.`{path}` RETAIN 0 HOURS")
    return before - storage.count_files(path, ".parquet")


def _doomed(name: str, matched: DataFrame) -> DataFrame:
    """The key columns of the subject's rows in ``name``, materialised now: every table's rows
    are found before any is deleted (quarantine is found through bronze lineage)."""
    return matched.select(*locate.rule(name).keys).distinct().localCheckpoint()


def _delete(spark: SparkSession, name: str, doomed: DataFrame, warehouse: str) -> int:
    """Delete the rows of table ``name`` with the ``doomed`` keys; rows deleted."""
    if doomed.isEmpty():
        return 0
    keys = locate.rule(name).keys
    condition = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)
    # The MERGE's own counts, instead of counting the whole table before and after.
    done = catalog.merge_into(
        spark, catalog.table_path(name, warehouse), doomed, condition, "WHEN MATCHED THEN DELETE"
    )
    return done.get("num_deleted_rows", 0)


# Deleted last: while they hold the subject, a request that died half-way finds them again.
GRAPH_TABLES = ("gold.profile_merges", "gold.identity_map")


def erase(spark: SparkSession, settings: Settings, namespace: str, raw: str) -> RequestResult:
    """Remove the subject from every table and layer, physically, and suppress them.

    Order makes a retry safe: suppress first (a nightly run racing the erasure does not land
    the person again), find every row before deleting any, delete the identity graph last (a
    retry after a crash still resolves the subject), vacuum every table whether or not this
    attempt deleted from it, and audit at the end.
    """
    received = _now()
    wh = settings.paths.warehouse
    subject = find_subject(spark, settings, namespace, raw)
    request_id = str(uuid.uuid4())
    _suppress(spark, settings, subject, request_id)
    found = locate.subject_rows(spark, settings, subject)
    doomed = {name: _doomed(name, df) for name, df in found.items()}
    # Export files first, while the identity graph still resolves the subject for a retry.
    exported = gdpr_exports.erase_from_exports(
        spark, activation_exports_dir(settings), subject.profile_ids
    )
    order = [n for n in doomed if n not in GRAPH_TABLES] + [n for n in GRAPH_TABLES if n in doomed]
    rows = {name: _delete(spark, name, doomed[name], wh) for name in order}
    rows[EXPORTS] = exported
    # VACUUM with zero retention is refused unless this check is off (Delta's guard against
    # removing files a concurrent reader still uses; an erasure must remove them). VACUUM
    # lists a table's files in as many tasks as partition discovery's parallelism (10,000 by
    # default: 20-30 s per small table on two cores); the cluster's cores are enough.
    vacuum_conf = {
        "spark.databricks.delta.retentionDurationCheck.enabled": "false",
        "spark.sql.sources.parallelPartitionDiscovery.parallelism": str(max(1, _cores(spark))),
    }
    previous = {key: spark.conf.get(key, None) for key in vacuum_conf}
    for key, value in vacuum_conf.items():
        spark.conf.set(key, value)
    try:
        files = sum(_vacuum(spark, catalog.table_path(n, wh)) for n in doomed)
    finally:
        for key, value in previous.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)
    for folder in TRANSIENT_FOLDERS:
        storage.delete(f"{wh.rstrip('/')}/{folder}")
    outcome = "completed" if any(rows.values()) else "not_found"
    result = RequestResult(request_id, "erase", outcome, subject, rows, files_removed=files)
    _record(spark, settings, result, received)
    return result


def _suppress(spark: SparkSession, settings: Settings, subject: Subject, request_id: str) -> None:
    """Keyed hashes of every identifier of the subject onto audit.suppression_list."""
    key = subject_key(spark, settings)
    rows = subject.identifiers_df(spark).select(
        "namespace",
        keyed_hash_col(key, F.col("value")).alias("identifier_hash"),
        F.lit(request_id).alias("request_id"),
        F.lit(_now()).alias("suppressed_at"),
    )
    wh = settings.paths.warehouse
    if not catalog.exists(spark, "audit.suppression_list", wh):
        catalog.write(SUPPRESSION.conform(rows), "audit.suppression_list", wh, mode="append")
        return
    catalog.merge_into(
        spark,
        catalog.table_path("audit.suppression_list", wh),
        SUPPRESSION.conform(rows),
        "t.namespace = s.namespace AND t.identifier_hash = s.identifier_hash",
        "WHEN NOT MATCHED THEN INSERT *",
    )


def _record(
    spark: SparkSession, settings: Settings, result: RequestResult, received: dt.datetime
) -> None:
    """One audit.gdpr_requests row: the subject by keyed hash, never in the clear."""
    key = subject_key(spark, settings)
    ref = keyed_hash(key, f"{result.subject.namespace}:{result.subject.identifier}")
    row = {
        "request_id": result.request_id,
        "kind": result.kind,
        "subject_ref": ref,
        "namespace": result.subject.namespace,
        "received_at": received,
        "completed_at": _now(),
        "outcome": result.outcome,
        "profiles": len(result.subject.profile_ids),
        "identifiers": len(result.subject.identifiers),
        "rows_affected": {k: int(v) for k, v in result.rows.items()},
        "files_removed": result.files_removed,
    }
    df = spark.createDataFrame(
        [tuple(row[f.name] for f in GDPR_REQUEST.fields)], GDPR_REQUEST.struct()
    )
    catalog.write(GDPR_REQUEST.conform(df), "audit.gdpr_requests", settings.paths.warehouse)


def write_export(spark: SparkSession, result: RequestResult, out: str | None) -> str:
    """The access export as JSON, to ``out`` (any local path or Hadoop URI) or returned."""
    if result.export is None:
        raise CdpError("only an access request has an export")
    text = json.dumps(result.export, indent=1, ensure_ascii=False)
    if out:
        storage.write_text(out, text + "\n")
    return text


def read_request_file(path: str) -> tuple[str, str]:
    """(namespace, identifier) from a request file such as ``{"email": "jane@example.com"}``."""
    from pathlib import Path

    from jobs.standardise.identifiers import REQUEST_NAMESPACES

    file = Path(path)
    if not path or not file.is_file():
        raise CdpError(f"GDPR request file not found: {path!r}")
    try:
        request = json.loads(file.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise CdpError(f"GDPR request file {file}: not valid JSON ({exc})") from None
    named = (
        {k: v for k, v in request.items() if k in REQUEST_NAMESPACES and v}
        if isinstance(request, dict)
        else {}
    )
    if len(named) != 1:
        raise CdpError(
            f"GDPR request file {file}: expected exactly one of {', '.join(REQUEST_NAMESPACES)}"
        )
    return next(iter(named.items()))


def forget_request_file(path: str) -> None:
    """Delete the request file once done: it holds the identifier in the clear."""
    from pathlib import Path

    Path(path).unlink(missing_ok=True)
