"""The nightly build: land -> bronze -> silver -> identity -> purchases -> RFM -> profiles ->
models -> segments -> quality gate -> publish -> activate -> report.

A thin Airflow 3 TaskFlow DAG over the one step list (cdp/app/steps.py): one task per step,
each calling its job by name and returning the step's few counts (XCom carries table names
and numbers, never data). Identity, the profile steps, the
propensity scores and the segments stage tonight's gold tables; the quality gate (expectations/gate.py) checks them with Great
Expectations and fails the run when a suite fails, so ``publish`` never replaces last night's
gold with a broken build. The same file runs embedded, through
`cdp run --date D` (dag.test with a local SQLite metadata database, every task in the
calling process sharing one Spark session), and on a real Airflow deployment where each task
builds its own session against the cluster, or as a client of a Spark Connect server
(infra/README.md).

Parameters: ``batch_date`` (YYYY-MM-DD; default: the day before the run's logical date, the
business day the night's extracts cover), ``landing``, ``warehouse`` and ``config`` (a YAML
settings file); unset ones come from the settings (defaults, CDP_* environment variables).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import Asset, Param, dag, get_current_context, task

from cdp.app.steps import REPORT, STEPS, Step

DEFAULT_ARGS = {
    "owner": "cdp",
    "retries": 2,
    "retry_delay": dt.timedelta(minutes=5),
}


def asset(table: str) -> Asset:
    """The Airflow Asset of a published table (downstream DAGs can be scheduled on it)."""
    layer, entity = table.split(".", 1)
    return Asset(name=table, uri=f"cdp://warehouse/{layer}/{entity}")


def _run_context(step: Step | None = None) -> tuple[Any, Any, str]:
    """(settings, spark, batch_date) for the running task, from the DAG run's params."""
    from cdp.app.orchestration import batch_date_from_context, settings_for_task, with_own_driver
    from cdp.core.spark import get_spark

    context = get_current_context()
    settings = settings_for_task(context)
    if step is not None and step.own_driver:
        settings = with_own_driver(settings)
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
    def task_of(step: Step):
        def run(upstream: dict | None = None) -> Any:
            settings, spark, batch_date = _run_context(step)
            return step.summary(step.run(spark, settings, batch_date))

        run.__doc__ = step.doc
        options = {"retries": step.retries} if step.retries is not None else {}
        return task(task_id=step.name, outlets=[asset(t) for t in step.outlets], **options)(run)

    # One dict argument, not **summaries: a TaskFlow callable that takes **kwargs gets
    # Airflow's whole task context in them (dag, ti, macros, ...), which the report's steps
    # table then listed above the steps.
    def write_report(summaries: dict) -> dict:
        settings, spark, batch_date = _run_context()
        return REPORT.function()(spark, settings, batch_date, summaries)

    write_report.__doc__ = REPORT.doc
    report = task(task_id=REPORT.name)(write_report)
    # Each step waits for the one before it; the report gets every step's summary but land's.
    previous, summaries = None, {}
    for step in STEPS:
        previous = task_of(step)(previous)
        if step.name != "land":
            summaries[step.name] = previous
    report(summaries)


cdp_nightly()
