"""Bronze: every landed file into its source's Delta table, values verbatim, with lineage.

Rules (CONTRACTS.md section 1, issue 2):
- the same file landed twice (same content, any name or date) adds nothing: files are
  recognised by their SHA-256 and every write replaces its files' slice (``replaceWhere``);
- extra columns are kept (schema merge), all values stay text exactly as landed;
- a file missing a required column fails alone, with an error naming file and column;
- rows the parser cannot read (bad quoting, invalid UTF-8, broken JSON) are kept with
  ``_malformed_reason`` and ``_raw_record`` so silver can quarantine them: nothing is lost.

``run`` lands one batch date; ``run_range`` lands many in one pass (a backfill) with the same
tables and per-date reports, paying the per-date overhead (Delta commits, counts) once.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from cdp.core import catalog
from cdp.core.errors import CdpError, MissingColumnError
from jobs.bronze.landing_files import (
    LandedFile,
    bronze_column_names,
    list_landed,
    read_csv_header,
    sha256_of,
)
from jobs.governance.suppression import Suppression
from schemas.bronze import FILE_LOG
from schemas.landing import LINEAGE_COLUMNS, SOURCES, LandingSpec

if TYPE_CHECKING:
    from cdp.core.settings import Settings

log = logging.getLogger(__name__)

CORRUPT = "_corrupt_record"
# Spark decodes invalid UTF-8 bytes to U+FFFD; seeing it means the file was not UTF-8.
REPLACEMENT_CHAR = "\ufffd"


@dataclass
class FileOutcome:
    """What happened to one landed file."""

    source: str
    batch_date: str
    file_path: str
    file_name: str
    file_sha256: str | None
    file_bytes: int
    rows: int = 0
    malformed_rows: int = 0
    # Rows not landed because they carry an erased person's identifier (GDPR suppression).
    suppressed_rows: int = 0
    status: str = "ingested"
    error: str | None = None


@dataclass
class IngestReport:
    """Outcome of landing one batch date."""

    batch_date: str
    files: list[FileOutcome] = field(default_factory=list)
    missing_sources: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        return [f.error for f in self.files if f.status == "failed" and f.error]

    def rows(self, source: str | None = None) -> int:
        return sum(
            f.rows
            for f in self.files
            if f.status == "ingested" and (source is None or f.source == source)
        )


# --------------------------------------------------------------------------- pure transforms


def with_row_numbers(df: DataFrame, column: str = "_row_number") -> DataFrame:
    """Number rows 1..n in file order without a global sort.

    ``monotonically_increasing_id`` is (partition index << 33) + position in the partition;
    adding each partition's offset (one small aggregate) gives consecutive numbers that scale
    to files read in many partitions.
    """
    mid = F.monotonically_increasing_id()
    if not catalog.is_connect(df.sparkSession) and df.rdd.getNumPartitions() == 1:
        # One partition (every multi-line CSV file, any small file): no offsets to add.
        return df.withColumn(column, (mid + 1).cast("long"))
    df = df.withColumn("_mid", mid).withColumn("_part", F.shiftright(F.col("_mid"), 33))
    counts = sorted((r["_part"], r["count"]) for r in df.groupBy("_part").count().collect())
    offsets, running = [], 0
    for part, count in counts:
        offsets += [F.lit(part), F.lit(running)]
        running += count
    offset = F.create_map(*offsets)[F.col("_part")] if offsets else F.lit(0)
    position = F.col("_mid").bitwiseAND(F.lit((1 << 33) - 1))
    return df.withColumn(column, (offset + position + 1).cast("long")).drop("_mid", "_part")


def add_lineage(
    df: DataFrame, file: LandedFile, sha256: str, ingested_at: dt.datetime
) -> DataFrame:
    """Lineage columns every bronze row carries."""
    return df.select(
        "*",
        F.lit(file.uri).alias("_source_file"),
        F.lit(sha256).alias("_file_sha256"),
        F.lit(dt.date.fromisoformat(file.batch_date)).alias("_batch_date"),
        F.lit(ingested_at).cast("timestamp").alias("_ingested_at"),
    )


def flag_malformed_csv(df: DataFrame, data_columns: list[str]) -> DataFrame:
    """Mark rows the CSV parser could not split, or that hold bytes that were not UTF-8."""
    any_bad_char = F.lit(False)
    for name in [*data_columns, CORRUPT]:
        any_bad_char = any_bad_char | F.coalesce(
            F.col(name).contains(REPLACEMENT_CHAR), F.lit(False)
        )
    reason = (
        F.when(F.col(CORRUPT).isNotNull(), F.lit("malformed_csv_row"))
        .when(any_bad_char, F.lit("invalid_utf8"))
        .otherwise(F.lit(None).cast("string"))
    )
    raw = F.when(F.col(CORRUPT).isNotNull(), F.col(CORRUPT)).when(
        any_bad_char, F.to_json(F.struct(*[F.col(c) for c in data_columns]))
    )
    return df.withColumn("_malformed_reason", reason).withColumn("_raw_record", raw).drop(CORRUPT)


def parse_json_lines(lines: DataFrame) -> tuple[DataFrame, list[str]]:
    """JSON Lines (``value``, ``_row_number``) to one text column per key seen, verbatim.

    Parsed as map<string,string> so numbers and nested values keep their landed text; a line
    that is not a JSON object (truncated, garbage) keeps its raw text as a malformed row.
    """
    lines = lines.where(F.trim(F.col("value")) != "")
    parsed = lines.withColumn(
        "_obj",
        F.from_json("value", T.MapType(T.StringType(), T.StringType()), {"mode": "PERMISSIVE"}),
    )
    landed = [r[0] for r in parsed.select(F.explode(F.map_keys("_obj"))).distinct().collect()]
    # Lower-case keys (the contract's) first, so a stray "Event_ID" never takes "event_id".
    landed.sort(key=lambda k: (k != k.lower(), k))
    keys = bronze_column_names(landed)
    bad = F.col("_obj").isNull() | F.col("value").contains(REPLACEMENT_CHAR)
    reason = (
        F.when(F.col("_obj").isNull(), F.lit("malformed_json"))
        .when(bad, F.lit("invalid_utf8"))
        .otherwise(F.lit(None).cast("string"))
    )
    out = parsed.select(
        *[F.col("_obj")[k].alias(name) for k, name in zip(landed, keys, strict=True)],
        "_row_number",
        reason.alias("_malformed_reason"),
        # The line itself is the verbatim record (Spark re-renders numbers: 12.50 -> 12.5).
        F.col("value").alias("_raw_record"),
    )
    return out, keys


# --------------------------------------------------------------------------- reading files


def _read_csv(spark: SparkSession, landing: str, file: LandedFile, spec: LandingSpec) -> DataFrame:
    header = read_csv_header(landing, file.uri)
    if not header:
        raise CdpError(f"{file.uri}: empty file (no header row)")
    for column in spec.key:
        if column not in header:
            raise MissingColumnError(file.uri, column)
    schema = T.StructType(
        [T.StructField(c, T.StringType()) for c in header]
        + [T.StructField(CORRUPT, T.StringType())]
    )
    df = (
        spark.read.schema(schema)
        .option("header", True)
        # RFC 4180: quoted fields may hold commas, quotes ("") and line breaks.
        .option("multiLine", True)
        .option("escape", '"')
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT)
        .option("encoding", "UTF-8")
        .csv(file.uri)
    )
    return flag_malformed_csv(with_row_numbers(df), header)


def _read_jsonl(spark: SparkSession, file: LandedFile, spec: LandingSpec) -> DataFrame:
    lines = with_row_numbers(spark.read.text(file.uri))
    df, keys = parse_json_lines(lines)
    good_keys = set(keys)
    for column in spec.key:
        if column not in good_keys:
            raise MissingColumnError(file.uri, column)
    return df


def read_landed_file(
    spark: SparkSession, landing: str, file: LandedFile, spec: LandingSpec
) -> DataFrame:
    """One landed file as text columns plus ``_row_number``, ``_malformed_reason``, ``_raw_record``."""
    if file.size == 0:
        if spec.file_format == "csv":
            raise CdpError(f"{file.uri}: empty file (no header row)")
        # JSON Lines has no header: an empty file is a quiet day with no events.
        schema = T.StructType(
            [T.StructField(c, T.StringType()) for c in spec.columns]
            + [
                T.StructField("_row_number", T.LongType()),
                T.StructField("_malformed_reason", T.StringType()),
                T.StructField("_raw_record", T.StringType()),
            ]
        )
        return spark.createDataFrame([], schema)
    if spec.file_format == "csv":
        return _read_csv(spark, landing, file, spec)
    return _read_jsonl(spark, file, spec)


# --------------------------------------------------------------------------- the job


def _already_ingested(spark: SparkSession, warehouse: str) -> set[str]:
    if not catalog.exists(spark, "bronze.file_log", warehouse):
        return set()
    log_df = catalog.read(spark, "bronze.file_log", warehouse)
    return {
        r[0] for r in log_df.where("status = 'ingested'").select("file_sha256").distinct().collect()
    }


def _ordered(df: DataFrame) -> DataFrame:
    data = [c for c in df.columns if c not in LINEAGE_COLUMNS]
    return df.select(*data, *LINEAGE_COLUMNS)


def _fail(outcome: FileOutcome, uri: str, exc: Exception) -> None:
    outcome.status = "failed"
    if isinstance(exc, CdpError):
        outcome.error = str(exc)
    else:
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        outcome.error = f"{uri}: unreadable ({exc.__class__.__name__}: {first})"
    log.error("%s", outcome.error)


def _hash_list(outcomes: list[FileOutcome]) -> str:
    return ", ".join(f"'{o.file_sha256}'" for o in outcomes)


def _write_files(
    spec: LandingSpec, warehouse: str, frames: list[tuple[FileOutcome, DataFrame]]
) -> None:
    """One Delta commit for all new files of a source; file by file if that fails.

    Replacing the files' own slice (by content hash) makes the write idempotent even when a
    previous run died between this write and the file log.
    """

    def write(df: DataFrame, outcomes: list[FileOutcome]) -> None:
        catalog.write(
            _ordered(df),
            spec.bronze_table,
            warehouse,
            replace_where=f"_file_sha256 IN ({_hash_list(outcomes)})",
            merge_schema=True,
        )

    batch = frames[0][1]
    for _, other in frames[1:]:
        batch = batch.unionByName(other, allowMissingColumns=True)
    try:
        write(batch, [o for o, _ in frames])
        return
    except Exception as exc:
        if len(frames) == 1:
            _fail(frames[0][0], frames[0][0].file_path, exc)
            return
        log.warning("bronze %s: batch write failed, retrying file by file", spec.source)
    for outcome, df in frames:
        try:
            write(df, [outcome])
        except Exception as exc:
            _fail(outcome, outcome.file_path, exc)


def _count_rows(spark: SparkSession, warehouse: str, outcomes: list[FileOutcome]) -> None:
    """Rows and malformed rows per file, read back from what was written (one job in all)."""
    written = [o for o in outcomes if o.status == "ingested"]
    if not written:
        return
    per_source: list[DataFrame] = []
    for source in dict.fromkeys(o.source for o in written):
        mine = [o for o in written if o.source == source]
        days = ", ".join(sorted({f"DATE'{o.batch_date}'" for o in mine}))
        per_source.append(
            catalog.read(spark, SOURCES[source].bronze_table, warehouse)
            # The batch dates only prune partitions: every row of these files carries one.
            .where(f"_batch_date IN ({days}) AND _file_sha256 IN ({_hash_list(mine)})")
            .select(F.lit(source).alias("source"), "_file_sha256", "_malformed_reason")
        )
    union = per_source[0]
    for other in per_source[1:]:
        union = union.unionByName(other)
    counts = {
        (r["source"], r["_file_sha256"]): r
        for r in union.groupBy("source", "_file_sha256")
        .agg(F.count(F.lit(1)).alias("rows"), F.count("_malformed_reason").alias("malformed"))
        .collect()
    }
    for outcome in written:
        row = counts.get((outcome.source, outcome.file_sha256))
        outcome.rows = int(row["rows"]) if row else 0
        outcome.malformed_rows = int(row["malformed"]) if row else 0


@dataclass
class _Pass:
    """One ingestion pass over a range of batch dates: what it has read and still has to write."""

    known: set[str]  # hashes already ingested, or claimed by a file read in this pass
    ingested_at: dt.datetime
    frames: dict[str, list[tuple[FileOutcome, DataFrame]]] = field(default_factory=dict)
    # hash -> the file of this pass that claimed it; later copies were called duplicates.
    claimed_by: dict[str, FileOutcome] = field(default_factory=dict)
    copies: list[FileOutcome] = field(default_factory=list)
    # Keyed hashes of erased subjects' identifiers (None: nobody was ever erased).
    suppression: Suppression | None = None


def _read_source(
    spark: SparkSession, settings: Settings, source: str, batch_date: str, run: _Pass
) -> tuple[list[FileOutcome], bool]:
    """Hash and read one source's files for ``batch_date``; outcomes and whether the folder existed."""
    spec = SOURCES[source]
    files = list_landed(settings.paths.landing, source, batch_date)
    if files is None:
        return [], False
    outcomes: list[FileOutcome] = []
    for file in files:
        outcome = FileOutcome(source, batch_date, file.uri, file.name, None, file.size)
        outcomes.append(outcome)
        try:
            outcome.file_sha256 = sha256_of(settings.paths.landing, file.uri)
            if outcome.file_sha256 in run.known:
                outcome.status = "duplicate"
                if outcome.file_sha256 in run.claimed_by:
                    run.copies.append(outcome)
                continue
            df = read_landed_file(spark, settings.paths.landing, file, spec)
            lined = add_lineage(df, file, outcome.file_sha256, run.ingested_at)
            if run.suppression is not None:
                lined, outcome.suppressed_rows = run.suppression.apply(lined, source)
            run.frames.setdefault(source, []).append((outcome, lined))
            run.known.add(outcome.file_sha256)
            run.claimed_by[outcome.file_sha256] = outcome
        except Exception as exc:  # a broken file must not take the good ones down with it
            _fail(outcome, file.uri, exc)
    return outcomes, True


