"""The nightly Airflow DAG: it loads, its shape, and `cdp run` executing it for real.

`cdp run` runs dags/cdp_nightly.py through Airflow (dag.test, a SQLite metadata database in
the warehouse) in a fresh process, as an operator would; the tables it leaves are then read
back here. Two consecutive dates accumulate; running a date again gives the same tables; a
third night that breaks a suite stops before publish.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from cdp.app.steps import REPORT, STEPS
from cdp.core import catalog
from tests.conftest import cdp_env, gold_state, land_unknown_channel_purchase, table_snapshot

CDP = [sys.executable, "-m", "cdp.app.cli"]
# A backfill across the nightly DAG's start_date (2026-01-01): every task of the night before
# it must run too (issue 18: a 1997 or 2019 date once built nothing and said success; the
# stack's test builds a 1997 night, scheduled and embedded).
END = dt.date(2026, 1, 1)
DATES = [(END - dt.timedelta(days=1)).isoformat(), END.isoformat()]
TASKS = {
    "land",
    "bronze",
    "silver",
    "identity",
    "purchases",
    "rfm",
    "profiles",
    "quality_gate",
    "publish",
    "models",
    "segments",
    "activate",
    "report",
}


def cdp(*args: str) -> subprocess.CompletedProcess:
    env = cdp_env("local[2]", shuffle_partitions=2)
    return subprocess.run([*CDP, *args], capture_output=True, text=True, env=env, timeout=1800)


@pytest.fixture(scope="module")
def dag(tmp_path_factory):
    from cdp.app import orchestration

    orchestration._configure_environment(tmp_path_factory.mktemp("airflow_home"))
    orchestration._ensure_database()  # parsing a DAG file reads the metadata database
    return orchestration.load_dag()


def test_every_dag_file_loads_without_import_errors(dag):
    from airflow.models import DagBag

    from cdp.app.orchestration import DAGS_FOLDER

    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    assert bag.import_errors == {}
    assert {"cdp_nightly", "cdp_gdpr", "cdp_models"} <= set(bag.dag_ids)
    # Every .py file in dags/ defines at least one DAG (no stray modules the scheduler parses).
    files = {Path(d.fileloc).name for d in bag.dags.values()}
    assert files == {p.name for p in DAGS_FOLDER.glob("*.py")}


def test_the_nightly_dag_runs_one_at_a_time_with_retries_in_build_order(dag):
    assert dag.max_active_runs == 1
    # The backfill of the tests below crosses the start date.
    assert DATES[0] < dag.start_date.date().isoformat() <= DATES[1]
    assert dag.catchup is False
    assert {t.task_id for t in dag.tasks} == TASKS
    # A failed quality gate is a fact about the data: it fails at once, no retries.
    assert all(t.retries >= 1 for t in dag.tasks if t.task_id not in ("land", "quality_gate"))
    assert dag.get_task("quality_gate").retries == 0
    chain = ["land", "bronze", "silver", "identity", "purchases", "rfm", "profiles"]
    for upstream, downstream in zip(chain, chain[1:], strict=False):
        assert dag.get_task(downstream).upstream_task_ids == {upstream}
    # Scores and segments are staged with the rest of gold; the gate checks tonight's staged
    # gold before publish replaces the published tables; exports leave only after publish;
    # the report comes last.
    assert dag.get_task("models").upstream_task_ids == {"profiles"}
    assert dag.get_task("segments").upstream_task_ids == {"models"}
    assert dag.get_task("quality_gate").upstream_task_ids == {"segments"}
    assert dag.get_task("publish").upstream_task_ids == {"quality_gate"}
    assert dag.get_task("activate").upstream_task_ids == {"publish"}
    gold = {
        f"gold.{t}"
        for t in ("identity_map", "purchases", "rfm", "profiles", "propensity_scores",
                  "clv_scores", "segments", "segment_membership")
    }  # fmt: skip
    assert gold <= {a.name for a in dag.get_task("publish").outlets}
    assert not any(dag.get_task(t).outlets for t in ("identity", "purchases", "rfm", "profiles"))
    assert {"models", "segments", "activate"} <= dag.get_task("report").upstream_task_ids
    # Tasks pass counts and table names, never data: their params are paths and a date.
    assert set(dag.params.keys()) == {"batch_date", "landing", "warehouse", "config"}


def test_the_dag_is_the_step_list(dag):
    """One task per step of cdp/app/steps.py, each after the one before it, with the step's
    tables as outlets and its description as the task's doc; the report after all."""
    for before, step in zip(STEPS, STEPS[1:], strict=False):
        assert dag.get_task(step.name).upstream_task_ids == {before.name}
    for step in (*STEPS, REPORT):
        task = dag.get_task(step.name)
        assert {a.name for a in task.outlets} == set(step.outlets), step.name
        assert task.doc_md == step.doc, step.name
    assert dag.get_task(REPORT.name).upstream_task_ids == {s.name for s in STEPS[1:]}


