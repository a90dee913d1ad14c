"""The nightly build for one batch date, in process, and its summaries.

The Airflow DAG (dags/cdp_nightly.py) runs the step list (cdp/app/steps.py), one task each,
and is what `cdp run` executes (cdp/app/orchestration.py); ``run_batch`` runs the same list
in-process without Airflow, for the tests that need a built warehouse quickly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cdp.app.steps import run_steps

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from cdp.core.settings import Settings
    from expectations import gate
    from jobs.bronze import ingest
    from jobs.identity import run as identity
    from jobs.silver import run as silver


@dataclass
class BatchResult:
    """What one batch date's build did."""

    batch_date: str
    bronze: ingest.IngestReport
    silver: silver.SilverReport
    identity: identity.IdentityReport
    purchases: int = 0
    buyers: int = 0
    profiles: int = 0
    quality: gate.GateResult | None = None
    published: list[str] = field(default_factory=list)
    scores: dict = field(default_factory=dict)
    segments: dict = field(default_factory=dict)
    exports: dict = field(default_factory=dict)


def run_batch(spark: SparkSession, settings: Settings, batch_date: str) -> BatchResult:
    """Every step of the build in order (``steps.STEPS``): land, standardise, resolve
    identities, build purchases, RFM and profiles, score and segment them, then the quality
    gate and publish (a failed gate raises CdpError, and gold stays last night's), then the
    activation exports."""
    r = run_steps(spark, settings, batch_date)
    return BatchResult(
        batch_date,
        bronze=r["bronze"],
        silver=r["silver"],
        identity=r["identity"],
        purchases=r["purchases"],
        buyers=r["rfm"],
        profiles=r["profiles"],
        quality=r["quality_gate"],
        published=r["publish"],
        scores=r["models"],
        segments=r["segments"],
        exports=r["activate"],
    )


def describe(result: BatchResult) -> str:
    """A short human summary of one batch."""
    lines = [f"batch {result.batch_date}"]
    for f in result.bronze.files:
        note = f" ({f.error})" if f.error else ""
        lines.append(f"  file {f.source}/{f.file_name}: {f.status}, {f.rows} rows{note}")
    for source in result.bronze.missing_sources:
        lines.append(f"  warning: no {source} extract landed")
    for source, rows in result.silver.bronze_rows.items():
        lines.append(
            f"  {source}: {rows} bronze -> {result.silver.silver_rows.get(source, 0)} silver"
            f" + {result.silver.quarantined_rows.get(source, 0)} quarantined"
        )
    i = result.identity
    lines.append(
        f"  identity: {i.identifiers} identifiers, {i.edges} edges, {i.profiles} profiles,"
        f" {i.cuts} identifiers cut by guard rails, {i.merges} profile merges"
    )
    lines.append(
        f"  profiles: {result.profiles} profiles, {result.purchases} purchases,"
        f" {result.buyers} buyers with RFM"
    )
    if result.quality is not None:
        lines.append(_describe_gate(result.quality.brief()))
    return "\n".join(lines)


def _describe_gate(brief: dict) -> str:
    if brief.get("skipped"):
        return "  quality gate: off (quality.gate=false), published unchecked"
    return (
        f"  quality gate: {brief['expectations']} expectations on {brief['tables']} tables"
        f" passed; Data Docs {brief['data_docs']}"
    )


def describe_run(run) -> str:
    """A short human summary of one DAG run (``orchestration.DagRunResult``)."""
    r = run.results
    lines = [f"batch {run.batch_date}: {run.state} in {run.seconds:.0f}s"]
    bronze = r.get("bronze", {})
    for f in bronze.get("files", []):
        note = f" ({f['error']})" if f.get("error") else ""
        lines.append(f"  file {f['source']}/{f['file']}: {f['status']}, {f['rows']} rows{note}")
    for source in bronze.get("missing_sources", []):
        lines.append(f"  warning: no {source} extract landed")
    silver = r.get("silver", {})
    for source, rows in silver.get("bronze_rows", {}).items():
        lines.append(
            f"  {source}: {rows} bronze -> {silver['silver_rows'].get(source, 0)} silver"
            f" + {silver['quarantined_rows'].get(source, 0)} quarantined"
        )
    i = r.get("identity", {})
    if i:
        lines.append(
            f"  identity: {i['identifiers']} identifiers, {i['edges']} edges,"
            f" {i['profiles']} profiles, {i['cuts']} identifiers cut by guard rails,"
            f" {i['merges']} profile merges"
        )
    if "profiles" in r:
        lines.append(
            f"  profiles: {r['profiles']['profiles']} profiles,"
            f" {r.get('purchases', {}).get('purchases', 0)} purchases,"
            f" {r.get('rfm', {}).get('buyers', 0)} buyers with RFM"
        )
    for model, m in (r.get("models") or {}).items():
        if "skipped" in m:
            lines.append(f"  {model}: no scores ({m['skipped']})")
        else:
            trained = ", trained tonight (no champion before)" if m.get("trained") else ""
            lines.append(f"  {model}: {m.get('scored', 0)} scored by v{m['version']}{trained}")
    for name, c in (r.get("segments") or {}).items():
        lines.append(
            f"  segment {name}: {c['members']} members ({c['entered']} entered,"
            f" {c['exited']} exited)"
        )
    if "quality_gate" in r:
        lines.append(_describe_gate(r["quality_gate"]))
    for name, c in (r.get("activate") or {}).items():
        lines.append(
            f"  export {name}: {c['rows']} rows (+{c['added']} -{c['removed']},"
            f" {c['withheld']} withheld for consent)"
        )
    return "\n".join(lines)
