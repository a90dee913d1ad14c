"""Run the nightly Airflow DAG embedded: no scheduler, no server, a local SQLite database.

`cdp run --date D` calls ``run_nightly``: Airflow's ``dag.test`` runs every task of
dags/cdp_nightly.py in this process (they share one Spark session), for one batch date, with
the metadata database in ``airflow.home`` (default ``<warehouse>/_airflow``). Retries are
switched off for the embedded run so a failure reports at once; the DAG keeps them for a
deployment. A failed task becomes a one-line error naming the task and its exception.

Airflow reads its configuration when first imported, so the environment is set before that
import; one process can use one Airflow home.

The other side of the run params: ``settings_from_params`` and ``batch_date_from_context`` are
how every task of the DAGs in dags/ reads them back, embedded or on a deployment.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cdp.core import storage
from cdp.core.errors import CdpError
from cdp.core.settings import Settings, load_settings

log = logging.getLogger(__name__)

DAG_ID = "cdp_nightly"
DAGS_FOLDER = Path(__file__).resolve().parents[2] / "dags"


@dataclass
class DagRunResult:
    """What one embedded DAG run did: its state and each task's returned counts."""

    batch_date: str
    run_id: str
    state: str
    results: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    task_seconds: dict[str, float] = field(default_factory=dict)


def airflow_home(settings: Settings) -> Path:
    """Where the embedded run keeps Airflow's metadata database and logs."""
    if settings.airflow.home:
        return Path(settings.airflow.home)
    local = storage.local_path(settings.paths.warehouse)
    if local is None:
        return Path(__file__).resolve().parents[2] / ".cache" / "airflow"
    return local / "_airflow"


def settings_from_params(params: Mapping[str, Any]) -> Settings:
    """The settings a DAG run asked for in its params (what ``run_nightly``, ``run_training``
    and ``run_gdpr`` send): ``config`` (a YAML file), then ``landing`` and ``warehouse``; an
    unset or empty param leaves the setting as the defaults and environment give it."""
    return load_settings(params.get("config") or None).with_paths(
        landing=params.get("landing") or None, warehouse=params.get("warehouse") or None
    )


def settings_for_task(context: Mapping[str, Any]) -> Settings:
    """``settings_from_params`` for the running task, its Spark application named after the
    task and the batch date ("cdp cdp_nightly.identity 2026-11-24"), so that a cluster's
    master UI tells the night's applications apart (each task on the stack is a process and a
    Spark application of its own; an embedded run's one session keeps its first name)."""
    settings = settings_from_params(context["params"])
    ti = context.get("ti")
    if ti is None:
        return settings
    name = f"{settings.spark.app_name} {ti.dag_id}.{ti.task_id} {batch_date_from_context(context)}"
    return replace(settings, spark=replace(settings.spark, app_name=name))


def with_own_driver(settings: Settings) -> Settings:
    """``settings`` for a task that needs a Spark driver of its own (``Step.own_driver``):
    without ``spark.remote``, so the session is built in client mode against
    ``spark.master``. A process that already holds a Spark Connect session cannot build one
    too (PySpark is in one mode per process): a one-line error says so."""
    if not settings.spark.remote:
        return settings
    if "SPARK_CONNECT_MODE_ENABLED" in os.environ:
        raise CdpError(
            f"this step needs a Spark driver of its own, and this process is already a client"
            f" of {settings.spark.remote}; run it in a process of its own (the scheduler's"
            f" tasks are) or without spark.remote"
        )
    return replace(settings, spark=replace(settings.spark, remote=""))


def batch_date_from_context(context: Mapping[str, Any]) -> str:
    """The running task's batch date: the ``batch_date`` param, else the day before the run's
    logical date (the business day the night's extracts cover)."""
    batch_date = context["params"].get("batch_date")
    if batch_date:
        return batch_date
    # A manual trigger without a logical date (Airflow 3) runs for the day before it ran.
    when = context.get("logical_date") or context["dag_run"].run_after
    return (when - dt.timedelta(days=1)).date().isoformat()


def _configure_environment(home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    if "airflow" in sys.modules:
        current = os.environ.get("AIRFLOW_HOME")
        if current and Path(current) != home:
            log.info("Airflow already configured in this process at %s; using it", current)
        return
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{home}/airflow.db"
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS_FOLDER)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    # Airflow logs to standard output; the CLI keeps that for its own summary.
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "CRITICAL")
    warnings.filterwarnings("ignore", module=r"(airflow|fastapi|starlette|pydantic|sqlalchemy)")