def test_tasks_read_their_settings_and_batch_date_from_the_run_params(tmp_path):
    """What `cdp run` and `airflow dags trigger` send, as every DAG task reads it back."""
    from cdp.app.orchestration import batch_date_from_context, settings_from_params

    settings = settings_from_params(
        {"warehouse": str(tmp_path / "wh"), "landing": "", "config": None}
    )
    assert settings.paths.warehouse == str(tmp_path / "wh")
    assert settings.paths.landing == settings_from_params({}).paths.landing
    assert batch_date_from_context({"params": {"batch_date": "2026-11-24"}}) == "2026-11-24"
    logical = dt.datetime(2026, 11, 25, 2, tzinfo=dt.UTC)
    assert batch_date_from_context({"params": {}, "logical_date": logical}) == "2026-11-24"


def test_a_step_that_needs_its_own_driver_leaves_the_connect_server(monkeypatch):
    from cdp.app.orchestration import with_own_driver
    from cdp.app.steps import STEPS
    from cdp.core.errors import CdpError
    from cdp.core.settings import load_settings

    assert [s.name for s in STEPS if s.own_driver] == ["models"]
    settings = load_settings(environ={"CDP_SPARK__REMOTE": "sc://127.0.0.1:15002"})
    monkeypatch.delenv("SPARK_CONNECT_MODE_ENABLED", raising=False)
    assert with_own_driver(settings).spark.remote == ""
    assert with_own_driver(load_settings(environ={})) == load_settings(environ={})
    # A process that is already a Connect client cannot also be a driver.
    monkeypatch.setenv("SPARK_CONNECT_MODE_ENABLED", "1")
    with pytest.raises(CdpError, match="needs a Spark driver of its own"):
        with_own_driver(settings)


def test_each_task_names_its_spark_application(tmp_path):
    """On the stack every task is a Spark application of its own: the master UI lists them
    by task and night, not as a column of "cdp"."""
    from types import SimpleNamespace

    from cdp.app.orchestration import settings_for_task

    params = {"warehouse": str(tmp_path / "wh"), "batch_date": "1997-09-30"}
    ti = SimpleNamespace(dag_id="cdp_nightly", task_id="identity")
    settings = settings_for_task({"params": params, "ti": ti})
    assert settings.spark.app_name == "cdp cdp_nightly.identity 1997-09-30"
    assert settings.paths.warehouse == str(tmp_path / "wh")
    # Outside a task (no task instance), the configured name stands.
    assert settings_for_task({"params": params}).spark.app_name == "cdp"


