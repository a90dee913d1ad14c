"""Activation exports as DataFrame transforms: who goes to a destination, with which fields,
and what changed since the previous export.

A destination (``activation.destinations``) names a segment, the purpose it serves, a file
format and the fields it receives. Tonight's export is built in named steps:

1. ``current_members``: the segment's current members (gold.segment_membership, is_member);
2. ``permitted``: members joined to gold.profiles, flagged ``is_exported`` only when the
   profile is allowed for BOTH the destination's purpose and the segment's purpose
   (``is_<purpose>_allowed``). A member without a profile row, or not allowed, is withheld
   and counted, so members = exported + withheld and nobody disappears silently;
3. ``export_rows``: one row per exported profile, ``profile_id`` plus a ``row`` struct of the
   destination's fields in order (hashed identifiers computed in Spark, jobs/activation/hashing.py);
4. ``changes``: added and removed profiles against the previous export's rows (the first
   export adds everyone and removes no one); a removed row is sent as it was last sent, since
   that is what the platform must delete;
5. ``keyed_files``: data, added and removed rows in one frame with the file each lands in.
   That frame is stored privately beside the files as ``_keys.parquet`` (never sent): it ties
   every sent row to its profile, for tomorrow's diff and for GDPR access and erasure.

Fields are checked before anything runs (``check_destination``): a third party never gets a
field labelled no-third-party-export (C2, e.g. raw ``email`` or ``first_name``), decided by the
labels on gold.profiles' schema (jobs/governance/usage.py), not by column names here.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from cdp.core.errors import CdpError
from jobs.activation.hashing import HASHED_FIELDS, hashed_column
from jobs.governance.usage import export_columns
from schemas.audit import EXPORT_FORMATS
from schemas.gold import PROFILE
from schemas.xdm import PURPOSES

if TYPE_CHECKING:
    from collections.abc import Iterable

    from cdp.core.settings import Destination

# Destination names become folder names and appear in the audit table's replaceWhere.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")

DATA, ADDED, REMOVED = "data", "added", "removed"
FILE_KINDS = (DATA, ADDED, REMOVED)


def file_name(kind: str, fmt: str) -> str:
    """``data.csv``, ``added.parquet``, ..."""
    return f"{kind}.{fmt}"


def check_destination(name: str, dest: Destination) -> None:
    """A one-line CdpError for a destination that cannot be exported as configured: a bad
    name or format, an unknown purpose, no segment, an unknown field, or a field its labels
    keep from a third party."""
    where = f"activation destination '{name}'"
    if not _NAME.fullmatch(name):
        raise CdpError(f"{where}: name may hold only letters, digits, '_', '-' and '.'")
    if not dest.segment:
        raise CdpError(f"{where}: no segment")
    if dest.format not in EXPORT_FORMATS:
        raise CdpError(f"{where}: format '{dest.format}' is not one of {', '.join(EXPORT_FORMATS)}")
    if dest.purpose not in PURPOSES:
        raise CdpError(f"{where}: purpose '{dest.purpose}' is not one of {', '.join(PURPOSES)}")
    fields = list(dest.fields)
    if not fields:
        raise CdpError(f"{where}: no fields")
    repeated = sorted({f for f in fields if fields.count(f) > 1})
    if repeated:
        raise CdpError(f"{where}: field '{repeated[0]}' listed twice")
    unknown = [f for f in fields if f not in HASHED_FIELDS and f not in PROFILE.names]
    if unknown:
        raise CdpError(
            f"{where}: unknown field '{unknown[0]}' (a gold.profiles column, or "
            f"{' / '.join(HASHED_FIELDS)})"
        )
    plain = [f for f in fields if f not in HASHED_FIELDS]
    allowed = set(export_columns(PROFILE, plain, third_party=dest.third_party))
    refused = [f for f in plain if f not in allowed]
    if refused:
        raise CdpError(
            f"{where}: field '{refused[0]}' may not go to a third party "
            "(labelled no-third-party-export, C2)"
        )


def current_members(membership: DataFrame, segment: str) -> DataFrame:
    """profile_id of every current member of ``segment`` (one row per profile)."""
    return (
        membership.where((F.col("segment") == segment) & F.col("is_member"))
        .select("profile_id")
        .distinct()
    )


def permitted(members: DataFrame, profiles: DataFrame, purposes: Iterable[str]) -> DataFrame:
    """Members with their profile columns and ``is_exported``: allowed for every purpose.

    A left join, so a member whose profile is gone (merged away, erased) stays visible as
    withheld instead of vanishing; a null permission counts as not allowed.
    """
    allowed = F.lit(True)
    for purpose in dict.fromkeys(purposes):  # the same purpose twice is one check
        allowed = allowed & F.coalesce(F.col(f"is_{purpose}_allowed"), F.lit(False))
    return members.join(profiles, "profile_id", "left").withColumn("is_exported", allowed)


def export_rows(
    permitted_members: DataFrame, fields: Iterable[str], default_phone_region: str
) -> DataFrame:
    """One row per exported profile: ``profile_id`` and ``row``, the destination's fields
    in order."""
    columns = [
        (hashed_column(f, default_phone_region) if f in HASHED_FIELDS else F.col(f)).alias(f)
        for f in fields
    ]
    return permitted_members.where("is_exported").select(
        "profile_id", F.struct(*columns).alias("row")
    )


def align_rows(rows: DataFrame, row_type: T.StructType) -> DataFrame:
    """``rows`` (profile_id, row) with ``row`` reshaped to ``row_type``: an earlier export made
    with other fields still diffs (a field it lacked is null, one it had extra is dropped)."""
    have = set(rows.schema["row"].dataType.fieldNames())
    columns = [
        (F.col(f"row.{f.name}") if f.name in have else F.lit(None)).cast(f.dataType).alias(f.name)
        for f in row_type.fields
    ]
    return rows.select("profile_id", F.struct(*columns).alias("row"))


def changes(current: DataFrame, previous: DataFrame | None) -> tuple[DataFrame, DataFrame]:
    """(added, removed) by profile: current rows whose profile the previous export lacked,
    and previous rows (as they were sent) whose profile is no longer exported. With no
    previous export everyone is added."""
    if previous is None:
        return current, current.limit(0)
    previous = align_rows(previous, current.schema["row"].dataType)
    added = current.join(previous.select("profile_id"), "profile_id", "left_anti")
    removed = previous.join(current.select("profile_id"), "profile_id", "left_anti")
    return added, removed


def keyed_files(current: DataFrame, added: DataFrame, removed: DataFrame, fmt: str) -> DataFrame:
    """The ``_keys`` frame: file, profile_id and row of every row of the three files."""
    parts = [
        frame.select(F.lit(file_name(kind, fmt)).alias("file"), "profile_id", "row")
        for kind, frame in ((DATA, current), (ADDED, added), (REMOVED, removed))
    ]
    out = parts[0]
    for part in parts[1:]:
        out = out.unionByName(part)
    return out


def file_rows(keys: DataFrame, file: str, fmt: str) -> DataFrame:
    """The rows of one export file, as sent: the fields only, in one partition ordered by
    profile so a re-run writes the same bytes. CSV holds no nested values, so arrays (e.g.
    ``channels``) go as JSON text."""
    rows = (
        keys.where(F.col("file") == file)
        .repartition(1)
        .sortWithinPartitions("profile_id")
        .select("row.*")
    )
    if fmt != "csv":
        return rows
    nested = (T.ArrayType, T.MapType, T.StructType)
    return rows.select(
        *[
            F.to_json(f.name).alias(f.name) if isinstance(f.dataType, nested) else F.col(f.name)
            for f in rows.schema.fields
        ]
    )
