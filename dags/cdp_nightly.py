"""The nightly build: land -> bronze -> silver -> identity -> purchases -> RFM -> profiles ->
models -> segments -> quality gate -> publish -> activate -> report.

A thin Airflow 3 TaskFlow DAG: each task calls one job by name and returns a few counts
(XCom carries table names and numbers, never data). Identity, the profile steps, the
propensity scores and the segments stage tonight's gold tables; the quality gate (expectations/gate.py) checks them with Great
Expectations and fails the run when a suite fails, so ``publish`` never replaces last night's
gold with a broken build. The same file runs embedded, through
`cdp run --date D` (dag.test with a local SQLite metadata database, every task in the
calling process sharing one Spark session), and on a real Airflow deployment where each task
builds its own session against the cluster (infra/README.md).

Parameters: ``batch_date`` (YYYY-MM-DD; default: the day before the run's logical date, the
business day the night's extracts cover), ``landing``, ``warehouse`` and ``config`` (a YAML
settings file); unset ones come from the settings (defaults, CDP_* environment variables).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import Asset, Param, dag, get_current_context, task

from cdp.core.catalog import TABLES

# The tables `publish` replaces with tonight's staged build: its outlets.
GOLD_TABLES = tuple(name for name in TABLES if name.startswith("gold."))

DEFAULT_ARGS = {
    "owner": "cdp",
    "retries": 2,
    "retry_delay": dt.timedelta(minutes=5),
}


def asset(table: str) -> Asset:
    """The Airflow Asset of a published table (downstream DAGs can be scheduled on it)."""
    layer, entity = table.split(".", 1)
    return Asset(name=table, uri=f"cdp://warehouse/{layer}/{entity}")


def _run_context() -> tuple[Any, Any, str]:
    """(settings, spark, batch_date) for the running task, from the DAG run's params."""
    from cdp.app.orchestration import batch_date_from_context, settings_from_params
    from cdp.core.spark import get_spark

    context = get_current_context()
    settings = settings_from_params(context["params"])
    return settings, get_spark(settings), batch_date_from_context(context)