@pytest.fixture(scope="module")
def nightly(tmp_path_factory):
    """A tiny landing zone built by `cdp run --from --to` in a fresh process."""
    from cdp_dev.synthetic import generate

    base = tmp_path_factory.mktemp("nightly")
    landing, warehouse = base / "landing", base / "warehouse"
    generate(landing, persons=60, days=2, seed=5, end_date=END)
    result = cdp(
        "run", "--landing", str(landing), "--warehouse", str(warehouse),
        "--from", DATES[0], "--to", DATES[1],
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return landing, warehouse, result.stdout, result.stderr


def test_cdp_run_executes_the_dag_and_prints_what_was_built(spark, nightly):
    _, warehouse, stdout, stderr = nightly
    for day in DATES:
        assert f"batch {day}: success" in stdout
    assert f"What the build holds after {DATES[-1]}:" in stdout
    profiles = catalog.read(spark, "gold.profiles", str(warehouse)).count()
    assert f"profiles: {profiles:,} (" in stdout
    report = warehouse / "_reports" / f"run-{DATES[-1]}.html"
    assert report.is_file()
    page = report.read_text()
    assert "<svg" in page and "RFM segments" in page and "Quarantined rows" in page
    # The steps table lists the build's steps, in order, and nothing of Airflow's context.
    steps_table = page.split("<h2>Steps</h2>", 1)[1].split("</table>", 1)[0]
    listed = re.findall(r"<tr><td>([^<]*)</td>", steps_table)
    assert listed == [s.name for s in STEPS if s.name != "land"]
    # The log is the operator's: libraries speak only from WARNING up.
    chatter = re.findall(r"INFO (?:py4j|pyspark|splink|great_expectations|mlflow)\S*:.*", stderr)
    assert chatter == []
    assert "INFO jobs.identity.run: identity" in stderr

    # An analyst's question, answered from yet another process.
    answer = cdp(
        "sql", "select count(*) as n from gold.profiles", "--warehouse", str(warehouse),
        "--format", "json",
    )  # fmt: skip
    assert answer.returncode == 0, answer.stderr[-2000:]
    assert json.loads(answer.stdout.strip())["n"] == profiles > 0


def test_consecutive_dates_accumulate(spark, nightly):
    _, warehouse, _, _ = nightly
    wh = str(warehouse)
    for table in ("bronze.crm", "silver.person_records"):
        df = catalog.read(spark, table, wh)
        column = "_batch_date" if table.startswith("bronze") else "batch_date"
        days = {r[0].isoformat() for r in df.select(column).distinct().collect()}
        assert days == set(DATES), table
    purchases = catalog.read(spark, "gold.purchases", wh)
    assert {r[0].isoformat() for r in purchases.select("batch_date").distinct().collect()} <= set(
        DATES
    )
    assert catalog.read(spark, "gold.rfm", wh).select("as_of").distinct().first()[0] == END
    # Each night's identity map covers everything landed so far.
    assert catalog.read(spark, "gold.identity_map", wh).where("first_seen is null").count() == 0


def test_running_a_date_again_gives_the_same_tables(spark, nightly):
    landing, warehouse, _, _ = nightly
    before = table_snapshot(spark, warehouse)
    again = cdp(
        "run", "--landing", str(landing), "--warehouse", str(warehouse), "--date", DATES[-1]
    )
    assert again.returncode == 0, again.stderr[-3000:]
    after = table_snapshot(spark, warehouse)
    assert set(after) == set(before)
    changed = [name for name in before if before[name] != after[name]]
    assert changed == []  # profile ids in gold.identity_map included
    # The night's files were recognised by content: nothing landed twice.
    log = catalog.read(spark, "bronze.file_log", str(warehouse)).where(
        f"batch_date = DATE'{DATES[-1]}'"
    )
    last_attempt = log.where(F.col("logged_at") == log.agg(F.max("logged_at")).first()[0])
    assert {r["status"] for r in last_attempt.collect()} == {"duplicate"}


def _last_run_task_states(warehouse: Path) -> dict[str, str]:
    """Task states of the latest embedded run, from Airflow's metadata database."""
    with sqlite3.connect(warehouse / "_airflow" / "airflow.db") as db:
        run_id = db.execute(
            "SELECT run_id FROM dag_run WHERE dag_id = 'cdp_nightly' ORDER BY id DESC LIMIT 1"
        ).fetchone()[0]
        rows = db.execute(
            "SELECT task_id, state FROM task_instance WHERE dag_id = 'cdp_nightly' AND run_id = ?",
            (run_id,),
        ).fetchall()
    return dict(rows)


def test_a_night_that_breaks_a_suite_stops_the_dag_before_publish(spark, nightly):
    """Runs last: it leaves a failed night (staged, unpublished) in the module's warehouse."""
    landing, warehouse, _, _ = nightly
    wh = str(warehouse)
    before = gold_state(spark, warehouse)
    assert {"gold.identity_map", "gold.purchases", "gold.profiles"} <= set(before)

    # The next night the web source sends a purchase from a channel the contract does not
    # know (web|app): nothing before the gate refuses it, so it reaches gold.purchases.
    night = (END + dt.timedelta(days=1)).isoformat()
    land_unknown_channel_purchase(landing, night)
    broken = cdp("run", "--landing", str(landing), "--warehouse", wh, "--date", night)

    assert broken.returncode != 0
    assert f"{night}: task quality_gate failed: CdpError: quality gate failed" in broken.stderr
    states = _last_run_task_states(warehouse)
    assert states["profiles"] == "success" and states["quality_gate"] == "failed"
    assert states["publish"] == "upstream_failed" and states["report"] == "upstream_failed"
    assert states["activate"] == "upstream_failed"

    summary = json.loads((warehouse / "_quality" / f"run-{night}.json").read_text())
    failed = {(f["table"], f["column"]) for f in summary["failures"]}
    assert ("gold.purchases", "channel") in failed
    assert ("silver.experience_events", "channel") in failed
    # Tonight's build is still staged, unpublished; the published gold is last night's, to
    # the Delta version.
    staged = catalog.read_staged(spark, "gold.purchases", wh)
    assert staged.where("channel = 'kiosk'").count() == 1
    assert gold_state(spark, warehouse) == before