def _retry_copies(spark: SparkSession, settings: Settings, run: _Pass) -> list[FileOutcome]:
    """Land again the copies of a file whose write failed on an earlier date of the pass.

    Run date by date, that later date would not have known the hash (the file log lists only
    ingested files), so it would have tried the copy: the pass does the same, in date order.
    """
    retried: list[FileOutcome] = []
    for copy in run.copies:
        first = run.claimed_by[copy.file_sha256]
        if first.status != "failed" or first.batch_date == copy.batch_date:
            continue
        file = LandedFile(
            copy.source, copy.batch_date, copy.file_path, copy.file_name, copy.file_bytes
        )
        copy.status = "ingested"
        run.claimed_by[copy.file_sha256] = copy
        retried.append(copy)
        try:
            df = read_landed_file(spark, settings.paths.landing, file, SOURCES[copy.source])
            lined = add_lineage(df, file, copy.file_sha256, run.ingested_at)
            if run.suppression is not None:
                lined, copy.suppressed_rows = run.suppression.apply(lined, copy.source)
        except Exception as exc:
            _fail(copy, file.uri, exc)
            continue
        _write_files(SOURCES[copy.source], settings.paths.warehouse, [(copy, lined)])
    return retried


def batch_dates(dates: list[str]) -> list[str]:
    """The distinct batch dates, oldest first; a one-line error for a malformed one."""
    for day in dates:
        try:
            dt.date.fromisoformat(day)
        except (TypeError, ValueError):
            raise CdpError(f"bad batch date {day!r}: expected YYYY-MM-DD") from None
    return sorted(set(dates), key=dt.date.fromisoformat)


