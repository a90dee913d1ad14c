"""Small files beside the tables (run reports, trained models), on local disk or any Hadoop
file system the Spark session can reach (s3a://, abfss://, hdfs://).

Tables go through cdp/core/catalog.py; these helpers are for the few JSON and HTML files a run
keeps under ``<warehouse>/_reports`` and ``<warehouse>/_models``, and for content hashes.
This is also the one place that tells a local path from a URI: ``local_path`` and
``is_local`` take a plain path, ``file:/path`` (as Hadoop writes it) and ``file:///path``
alike.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def is_uri(location: str) -> bool:
    """Whether ``location`` is written as a URI (``s3a://...``, ``file:/...``) rather than as
    a plain path."""
    # Hadoop writes local folders as file:/path (one slash), which has no "://".
    return "://" in location or location.startswith("file:")


def local_path(uri: str) -> Path | None:
    """The local path of ``uri`` (a plain path, ``file:/path`` or ``file:///path``); None for
    a remote store (s3a://, abfss://, ...)."""
    if uri.startswith("file:"):
        return Path(uri.removeprefix("file://").removeprefix("file:"))
    return None if is_uri(uri) else Path(uri)


def is_local(uri: str) -> bool:
    """Whether ``uri`` is on local disk (see ``local_path``)."""
    return local_path(uri) is not None


def hadoop_fs(spark: SparkSession, uri: str):
    """(file system, path) of ``uri`` in Hadoop's FileSystem API, which has no Python binding
    of its own: the same calls for local disk and object storage."""
    jvm = spark.sparkContext._jvm  # noqa: SLF001
    path = jvm.org.apache.hadoop.fs.Path(uri)
    return path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), path  # noqa: SLF001


def sha256_of(spark: SparkSession, uri: str) -> str:
    """SHA-256 (lower-case hex) of a file anywhere Hadoop reaches, streamed through the JVM (no
    bytes cross to Python, so an audience file of any size hashes at disk speed)."""
    jvm = spark.sparkContext._jvm  # noqa: SLF001
    fs, path = hadoop_fs(spark, uri)
    digest = jvm.java.security.MessageDigest.getInstance("SHA-256")
    stream = jvm.java.security.DigestInputStream(fs.open(path), digest)
    try:
        jvm.org.apache.commons.io.IOUtils.consume(stream)
    finally:
        stream.close()
    return bytes(digest.digest()).hex()


def sha256_of_stream(stream: BinaryIO, chunk: int = 8 << 20) -> str:
    """SHA-256 (lower-case hex) of what is left in an open binary stream (a Python or pyarrow
    file), read in chunks so a file of any size fits in memory."""
    digest = hashlib.sha256()
    while block := stream.read(chunk):
        digest.update(block)
    return digest.hexdigest()


def write_text(spark: SparkSession, uri: str, text: str) -> None:
    """Write (or replace) a small text file."""
    local = local_path(uri)
    if local is not None:
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_text(text, encoding="utf-8")
        return
    fs, path = hadoop_fs(spark, uri)
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
    fs, path = hadoop_fs(spark, uri)
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
    fs, path = hadoop_fs(spark, folder)
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
    fs, path = hadoop_fs(spark, uri)
    return bool(fs.delete(path, True))


def count_files(spark: SparkSession, folder: str, suffix: str = "") -> int:
    """Files under ``folder`` (recursively) whose name ends with ``suffix``."""
    local = local_path(folder)
    if local is not None:
        return sum(1 for p in local.rglob(f"*{suffix}") if p.is_file()) if local.is_dir() else 0
    fs, path = hadoop_fs(spark, folder)
    if not fs.exists(path):
        return 0
    files, n = fs.listFiles(path, True), 0
    while files.hasNext():
        n += files.next().getPath().getName().endswith(suffix)
    return n
