"""Activation main: tonight's export files per destination, their manifests, and the audit row.

For every destination in ``activation.destinations`` the export lands in
``<exports>/<destination>/<batch_date>/`` (``exports`` empty: ``<warehouse>/_exports``):

- ``data.csv`` or ``data.parquet``: every exported profile, the destination's fields only;
- ``added.<ext>`` / ``removed.<ext>``: the changes since the latest earlier export of the
  destination, for platforms that take increments;
- ``manifest.json``: destination, segment, purpose, format, fields, row_count, added,
  removed, withheld, the SHA-256 ``checksum`` of the data file (and of each file),
  generated_at (ISO, UTC), batch_date;
- ``_keys.parquet``: private, never sent (a leading ``_`` is the Hadoop convention for "not
  data"; a delivery must skip it): the profile behind every row of the three files, for
  tomorrow's diff and for GDPR requests (jobs/gdpr/exports.py).

The folder is built beside its final place and swapped in whole, so a re-run replaces the
date's export and a delivery never picks up half of one. Files are written by Spark and the
folder handled through cdp/core/storage.py (pyarrow's file systems), so the exports folder
may be on object storage (s3a://, abfss://) as well as local disk. audit.activation_exports
gets one row per (destination, batch date), replaced on a re-run.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import uuid
from typing import TYPE_CHECKING, Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from cdp.core import catalog, storage
from cdp.core.errors import CdpError
from jobs.activation import exports as ex
from schemas.audit import ACTIVATION_EXPORTS

if TYPE_CHECKING:
    from cdp.core.settings import Destination, Settings

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
KEYS = "_keys.parquet"
# A folder being built beside <batch_date> until it is swapped in.
STAGING_PREFIX = "_staging-"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def is_batch_date(name: str) -> bool:
    """Whether a folder name is a batch date (export folders; not staging or temporary)."""
    return bool(_DATE.fullmatch(name))


def exports_dir(settings: Settings) -> str:
    """The exports folder: ``activation.exports``, or ``<warehouse>/_exports``."""
    return (settings.activation.exports or f"{settings.paths.warehouse}/_exports").rstrip("/")


def export_dir(exports: str, destination: str, batch_date: str) -> str:
    """``<exports>/<destination>/<batch_date>``."""
    return f"{exports.rstrip('/')}/{destination}/{batch_date}"


def _write_single(spark: SparkSession, rows: DataFrame, fmt: str, uri: str) -> None:
    """Write ``rows`` (one partition) as the single file ``uri``: Spark writes a folder of
    part files, so write beside it and move the one part file into place."""
    tmp = f"{uri.rsplit('/', 1)[0]}/_tmp-{uuid.uuid4().hex}"
    writer = rows.write.mode("overwrite").format(fmt)
    if fmt == "csv":
        # RFC 4180 quoting (a quote doubles) as spreadsheet and ad-platform importers read it;
        # Spark's default escapes with a backslash.
        writer = writer.option("header", "true").option("escape", '"')
    writer.save(tmp)
    # Spark's local writes leave a hidden .<part>.crc beside each part: it stays in tmp.
    parts = [n for n in storage.list_names(tmp) if n.startswith("part-")]
    if len(parts) != 1:
        raise CdpError(f"expected one part file in {tmp}, found {len(parts)}")
    storage.move(f"{tmp}/{parts[0]}", uri)
    storage.delete(tmp)


def write_folder(
    spark: SparkSession, folder: str, keys: DataFrame, manifest: dict[str, Any]
) -> dict[str, Any]:
    """Write an export folder from its ``_keys`` frame (file, profile_id, row) and replace
    ``folder`` with it; returns the manifest written, with counts and checksums filled in.

    Shared by tonight's export and by GDPR erasure, which rewrites a folder from its keys
    less the erased profiles. ``manifest`` needs destination, format and the other fixed
    facts; ``keys`` may read from ``folder`` itself: it is consumed before the swap.
    """
    fmt = manifest["format"]
    parent, day = folder.rsplit("/", 1)
    staging = f"{parent}/{STAGING_PREFIX}{day}"
    storage.delete(staging)
    keys.repartition(1).write.mode("overwrite").parquet(f"{staging}/{KEYS}")
    # From here on only the staged keys are read: the rows the files hold are exactly the
    # rows _keys ties to profiles, and the old folder can go.
    staged = spark.read.parquet(f"{staging}/{KEYS}")
    counts = {r["file"]: r["count"] for r in staged.groupBy("file").count().collect()}
    files: dict[str, dict[str, Any]] = {}
    for kind in ex.FILE_KINDS:
        name = ex.file_name(kind, fmt)
        _write_single(spark, ex.file_rows(staged, name, fmt), fmt, f"{staging}/{name}")
        files[name] = {
            "rows": counts.get(name, 0),
            "sha256": storage.sha256_of(f"{staging}/{name}"),
        }
    data = files[ex.file_name(ex.DATA, fmt)]
    out = {
        **manifest,
        "row_count": data["rows"],
        # Members of the segment tonight: exported + withheld (an erased profile leaves both).
        "members": data["rows"] + manifest["withheld"],
        "added": files[ex.file_name(ex.ADDED, fmt)]["rows"],
        "removed": files[ex.file_name(ex.REMOVED, fmt)]["rows"],
        "checksum": data["sha256"],
        "checksum_algorithm": "sha256",
        "data_file": ex.file_name(ex.DATA, fmt),
        "files": files,
    }
    storage.write_text(f"{staging}/{MANIFEST}", json.dumps(out, indent=2, sort_keys=True))
    storage.delete(folder)
    storage.move(staging, folder)
    return out


def read_manifest(spark: SparkSession, folder: str) -> dict[str, Any]:
    """The manifest of an export folder."""
    return json.loads(storage.read_text(f"{folder}/{MANIFEST}"))


def previous_export(
    spark: SparkSession, exports: str, destination: str, batch_date: str
) -> str | None:
    """The date of the latest complete export of ``destination`` before ``batch_date``."""
    earlier = [
        d
        for d in storage.list_folders(f"{exports}/{destination}")
        if is_batch_date(d)
        and d < batch_date
        and storage.exists(f"{export_dir(exports, destination, d)}/{MANIFEST}")
    ]
    return max(earlier) if earlier else None


# --- the job -----------------------------------------------------------------------------


def _segment_purposes(spark: SparkSession, warehouse: str, batch_date: str) -> dict[str, str]:
    if not catalog.exists(spark, "gold.segments", warehouse):
        raise CdpError("activation needs gold.segments; run the segments step first")
    rows = catalog.read(spark, "gold.segments", warehouse).select("segment", "purpose", "as_of")
    out = {}
    for r in rows.collect():
        if r["as_of"] is not None and r["as_of"].isoformat() != batch_date:
            log.warning(
                "segment %s was built for %s, exporting %s", r["segment"], r["as_of"], batch_date
            )
        out[r["segment"]] = r["purpose"]
    return out


def export_destination(
    spark: SparkSession,
    settings: Settings,
    name: str,
    dest: Destination,
    segment_purpose: str,
    profiles: DataFrame,
    membership: DataFrame,
    batch_date: str,
    generated_at: dt.datetime,
) -> dict[str, Any]:
    """Write one destination's export folder for ``batch_date``; returns its manifest."""
    exports = exports_dir(settings)
    members = ex.current_members(membership, dest.segment)
    checked = ex.permitted(members, profiles, (dest.purpose, segment_purpose))
    tally = {r["is_exported"]: r["count"] for r in checked.groupBy("is_exported").count().collect()}
    # Kept for the one write that reads it three times (data, and both sides of the diff),
    # so the join and the hashing UDFs run once.
    current = ex.export_rows(checked, dest.fields, settings.standardise.default_phone_region)
    current = current.persist()
    before = previous_export(spark, exports, name, batch_date)
    previous = None
    if before is not None:
        previous = (
            spark.read.parquet(f"{export_dir(exports, name, before)}/{KEYS}")
            .where(F.col("file").startswith(f"{ex.DATA}."))
            .select("profile_id", "row")
        )
    added, removed = ex.changes(current, previous)
    manifest = {
        "destination": name,
        "segment": dest.segment,
        "segment_purpose": segment_purpose,
        "purpose": dest.purpose,
        "format": dest.format,
        "fields": list(dest.fields),
        "third_party": dest.third_party,
        "batch_date": batch_date,
        "generated_at": generated_at.isoformat().replace("+00:00", "Z"),
        "previous_batch_date": before,
        "withheld": tally.get(False, 0),
    }
    folder = export_dir(exports, name, batch_date)
    try:
        out = write_folder(
            spark, folder, ex.keyed_files(current, added, removed, dest.format), manifest
        )
    finally:
        current.unpersist()
    later = [
        d for d in storage.list_folders(f"{exports}/{name}") if is_batch_date(d) and d > batch_date
    ]
    if later:
        # A back-filled night changes what the next night's added/removed were computed from.
        log.warning(
            "activation %s: re-exported %s; later exports (%s) diffed against the old one",
            name,
            batch_date,
            ", ".join(later),
        )
    return out