def run_range(spark: SparkSession, settings: Settings, dates: list[str]) -> list[IngestReport]:
    """Land every source's files for all ``dates`` in one pass; one report per date, oldest first.

    The tables and reports equal those of ``run`` date by date, oldest first: files are read
    and recognised as duplicates in that order, each row keeps its own ``_batch_date``, and a
    failing file still fails alone. What the pass saves is the per-date overhead: one Delta
    commit per source, one row count and one file-log commit for the whole range.
    """
    days = batch_dates(dates)
    reports = {day: IngestReport(day) for day in days}
    run = _Pass(
        known=_already_ingested(spark, settings.paths.warehouse),
        ingested_at=dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0),
        suppression=Suppression.load(spark, settings),
    )
    for day in days:
        for source in settings.ingest.sources:
            outcomes, present = _read_source(spark, settings, source, day, run)
            if not present:
                log.warning("no %s extract landed for %s", source, day)
                reports[day].missing_sources.append(source)
            reports[day].files.extend(outcomes)
    for source, frames in run.frames.items():
        _write_files(SOURCES[source], settings.paths.warehouse, frames)
    retried = _retry_copies(spark, settings, run) if run.copies else []
    _count_rows(
        spark,
        settings.paths.warehouse,
        [o for frames in run.frames.values() for o, _ in frames] + retried,
    )
    _log_files([o for day in days for o in reports[day].files], run.ingested_at, spark, settings)
    return [reports[day] for day in days]


def _log_files(
    outcomes: list[FileOutcome], logged_at: dt.datetime, spark: SparkSession, settings: Settings
) -> None:
    """Append one bronze.file_log row per file outcome (one commit)."""
    if not outcomes:
        return
    rows = []
    for o in outcomes:
        row = {
            **asdict(o),
            "batch_date": dt.date.fromisoformat(o.batch_date),
            "logged_at": logged_at,
        }
        rows.append(tuple(row[f.name] for f in FILE_LOG.fields))
    log_df = spark.createDataFrame(rows, FILE_LOG.struct())
    catalog.write(
        log_df, "bronze.file_log", settings.paths.warehouse, mode="append", merge_schema=True
    )


def run(spark: SparkSession, settings: Settings, batch_date: str) -> IngestReport:
    """Land every source's files for ``batch_date`` into bronze and log each file."""
    return run_range(spark, settings, [batch_date])[0]
