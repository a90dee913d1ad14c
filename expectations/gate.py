"""The quality gate: tonight's build against its suites, before gold is published.

``run_gate`` validates the batch date's slice of every silver table and tonight's staged
build of every gold table (the published table when a gold table was not staged tonight),
one Great Expectations checkpoint per table, all under one run named after the batch date.
It writes Data Docs to ``<warehouse>/_quality/data_docs/`` (index.html) and a JSON summary to
``<warehouse>/_quality/run-<batch date>.json``, and raises ``CdpError`` naming the first
failing table and expectation when anything fails: the DAG then stops before ``publish`` and
last night's gold stays current.

Results keep counts only, never values: a GDPR erasure scans every file under the warehouse
for a person's identifiers, and an unexpected email in a Data Docs page would outlive it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cdp.core import catalog, storage
from cdp.core.errors import CdpError
from expectations import suites as suite_defs

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from cdp.core.settings import Settings

log = logging.getLogger(__name__)

# Counts, never the offending values (see the module docstring).
RESULT_FORMAT = {
    "result_format": "SUMMARY",
    "partial_unexpected_count": 0,
    "exclude_unexpected_values": True,
    "return_unexpected_index_query": False,
}
# Data Docs files worth copying to a non-local warehouse: the pages and their styles
# (fonts and images are decoration).
TEXT_SUFFIXES = (".html", ".css", ".js", ".json", ".svg")


@dataclass
class GateResult:
    """What the gate checked and what failed (counts and names only)."""

    batch_date: str
    success: bool
    skipped: bool = False
    # table -> what was validated: "silver slice", "staged", "published", "whole table"
    tables: dict[str, str] = field(default_factory=dict)
    expectations: int = 0
    # one dict per failed expectation: table, expectation, column, unexpected, error
    failures: list[dict[str, Any]] = field(default_factory=list)
    data_docs: str | None = None
    summary_path: str | None = None

    def brief(self) -> dict[str, Any]:
        """A few numbers for XCom and the run report."""
        return {
            "tables": len(self.tables),
            "expectations": self.expectations,
            "failed": len(self.failures),
            "skipped": int(self.skipped),
            "data_docs": self.data_docs or "",
        }


def quality_folder(warehouse: str) -> str:
    """Where the gate writes Data Docs and run summaries."""
    return f"{warehouse.rstrip('/')}/_quality"


def tonight(
    spark: SparkSession, settings: Settings, batch_date: str
) -> dict[str, tuple[DataFrame, str]]:
    """Every table the gate checks: (DataFrame, what it is), by table name."""
    from pyspark.sql import functions as F

    wh, day = settings.paths.warehouse, dt.date.fromisoformat(batch_date)
    out: dict[str, tuple[DataFrame, str]] = {}
    for name in suite_defs.schemas():
        if name not in catalog.TABLES:
            log.warning("quality gate: %s has a schema but no catalog entry; not checked", name)
            continue
        if name in suite_defs.SCHEMAS:
            if catalog.exists(spark, name, wh):
                df = catalog.read(spark, name, wh).where(F.col("batch_date") == F.lit(day))
                out[name] = (df, "silver slice")
        elif catalog.exists_staged(spark, name, wh):
            out[name] = (catalog.read_staged(spark, name, wh), "staged")
        elif catalog.exists(spark, name, wh):
            out[name] = (catalog.read(spark, name, wh), "published")
    if catalog.exists(spark, suite_defs.IDENTITY_EDGES, wh):
        out[suite_defs.IDENTITY_EDGES] = (
            catalog.read(spark, suite_defs.IDENTITY_EDGES, wh),
            "whole table",
        )
    return out


def _context(docs_dir: Path):
    """An in-memory Great Expectations context whose Data Docs go to ``docs_dir``."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        analytics_enabled=False,
        # Progress bars would flood the nightly log (one per table).
        progress_bars=ProgressBarsConfig(globally=False),
        data_docs_sites={
            "local": {
                "class_name": "SiteBuilder",
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(docs_dir),
                },
            }
        },
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def _failure(table: str, r) -> dict[str, Any]:
    config = r.expectation_config
    kwargs = config.kwargs
    column = kwargs.get("column") or ",".join(kwargs.get("column_list") or [])
    result = r.result or {}
    unexpected = result.get("unexpected_count", result.get("observed_value"))
    return {
        "table": table,
        "expectation": config.type,
        "column": column or None,
        "rule": config.description or None,
        "unexpected": unexpected,
        "error": _error(r.exception_info),
    }


def _error(info: Any) -> str | None:
    """The first line of the exception an expectation raised (a missing column, bad SQL).

    Great Expectations reports it flat, or per failed metric (metric id -> exception info).
    """
    if not info:
        return None
    items = [info] if isinstance(info, dict) and "raised_exception" in info else info
    for item in items.values() if isinstance(items, dict) else items:
        get = item.get if isinstance(item, dict) else lambda key, i=item: getattr(i, key, None)
        if get("raised_exception") or get("exception_message"):
            lines = str(get("exception_message") or "").strip().splitlines()
            return (lines or ["error"])[0][:300]
    return None


def _describe(f: dict[str, Any]) -> str:
    what = f["rule"] or (f"{f['expectation']}({f['column']})" if f["column"] else f["expectation"])
    if f["error"]:
        return f"{f['table']}: {what}: error: {f['error']}"
    return f"{f['table']}: {what}: {f['unexpected']} unexpected"