def _check_written(
    spark: SparkSession, settings: Settings, batch_date: str, manifests: list[dict[str, Any]]
) -> None:
    """Great Expectations on what was written: every profile in tonight's data files is
    allowed for the destination's and the segment's purpose (expectations/suites.py). A
    failure removes tonight's folders, so nothing unchecked is left to deliver."""
    from expectations.gate import check_exports

    if not settings.quality.gate:
        return
    exports = exports_dir(settings)
    parts = [
        spark.read.parquet(f"{export_dir(exports, m['destination'], batch_date)}/{KEYS}")
        .where(F.col("file").startswith(f"{ex.DATA}."))
        .select(
            F.lit(m["destination"]).alias("destination"),
            "profile_id",
            F.lit(m["purpose"]).alias("purpose"),
            F.lit(m["segment_purpose"]).alias("segment_purpose"),
        )
        for m in manifests
    ]
    exported = parts[0]
    for part in parts[1:]:
        exported = exported.unionByName(part)
    try:
        check_exports(spark, settings, batch_date, exported)
    except CdpError:
        for m in manifests:
            storage.delete(export_dir(exports, m["destination"], batch_date))
        raise


def _audit(spark: SparkSession, settings: Settings, manifests: list[dict[str, Any]]) -> None:
    rows = [
        (
            m["destination"],
            m["segment"],
            m["purpose"],
            m["format"],
            m["third_party"],
            m["fields"],
            m["row_count"],
            m["added"],
            m["removed"],
            m["withheld"],
            export_dir(exports_dir(settings), m["destination"], m["batch_date"]),
            m["checksum"],
            dt.date.fromisoformat(m["batch_date"]),
            dt.datetime.fromisoformat(m["generated_at"]),
        )
        for m in manifests
    ]
    df = ACTIVATION_EXPORTS.conform(spark.createDataFrame(rows, ACTIVATION_EXPORTS.struct()))
    names = ", ".join(f"'{m['destination']}'" for m in manifests)
    day = manifests[0]["batch_date"]
    catalog.write(
        df,
        "audit.activation_exports",
        settings.paths.warehouse,
        replace_where=f"batch_date = '{day}' AND destination IN ({names})",
    )