def _keep_our_logging() -> None:
    """Airflow's logging set-up replaces the root handlers; ours go to standard error."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in ("cdp", "jobs"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(logging.INFO)
        logger.propagate = False


def _ensure_database() -> None:
    """`airflow db migrate`, skipped when the schema is already current."""
    from airflow.utils import db
    from airflow.utils.session import create_session

    try:
        with create_session() as session:
            current = db._get_current_revision(session)  # noqa: SLF001
        if current == db._get_script_object().get_current_head():  # noqa: SLF001
            return
    except Exception:  # a fresh file or a changed private API: migrating is always safe
        pass
    db.upgradedb()


def load_dag(dag_id: str = DAG_ID):
    """A DAG from dags/, with a one-line error for a DAG file that does not import."""
    from airflow.models import DagBag

    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    if bag.import_errors:
        file, error = next(iter(bag.import_errors.items()))
        last = error.strip().splitlines()[-1] if error.strip() else "import failed"
        raise CdpError(f"DAG file {Path(file).name} does not load: {last}")
    dag = bag.get_dag(dag_id)
    if dag is None:
        raise CdpError(f"DAG {dag_id} not found in {DAGS_FOLDER}")
    return dag


def _task_results(dag_id: str, run_id: str) -> dict[str, Any]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(
            select(XComModel).where(
                XComModel.dag_id == dag_id,
                XComModel.run_id == run_id,
                XComModel.key == "return_value",
            )
        ).all()
        return {r.task_id: XComModel.deserialize_value(r) for r in rows}


def run_dag(
    settings: Settings, dag_id: str, logical: dt.datetime, run_conf: dict[str, Any], label: str
) -> DagRunResult:
    """Run DAG ``dag_id`` from dags/ in this process; CdpError (prefixed ``label``) on failure."""
    import time

    _configure_environment(airflow_home(settings))
    _ensure_database()
    _keep_our_logging()
    dag = load_dag(dag_id)
    failures: list[str] = []

    def record_failure(context: dict) -> None:
        exc = context.get("exception")
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        failures.append(f"task {context['ti'].task_id} failed: {type(exc).__name__}: {first}")

    for task in dag.tasks:
        task.retries = 0
        callbacks = task.on_failure_callback
        if callbacks is None:
            callbacks = []
        elif not isinstance(callbacks, list | tuple):
            callbacks = [callbacks]
        task.on_failure_callback = [*callbacks, record_failure]

    started = time.monotonic()
    run = dag.test(logical_date=logical, run_conf=run_conf)
    instances = run.get_task_instances()
    result = DagRunResult(
        batch_date=label,
        run_id=run.run_id,
        state=str(run.state),
        results=_task_results(dag_id, run.run_id),
        seconds=round(time.monotonic() - started, 1),
        task_seconds={ti.task_id: round(ti.duration or 0.0, 1) for ti in instances},
    )
    # A run Airflow calls a success may still have run nothing (a logical date before the
    # DAG's start_date leaves every task unscheduled): that is no build, and says so.
    never_ran = sorted(ti.task_id for ti in instances if ti.state is None)
    if str(run.state) == "success" and never_ran:
        raise CdpError(
            f"{label}: the {dag_id} DAG run ran no task for {', '.join(never_ran)}; nothing built"
        )
    if str(run.state) != "success":
        if failures:
            raise CdpError(f"{label}: {failures[0]}")
        states = [f"{ti.task_id}={ti.state}" for ti in instances if ti.state != "success"]
        raise CdpError(f"{label}: the {dag_id} DAG run failed ({', '.join(states)})")
    return result


def run_nightly(
    settings: Settings, batch_date: str, config_file: str | None = None
) -> DagRunResult:
    """Run dags/cdp_nightly.py for ``batch_date`` in this process; CdpError when it fails."""
    dt.date.fromisoformat(batch_date)  # a bad date fails here, before Airflow starts
    # The run happens now, for the business day in its params: a logical date of the batch
    # date itself would fall before the DAG's start_date for any history older than it, and
    # Airflow schedules no task of such a run.
    logical = dt.datetime.now(dt.UTC)
    conf = {
        "batch_date": batch_date,
        "landing": settings.paths.landing,
        "warehouse": settings.paths.warehouse,
        "config": config_file,
    }
    return run_dag(settings, DAG_ID, logical, conf, batch_date)


def run_training(
    settings: Settings, batch_date: str, config_file: str | None = None, model: str | None = None
) -> DagRunResult:
    """Run dags/cdp_models.py (train, register, promote) for ``batch_date`` in this process;
    ``model`` trains that one only."""
    conf = {
        "batch_date": batch_date,
        "warehouse": settings.paths.warehouse,
        "config": config_file,
        "model": model,
    }
    now = dt.datetime.now(dt.UTC)
    return run_dag(settings, "cdp_models", now, conf, f"models {batch_date}")


def run_gdpr(
    settings: Settings,
    kind: str,
    request_file: str,
    out: str | None = None,
    config_file: str | None = None,
) -> DagRunResult:
    """Run dags/cdp_gdpr.py for one request (the identifier stays in ``request_file``)."""
    conf = {
        "kind": kind,
        "request_file": request_file,
        "out": out,
        "warehouse": settings.paths.warehouse,
        "config": config_file,
    }
    now = dt.datetime.now(dt.UTC)
    return run_dag(settings, "cdp_gdpr", now, conf, f"gdpr {kind}")
