"""The nightly build's steps, in order: the one list the Airflow DAG (dags/cdp_nightly.py),
`cdp run`, the in-process build of the tests (``pipeline.run_batch``), the identity
evaluation and the bench all run.

land -> bronze -> silver -> identity -> purchases -> rfm -> profiles -> models -> segments ->
quality_gate -> publish -> activate -> report

Each step names its job as ``"module:function"``, called with ``(spark, settings,
batch_date)``; the module is imported when the step runs, not when this list is read, so the
Airflow DAG processor parses the DAG without importing Spark, splink or MLflow. A step's
``summary`` turns what the job returned into the few JSON counts a DAG task hands on (XCom
carries table names and numbers, never data); ``run_batch`` keeps the typed reports.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cdp.core.catalog import TABLES

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from cdp.core.settings import Settings

# The tables `publish` replaces with tonight's staged build.
GOLD_TABLES = tuple(name for name in TABLES if name.startswith("gold."))


def _files(report: Any) -> dict:
    return {
        "files": [
            {"source": f.source, "file": f.file_name, "status": f.status, "rows": f.rows,
             "error": f.error}
            for f in report.files
        ],
        "missing_sources": list(report.missing_sources),
        "rows": report.rows(),
    }  # fmt: skip


def _silver(report: Any) -> dict:
    return {
        "bronze_rows": report.bronze_rows,
        "silver_rows": report.silver_rows,
        "quarantined_rows": report.quarantined_rows,
    }


def _count(key: str) -> Callable[[Any], dict]:
    return lambda n: {key: n}


def _as_is(value: Any) -> Any:
    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value


@dataclass(frozen=True)
class Step:
    """One step of the nightly build: one Airflow task, one call in ``run_batch``."""

    name: str
    job: str  # "module:function", called as function(spark, settings, batch_date)
    doc: str
    outlets: tuple[str, ...] = ()  # the tables the step writes, as the DAG's Assets
    summary: Callable[[Any], Any] = _as_is
    # None: the DAG's default retries. A failed expectation is a fact about tonight's data,
    # which no retry heals.
    retries: int | None = None
    # A Spark driver of the task's own even where the other steps are clients of a Spark
    # Connect server (``spark.remote``): MLflow's Spark flavour saves and loads models through
    # Hadoop's FileSystem in the driver's JVM, which a Connect client does not have.
    own_driver: bool = False

    def function(self) -> Callable[..., Any]:
        module, _, attribute = self.job.partition(":")
        return getattr(importlib.import_module(module), attribute)

    def run(self, spark: SparkSession, settings: Settings, batch_date: str) -> Any:
        return self.function()(spark, settings, batch_date)


STEPS: tuple[Step, ...] = (
    Step(
        "land",
        "jobs.bronze.landing_files:landed_files",
        "Check the landing zone: which sources delivered files for the batch date.",
        summary=lambda found: {"sources": found},
    ),
    Step(
        "bronze",
        "jobs.bronze.ingest:run",
        "Land the batch date's files into bronze (jobs/bronze/ingest.py).",
        outlets=("bronze.crm", "bronze.loyalty", "bronze.pos", "bronze.web"),
        summary=_files,
    ),
    Step(
        "silver",
        "jobs.silver.run:run",
        "Standardise bronze into the silver classes (jobs/silver/run.py).",
        outlets=("silver.person_records", "silver.commerce_lines"),
        summary=_silver,
    ),
    Step(
        "identity",
        "jobs.identity.run:run",
        "Resolve identities into profiles (jobs/identity/run.py); stages the identity tables.",
    ),
    Step(
        "purchases",
        "jobs.profiles.run:run_purchases",
        "Purchases with the profile behind each (jobs/profiles/run.py).",
        summary=_count("purchases"),
    ),
    Step(
        "rfm",
        "jobs.profiles.run:run_rfm",
        "RFM scores and segments as of the batch date.",
        summary=_count("buyers"),
    ),
    Step(
        "profiles",
        "jobs.profiles.run:run_profiles",
        "Unified profiles: golden attributes, consent, behaviour, RFM.",
        summary=_count("profiles"),
    ),
    Step(
        "models",
        "jobs.models.run:run_scoring",
        "Score tonight's profiles with each champion model (MLflow), training one first on a"
        " new installation (jobs/models/run.py); stages gold.propensity_scores and"
        " gold.clv_scores.",
        own_driver=True,
    ),
    Step(
        "segments",
        "jobs.segments.run:run_segments",
        "Evaluate the YAML segments and look-alikes, consent-filtered (jobs/segments/run.py);"
        " stages gold.segments and gold.segment_membership.",
    ),
    Step(
        "quality_gate",
        "expectations.gate:run_gate",
        "Great Expectations suites on the silver slice and the staged gold tables; fails the"
        " run (and so skips publish) when one fails (expectations/gate.py).",
        summary=lambda result: result.brief(),
        retries=0,
    ),
    Step(
        "publish",
        "cdp.core.catalog:publish_build",
        "Replace each published table with tonight's staged build (one commit per table).",
        outlets=GOLD_TABLES,
        summary=lambda done: {"published": len(done), "tables": done},
    ),
    # Files leave for the channels only after the gate passed and gold was published.
    Step(
        "activate",
        "jobs.activation.run:run_exports",
        "Export each destination's segment, consent and labels enforced (jobs/activation/run.py).",
    ),
)

# The last task: what the build holds and an HTML run report, from every step's summary.
REPORT = Step(
    "report",
    "cdp.app.report:write_run_report",
    "Summary of what the build holds and an HTML run report with charts (cdp/app/report.py).",
)


def step(name: str) -> Step:
    """The step called ``name``; a one-line error naming the known steps otherwise."""
    for s in (*STEPS, REPORT):
        if s.name == name:
            return s
    raise KeyError(f"no step {name!r}; steps: {', '.join(s.name for s in (*STEPS, REPORT))}")


def steps_until(last: str) -> tuple[Step, ...]:
    """The steps from the first up to and including ``last``."""
    names = [s.name for s in STEPS]
    return STEPS[: names.index(step(last).name) + 1]


def run_steps(
    spark: SparkSession, settings: Settings, batch_date: str, steps: Iterable[Step] = STEPS
) -> dict[str, Any]:
    """Run ``steps`` in order in this process; what each job returned, by step name."""
    return {s.name: s.run(spark, settings, batch_date) for s in steps}


def summaries(results: Mapping[str, Any]) -> dict[str, Any]:
    """The DAG tasks' summaries of ``run_steps``'s results."""
    return {name: step(name).summary(value) for name, value in results.items()}