@dag(
    dag_id="cdp_nightly",
    description="Nightly CDP build for one business day: bronze, silver, identity, profiles, "
    "scores, segments, exports.",
    doc_md=__doc__,
    schedule="0 2 * * *",
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    # A hung Spark job must not hold back the following nights (max_active_runs=1).
    dagrun_timeout=dt.timedelta(hours=12),
    default_args=DEFAULT_ARGS,
    tags=["cdp"],
    params={
        "batch_date": Param(None, type=["null", "string"], description="YYYY-MM-DD"),
        "landing": Param(None, type=["null", "string"]),
        "warehouse": Param(None, type=["null", "string"]),
        "config": Param(None, type=["null", "string"]),
    },
)
def cdp_nightly():
    @task
    def land() -> dict:
        """Check the landing zone: which sources delivered files for the batch date."""
        from jobs.bronze.landing_files import landed_sources

        settings, _, batch_date = _run_context()
        found = landed_sources(settings.paths.landing, batch_date, settings.ingest.sources)
        return {"batch_date": batch_date, "sources": found}

    @task(outlets=[asset(f"bronze.{s}") for s in ("crm", "loyalty", "pos", "web")])
    def bronze(landed: dict) -> dict:
        """Land the batch date's files into bronze (jobs/bronze/ingest.py)."""
        from jobs.bronze import ingest

        settings, spark, batch_date = _run_context()
        report = ingest.run(spark, settings, batch_date)
        return {
            "files": [
                {"source": f.source, "file": f.file_name, "status": f.status, "rows": f.rows,
                 "error": f.error}
                for f in report.files
            ],
            "missing_sources": list(report.missing_sources),
            "rows": report.rows(),
        }  # fmt: skip

    @task(outlets=[asset(t) for t in ("silver.person_records", "silver.commerce_lines")])
    def silver(ingested: dict) -> dict:
        """Standardise bronze into the silver classes (jobs/silver/run.py)."""
        from jobs.silver import run as silver_job

        settings, spark, batch_date = _run_context()
        report = silver_job.run(spark, settings, batch_date)
        return {
            "bronze_rows": report.bronze_rows,
            "silver_rows": report.silver_rows,
            "quarantined_rows": report.quarantined_rows,
        }

    @task
    def identity(standardised: dict) -> dict:
        """Resolve identities into profiles (jobs/identity/run.py)."""
        from dataclasses import asdict

        from jobs.identity import run as identity_job

        settings, spark, batch_date = _run_context()
        return asdict(identity_job.run(spark, settings, batch_date))

    @task
    def purchases(resolved: dict) -> dict:
        """Purchases with the profile behind each (jobs/profiles/run.py)."""
        from jobs.profiles import run as profiles_job

        settings, spark, batch_date = _run_context()
        return {"purchases": profiles_job.run_purchases(spark, settings, batch_date)}

    @task
    def rfm(bought: dict) -> dict:
        """RFM scores and segments as of the batch date."""
        from jobs.profiles import run as profiles_job

        settings, spark, batch_date = _run_context()
        return {"buyers": profiles_job.run_rfm(spark, settings, batch_date)}

    @task
    def profiles(scored: dict) -> dict:
        """Unified profiles: golden attributes, consent, behaviour, RFM."""
        from jobs.profiles import run as profiles_job

        settings, spark, batch_date = _run_context()
        return {"profiles": profiles_job.run_profiles(spark, settings, batch_date)}

    # A failed expectation is a fact about tonight's data: retrying cannot heal it.
    @task(retries=0)
    def quality_gate(built: dict) -> dict:
        """Great Expectations suites on the silver slice and the staged gold tables; fails the
        run (and so skips publish) when one fails (expectations/gate.py)."""
        from expectations.gate import run_gate

        settings, spark, batch_date = _run_context()
        return run_gate(spark, settings, batch_date).brief()

    @task(outlets=[asset(t) for t in GOLD_TABLES])
    def publish(checked: dict) -> dict:
        """Replace each published table with tonight's staged build (one commit per table)."""
        from cdp.core import catalog

        settings, spark, _ = _run_context()
        done = catalog.publish(spark, list(catalog.TABLES), settings.paths.warehouse)
        return {"published": len(done), "tables": done}

    @task
    def models(built: dict) -> dict:
        """Score tonight's profiles with each champion model (MLflow), training one first on
        a new installation (jobs/models/run.py); stages gold.propensity_scores."""
        from jobs.models import run as models_job

        settings, spark, batch_date = _run_context()
        return models_job.run_scoring(spark, settings, batch_date)

    @task
    def segments(scored: dict) -> dict:
        """Evaluate the YAML segments and look-alikes, consent-filtered (jobs/segments/run.py);
        stages gold.segments and gold.segment_membership."""
        from jobs.segments import run as segments_job

        settings, spark, batch_date = _run_context()
        return segments_job.run_segments(spark, settings, batch_date)

    # Files leave for the channels only after the gate passed and gold was published.
    @task
    def activate(published: dict) -> dict:
        """Export each destination's segment, consent and labels enforced
        (jobs/activation/run.py)."""
        from jobs.activation import run as activation_job

        settings, spark, batch_date = _run_context()
        return activation_job.run_exports(spark, settings, batch_date)

    @task
    def report(**steps: dict) -> dict:
        """Summary of what the build holds and an HTML run report with charts (cdp/app/report.py)."""
        from cdp.app.report import write_report

        settings, spark, batch_date = _run_context()
        summary, path = write_report(spark, settings.paths.warehouse, batch_date, steps)
        return {"summary": summary, "report": path}

    landed = land()
    ingested = bronze(landed)
    standardised = silver(ingested)
    resolved = identity(standardised)
    bought = purchases(resolved)
    scored = rfm(bought)
    built = profiles(scored)
    propensity = models(built)
    segmented = segments(propensity)
    checked = quality_gate(segmented)
    published = publish(checked)
    exported = activate(published)
    report(
        bronze=ingested,
        silver=standardised,
        identity=resolved,
        purchases=bought,
        rfm=scored,
        profiles=built,
        models=propensity,
        segments=segmented,
        quality_gate=checked,
        publish=published,
        activate=exported,
    )


cdp_nightly()
