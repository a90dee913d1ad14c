"""GDPR in activation exports: find a subject's exported rows, erase them from every file.

Export files are copies of personal data outside the tables (hashed identifiers are still
personal data), so an access request must list them and an erasure must rewrite them.
Their rows carry no profile id (an ad platform gets hashes only), so the private
``_keys.parquet`` beside each export (jobs/activation/run.py) is how a profile's rows are
found: it holds, for every row of data, added and removed, the file, the profile and the
row as sent. Erasure rewrites a whole export folder from its keys less the subject's rows
(data, added, removed, _keys and the manifest's counts and checksums), through the same
writer as the nightly export.

What was already delivered to a destination cannot be recalled from here: the next nightly
export no longer holds the person, so a platform that takes the full file drops them; the
request records which destinations had them (``find_in_exports``) for notifying recipients
(GDPR Article 19).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F

from cdp.core import storage
from jobs.activation import run

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)


def _keyed_folders(spark: SparkSession, exports_dir: str) -> list[tuple[str, str]]:
    """(destination, batch_date) of every export folder that has keys."""
    out = []
    for destination in storage.list_folders(exports_dir):
        for day in storage.list_folders(f"{exports_dir}/{destination}"):
            folder = run.export_dir(exports_dir, destination, day)
            if run.is_batch_date(day) and storage.exists(f"{folder}/{run.KEYS}"):
                out.append((destination, day))
    return out


def _hits(
    spark: SparkSession, exports_dir: str, profile_ids: Iterable[str]
) -> dict[tuple[str, str], int]:
    """(destination, batch_date) -> rows of the given profiles, over every export's keys in
    one Spark read (a year of nightly exports is hundreds of small folders)."""
    ids = sorted(set(profile_ids))
    folders = _keyed_folders(spark, exports_dir)
    if not ids or not folders:
        return {}
    paths = [f"{run.export_dir(exports_dir, d, day)}/{run.KEYS}" for d, day in folders]
    # Only the key columns are read: each destination's row struct has its own fields.
    keys = spark.read.schema("file string, profile_id string").parquet(*paths)
    # .../<destination>/<batch_date>/_keys.parquet/part-...: both names are safe characters
    # (check_destination, ISO dates), so the URI's last folders are them verbatim.
    folder = F.regexp_extract(F.col("_metadata.file_path"), r"([^/]+)/([^/]+)/_keys\.parquet/", 0)
    found = (
        keys.where(F.col("profile_id").isin(ids))
        .select(folder.alias("folder"))
        .groupBy("folder")
        .count()
        .collect()
    )
    out = {}
    for r in found:
        destination, day = r["folder"].split("/")[:2]
        out[(destination, day)] = r["count"]
    return out


def _subject_keys(spark: SparkSession, folder: str, ids: list[str]) -> DataFrame:
    return spark.read.parquet(f"{folder}/{run.KEYS}").where(F.col("profile_id").isin(ids))


def find_in_exports(
    spark: SparkSession, exports_dir: str, profile_ids: Iterable[str]
) -> list[dict[str, Any]]:
    """Every exported row of the given profiles, for an access request: destination,
    batch_date, file, profile_id and the row as sent (field -> value; values as Spark
    returns them: dates, decimals and timestamps are Python objects)."""
    ids = sorted(set(profile_ids))
    out: list[dict[str, Any]] = []
    for destination, day in sorted(_hits(spark, exports_dir, ids)):
        folder = run.export_dir(exports_dir, destination, day)
        for r in _subject_keys(spark, folder, ids).orderBy("file", "profile_id").collect():
            out.append(
                {
                    "destination": destination,
                    "batch_date": day,
                    "file": r["file"],
                    "profile_id": r["profile_id"],
                    "row": r["row"].asDict(recursive=True),
                }
            )
    return out


def erase_from_exports(spark: SparkSession, exports_dir: str, profile_ids: Iterable[str]) -> int:
    """Rewrite every export folder holding the given profiles without their rows (data,
    added, removed, _keys), with the manifest's counts and checksums updated; returns the
    rows removed. Safe to repeat: a second run finds nothing."""
    ids = sorted(set(profile_ids))
    hits = _hits(spark, exports_dir, ids)
    erased_at = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    for destination in storage.list_folders(exports_dir):
        for name in storage.list_folders(f"{exports_dir}/{destination}"):
            if name.startswith(run.STAGING_PREFIX):
                # Left by an export that crashed before its swap (the next run of that date
                # would remove it): it may hold the person and is not an export, so it goes.
                storage.delete(f"{exports_dir}/{destination}/{name}")
                log.info("activation %s: removed unfinished %s", destination, name)
    for (destination, day), rows in sorted(hits.items()):
        folder = run.export_dir(exports_dir, destination, day)
        manifest = run.read_manifest(spark, folder)
        kept = spark.read.parquet(f"{folder}/{run.KEYS}").where(~F.col("profile_id").isin(ids))
        manifest["erased_rows"] = manifest.get("erased_rows", 0) + rows
        manifest["erased_at"] = erased_at
        run.write_folder(spark, folder, kept, manifest)
        log.info("activation %s %s: erased %d row(s)", destination, day, rows)
    return sum(hits.values())