def run_exports(
    spark: SparkSession, settings: Settings, batch_date: str
) -> dict[str, dict[str, int]]:
    """Export every destination's segment for ``batch_date``; returns small counts per
    destination (rows, added, removed, withheld) for XCom.

    A destination misconfigured (bad field, label refused, unknown segment) fails the whole
    run before any file is written: a config mistake is not a partial export.
    """
    # A bad date fails here, not as a folder name the next night's diff cannot see.
    if not is_batch_date(batch_date):
        raise CdpError(f"batch date '{batch_date}' is not YYYY-MM-DD")
    dt.date.fromisoformat(batch_date)
    destinations = settings.activation.destinations
    if not destinations:
        return {}
    for name, dest in destinations.items():
        ex.check_destination(name, dest)
    wh = settings.paths.warehouse
    purposes = _segment_purposes(spark, wh, batch_date)
    for name, dest in destinations.items():
        if dest.segment not in purposes:
            raise CdpError(
                f"activation destination '{name}': segment '{dest.segment}' is not in gold.segments"
            )
    profiles = catalog.read(spark, "gold.profiles", wh)
    membership = catalog.read(spark, "gold.segment_membership", wh)
    generated_at = dt.datetime.now(dt.UTC).replace(microsecond=0)
    manifests = []
    for name, dest in destinations.items():
        m = export_destination(
            spark,
            settings,
            name,
            dest,
            purposes[dest.segment],
            profiles,
            membership,
            batch_date,
            generated_at,
        )
        log.info(
            "activation %s %s: %d rows (+%d, -%d), %d withheld for consent",
            name,
            batch_date,
            m["row_count"],
            m["added"],
            m["removed"],
            m["withheld"],
        )
        manifests.append(m)
    _check_written(spark, settings, batch_date, manifests)
    _audit(spark, settings, manifests)
    return {
        m["destination"]: {
            "rows": m["row_count"],
            "added": m["added"],
            "removed": m["removed"],
            "withheld": m["withheld"],
        }
        for m in manifests
    }
