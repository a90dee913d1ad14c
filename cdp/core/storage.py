"""Files beside the tables (run reports, trained models, keys, activation exports, landed
extracts), on local disk or object storage (s3a://, abfss://, gs://, hdfs://), through
pyarrow's file systems.

Tables go through cdp/core/catalog.py; these helpers are for the files around them. They need
no Spark session: the same calls work from a classic driver, from a Spark Connect client
(which has no JVM to reach Hadoop's FileSystem through) and from a process without Spark
(landing). Credentials for object storage come from the environment, as pyarrow reads them
(AWS_*, AZURE_STORAGE_*, GOOGLE_APPLICATION_CREDENTIALS).

This is also the one place that tells a local path from a URI: ``local_path`` and
``is_local`` take a plain path, ``file:/path`` (as Hadoop writes it) and ``file:///path``
alike.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import BinaryIO

from pyarrow import fs as pafs

from cdp.core.errors import CdpError


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


def filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    """(pyarrow file system, path in it) of ``uri``: a one-line error naming ``uri`` when no
    file system serves it."""
    local = local_path(uri)
    if local is not None:
        # pyarrow's local file system takes plain paths only, not file: URIs.
        return pafs.LocalFileSystem(), str(local)
    if uri.startswith(("s3a://", "s3n://")):
        # Spark's (Hadoop's) names for S3; pyarrow knows it as s3 (``spark_uri`` maps back).
        uri = "s3://" + uri.split("://", 1)[1]
    try:
        return pafs.FileSystem.from_uri(uri)
    except Exception as exc:  # pyarrow raises ArrowInvalid / OSError subclasses
        raise CdpError(f"cannot open storage location {uri}: {exc}") from exc


def spark_uri(root: str, fs_path: str) -> str:
    """The URI Spark reads a file by: the pyarrow path of a file found under ``root``, with
    ``root``'s own scheme put back (a ``file:///`` root stays a URI), or the plain path for a
    plain root."""
    if "://" not in root:
        return fs_path
    scheme = root.split("://", 1)[0]
    # Spark's Hadoop connector for S3 is s3a; pyarrow paths carry no scheme.
    return f"{'s3a' if scheme == 's3' else scheme}://{fs_path}"


def _info(uri: str) -> tuple[pafs.FileSystem, str, pafs.FileInfo]:
    fs, path = filesystem(uri)
    return fs, path, fs.get_file_info(path)


def exists(uri: str) -> bool:
    """Whether a file or a folder exists at ``uri``."""
    return _info(uri)[2].type != pafs.FileType.NotFound


def _children(uri: str, kind: pafs.FileType) -> list[str]:
    fs, path, info = _info(uri)
    if info.type != pafs.FileType.Directory:
        return []
    found = fs.get_file_info(pafs.FileSelector(path, recursive=False))
    return sorted(f.base_name for f in found if f.type == kind)


def list_names(folder: str) -> list[str]:
    """Names of the files directly in ``folder``; empty when it does not exist."""
    return _children(folder, pafs.FileType.File)


def list_folders(folder: str) -> list[str]:
    """Names of the folders directly in ``folder``; empty when it does not exist."""
    return _children(folder, pafs.FileType.Directory)


def count_files(folder: str, suffix: str = "") -> int:
    """Files under ``folder`` (recursively) whose name ends with ``suffix``."""
    fs, path, info = _info(folder)
    if info.type != pafs.FileType.Directory:
        return 0
    found = fs.get_file_info(pafs.FileSelector(path, recursive=True))
    return sum(1 for f in found if f.type == pafs.FileType.File and f.base_name.endswith(suffix))


def write_text(uri: str, text: str) -> None:
    """Write (or replace) a small text file, making its folder."""
    fs, path = filesystem(uri)
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with fs.open_output_stream(path) as out:
        out.write(text.encode("utf-8"))


def read_text(uri: str) -> str:
    """The text of a small file."""
    fs, path = filesystem(uri)
    with fs.open_input_stream(path) as stream:
        return stream.read().decode("utf-8")


def delete(uri: str) -> bool:
    """Delete a file or a folder with everything in it; whether anything was there."""
    fs, path, info = _info(uri)
    if info.type == pafs.FileType.Directory:
        fs.delete_dir(path)
    elif info.type == pafs.FileType.File:
        fs.delete_file(path)
    else:
        return False
    return True


def move(source: str, target: str) -> None:
    """Move a file or a folder to ``target`` (on object storage: copied, then deleted)."""
    fs, src, info = _info(source)
    _, dst = filesystem(target)
    try:
        fs.move(src, dst)
        return
    except (OSError, NotImplementedError) as exc:
        if info.type != pafs.FileType.Directory:
            raise CdpError(f"could not move {source} to {target}: {exc}") from exc
    # Object stores have no folders to rename (pyarrow's S3 refuses): copy, then delete.
    pafs.copy_files(src, dst, source_filesystem=fs, destination_filesystem=fs)
    fs.delete_dir(src)


def sha256_of(uri: str) -> str:
    """SHA-256 (lower-case hex) of a file, streamed in chunks (a file of any size fits)."""
    fs, path = filesystem(uri)
    with fs.open_input_stream(path) as stream:
        return sha256_of_stream(stream)


def sha256_of_stream(stream: BinaryIO, chunk: int = 8 << 20) -> str:
    """SHA-256 (lower-case hex) of what is left in an open binary stream (a Python or pyarrow
    file), read in chunks so a file of any size fits in memory."""
    digest = hashlib.sha256()
    while block := stream.read(chunk):
        digest.update(block)
    return digest.hexdigest()
