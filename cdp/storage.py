"""Small files beside the tables (run reports, trained models), on local disk or any Hadoop
file system the Spark session can reach (s3a://, abfss://, hdfs://).

Tables go through cdp/catalog.py; these helpers are for the few JSON and HTML files a run
keeps under ``<warehouse>/_reports`` and ``<warehouse>/_models``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def local_path(uri: str) -> Path | None:
    """The local path of ``uri``; None for a remote store (s3a://, abfss://, ...)."""
    # Hadoop writes local folders as file:/path (one slash), which has no "://".
    if uri.startswith("file:"):
        return Path(uri.removeprefix("file://").removeprefix("file:"))
    if "://" not in uri:
        return Path(uri)
    return None


def _hadoop(spark: SparkSession, uri: str):
    """(file system, path) of Hadoop's FileSystem API: it has no Python binding of its own."""
    jvm = spark.sparkContext._jvm  # noqa: SLF001
    path = jvm.org.apache.hadoop.fs.Path(uri)
    return path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), path  # noqa: SLF001


def write_text(spark: SparkSession, uri: str, text: str) -> None:
    """Write (or replace) a small text file."""
    local = local_path(uri)
    if local is not None:
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_text(text, encoding="utf-8")
        return
    fs, path = _hadoop(spark, uri)
    stream = fs.create(path, True)
    try:
        stream.write(bytearray(text.encode("utf-8")))
    finally:
        stream.close()


def read_text(spark: SparkSession, uri: str) -> str:
    """The text of a small file."""
    local = local_path(uri)
    if local is not None:
        return local.read_text(encoding="utf-8")
    fs, path = _hadoop(spark, uri)
    jvm = spark.sparkContext._jvm  # noqa: SLF001
    stream = fs.open(path)
    try:
        return jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
    finally:
        stream.close()


def list_names(spark: SparkSession, folder: str) -> list[str]:
    """Names of the files directly in ``folder``; empty when it does not exist."""
    local = local_path(folder)
    if local is not None:
        return sorted(p.name for p in local.iterdir() if p.is_file()) if local.is_dir() else []
    fs, path = _hadoop(spark, folder)
    if not fs.exists(path):
        return []
    return sorted(s.getPath().getName() for s in fs.listStatus(path) if s.isFile())


def delete(spark: SparkSession, uri: str) -> bool:
    """Delete a file or a folder with everything in it; whether anything was there."""
    local = local_path(uri)
    if local is not None:
        import shutil

        if local.is_dir():
            shutil.rmtree(local)
            return True
        if local.exists():
            local.unlink()
            return True
        return False
    fs, path = _hadoop(spark, uri)
    return bool(fs.delete(path, True))


def count_files(spark: SparkSession, folder: str, suffix: str = "") -> int:
    """Files under ``folder`` (recursively) whose name ends with ``suffix``."""
    local = local_path(folder)
    if local is not None:
        return sum(1 for p in local.rglob(f"*{suffix}") if p.is_file()) if local.is_dir() else 0
    fs, path = _hadoop(spark, folder)
    if not fs.exists(path):
        return 0
    files, n = fs.listFiles(path, True), 0
    while files.hasNext():
        n += files.next().getPath().getName().endswith(suffix)
    return n