def _validate(ctx, source, run_id, name: str, df: DataFrame, expectations: list) -> list:
    """One checkpoint: ``df`` against its suite, its result kept in ``ctx``; the expectation
    results."""
    import great_expectations as gx

    asset = source.add_dataframe_asset(name=name)
    batch = asset.add_batch_definition_whole_dataframe("tonight")
    suite = ctx.suites.add(gx.ExpectationSuite(name=name, expectations=expectations))
    vd = ctx.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=suite))
    checkpoint = ctx.checkpoints.add(
        gx.Checkpoint(
            name=name,
            validation_definitions=[vd],
            result_format=RESULT_FORMAT,
        )
    )
    result = checkpoint.run(batch_parameters={"dataframe": df}, run_id=run_id)
    return [r for vr in result.run_results.values() for r in vr.results]


def _copy_docs(spark: SparkSession, local: Path, uri: str) -> None:
    for path in sorted(local.rglob("*")):
        if path.is_file() and path.suffix in TEXT_SUFFIXES:
            rel = path.relative_to(local).as_posix()
            storage.write_text(f"{uri}/{rel}", path.read_text(encoding="utf-8"))


def _checkpoints(
    spark: SparkSession,
    settings: Settings,
    batch_date: str,
    run_name: str,
    batches: dict[str, tuple[DataFrame, str]],
    suites: dict[str, list],
    views: dict[str, DataFrame],
    summary: str,
    docs: str,
) -> GateResult:
    """Validate each of ``batches`` (name -> (DataFrame, what it is)) against its suite, with
    ``views`` registered for the rules that look at other tables; Data Docs in
    ``<warehouse>/_quality/<docs>/`` and the JSON summary ``<warehouse>/_quality/<summary>``
    written. Raises nothing: the caller decides.

    Each kind of check (the gate, the export check) owns its Data Docs site, built once
    after all its tables: Great Expectations rebuilds a site's index from its own in-memory
    context and deletes the pages that context does not hold, so a second kind of check
    writing into the same site would remove the first one's pages."""
    import great_expectations as gx

    folder = quality_folder(settings.paths.warehouse)
    docs_uri = f"{folder}/{docs}"
    local_docs = storage.local_path(docs_uri)
    scratch = None
    if local_docs is None:
        scratch = tempfile.TemporaryDirectory(prefix="cdp-data-docs-")
        build_dir = Path(scratch.name)
    else:
        build_dir = local_docs
    build_dir.mkdir(parents=True, exist_ok=True)

    result = GateResult(batch_date, success=True, data_docs=f"{docs_uri}/index.html")
    try:
        for view, df in views.items():
            df.createOrReplaceTempView(view)
        ctx = _context(build_dir)
        source = ctx.data_sources.add_spark(name="cdp")
        run_id = gx.core.run_identifier.RunIdentifier(
            run_name=run_name, run_time=dt.datetime.now(dt.UTC)
        )
        for name, (df, origin) in batches.items():
            outcomes = _validate(ctx, source, run_id, name, df, suites[name])
            df.unpersist()  # Great Expectations persisted it for its metrics
            result.tables[name] = origin
            result.expectations += len(outcomes)
            result.failures += [_failure(name, r) for r in outcomes if not r.success]
        # Once for all tables: a checkpoint's UpdateDataDocsAction rebuilds every page of
        # the site, which was a quarter of the gate's time with one checkpoint per table.
        ctx.build_data_docs()
        if scratch is not None:
            _copy_docs(spark, build_dir, docs_uri)
    finally:
        for view in views:
            spark.catalog.dropTempView(view)
        if scratch is not None:
            scratch.cleanup()

    result.success = not result.failures
    result.summary_path = f"{folder}/{summary}"
    storage.write_text(result.summary_path, json.dumps(asdict(result), indent=1))
    return result


def run_gate(spark: SparkSession, settings: Settings, batch_date: str) -> GateResult:
    """Validate tonight's build; CdpError naming the first failure when anything fails."""
    if not settings.quality.gate:
        log.warning(
            "quality gate is off (quality.gate=false): %s is published unchecked", batch_date
        )
        return GateResult(batch_date, success=True, skipped=True)

    batches = tonight(spark, settings, batch_date)
    result = _checkpoints(
        spark,
        settings,
        batch_date,
        batch_date,
        batches,
        suite_defs.build_suites(settings),
        {suite_defs.view_name(name): df for name, (df, _) in batches.items()},
        f"run-{batch_date}.json",
        "data_docs",
    )
    log.info(
        "quality gate %s: %d tables, %d expectations, %d failed",
        batch_date,
        len(result.tables),
        result.expectations,
        len(result.failures),
    )
    if result.failures:
        first = result.failures[0]
        more = len(result.failures) - 1
        also = f" (and {more} more failed expectation{'s' if more != 1 else ''})" if more else ""
        raise CdpError(
            f"quality gate failed for {batch_date}: {_describe(first)}{also};"
            f" gold not published; see {result.summary_path}"
        )
    return result


def check_exports(
    spark: SparkSession, settings: Settings, batch_date: str, exported: DataFrame
) -> GateResult:
    """Validate what tonight's activation exports wrote (``exported``: destination,
    profile_id, purpose, segment_purpose) against the published gold.profiles; CdpError when
    an exported profile lacks consent for either purpose. Data Docs (``export_docs/``) and a
    summary (``exports-<date>.json``) beside the gate's."""
    profiles = catalog.read(spark, "gold.profiles", settings.paths.warehouse)
    result = _checkpoints(
        spark,
        settings,
        batch_date,
        f"exports {batch_date}",
        {"exports": (exported, "written")},
        {"exports": suite_defs.exports_suite()},
        {suite_defs.view_name("gold.profiles"): profiles},
        f"exports-{batch_date}.json",
        "export_docs",
    )
    if result.failures:
        raise CdpError(
            f"export check failed for {batch_date}: {_describe(result.failures[0])};"
            f" see {result.summary_path}"
        )
    return result
