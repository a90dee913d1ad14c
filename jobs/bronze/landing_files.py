"""Finding and fingerprinting landed files, on local disk or object storage (pyarrow.fs)."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pyarrow import fs as pafs

from cdp.core import storage
from cdp.core.errors import CdpError

if TYPE_CHECKING:
    from cdp.core.settings import Settings


@dataclass(frozen=True)
class LandedFile:
    """One file found in ``<landing>/<source>/<batch_date>/``."""

    source: str
    batch_date: str
    uri: str  # what Spark reads
    name: str
    size: int


def list_landed(landing: str, source: str, batch_date: str) -> list[LandedFile] | None:
    """Files of one source and date, sorted by name; None when the folder is missing.

    Hidden files (``.``/``_`` prefix, e.g. ``_SUCCESS`` markers) are not extracts.
    """
    filesystem, root = storage.filesystem(landing)
    folder = f"{root.rstrip('/')}/{source}/{batch_date}"
    info = filesystem.get_file_info(folder)
    if info.type == pafs.FileType.NotFound:
        return None
    if info.type != pafs.FileType.Directory:
        raise CdpError(f"{folder}: expected a folder of extracts, found a file")
    found = filesystem.get_file_info(pafs.FileSelector(folder, recursive=False))
    files = [
        LandedFile(source, batch_date, storage.spark_uri(landing, f.path), f.base_name, f.size or 0)
        for f in found
        if f.type == pafs.FileType.File and not f.base_name.startswith((".", "_"))
    ]
    return sorted(files, key=lambda f: f.name)


def _fs_path(uri: str) -> str:
    """The pyarrow path of a landed file's Spark URI (``list_landed``): no scheme."""
    return uri.split("://", 1)[1] if "://" in uri else uri


def sha256_of(landing: str, uri: str) -> str:
    """Content hash: the same file landed twice (any name, any date) is recognised by it.
    Read through pyarrow, like the listing, so landing needs no Spark session."""
    filesystem, _ = storage.filesystem(landing)
    with filesystem.open_input_stream(_fs_path(uri)) as stream:
        return storage.sha256_of_stream(stream)


def read_csv_header(landing: str, uri: str, max_bytes: int = 1 << 20) -> list[str]:
    """Column names from a CSV file's header row, read without a Spark job.

    A byte-order mark is dropped; names go through ``bronze_column_names`` so every landed
    column survives as its own bronze column.
    """
    filesystem, _ = storage.filesystem(landing)
    with filesystem.open_input_stream(_fs_path(uri)) as stream:
        head = stream.read(max_bytes).decode("utf-8", errors="replace").lstrip("\ufeff")
    first = next(csv.reader(io.StringIO(head)), [])
    return bronze_column_names(first)


# Characters Delta refuses in a column name (without column mapping).
_DELTA_UNSAFE = re.compile(r"[ ,;{}()\n\t=]")


def bronze_column_names(landed: list[str]) -> list[str]:
    """Bronze column names for a file's landed column names, in order, every one kept.

    Blank names become ``_c<i>``; characters Delta refuses (space, comma, semicolon, braces,
    parentheses, tab, newline, equals) become ``_``; names that then repeat, ignoring case as
    Spark does, get a ``_<n>`` suffix. The values stay verbatim.
    """
    names: list[str] = []
    seen: set[str] = set()
    for i, raw in enumerate(landed):
        name = _DELTA_UNSAFE.sub("_", raw.strip()) or f"_c{i}"
        base, n = name, 1
        while name.lower() in seen:
            n += 1
            name = f"{base}_{n}"
        names.append(name)
        seen.add(name.lower())
    return names


def landed_files(spark: object, settings: Settings, batch_date: str) -> dict[str, int]:
    """The step ``land``: files landed per configured source for ``batch_date``."""
    return landed_sources(settings.paths.landing, batch_date, settings.ingest.sources)


def landed_sources(landing: str, batch_date: str, sources: tuple[str, ...]) -> dict[str, int]:
    """Files landed per source for ``batch_date`` (a source without a folder is left out).

    A one-line error when the landing location itself does not exist.
    """
    if not storage.exists(landing):
        raise CdpError(f"landing folder not found: {landing}")
    found = {}
    for source in sources:
        files = list_landed(landing, source, batch_date)
        if files is not None:
            found[source] = len(files)
    return found
