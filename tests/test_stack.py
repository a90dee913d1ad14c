"""The local service stack (cdp/app/stack.py): real PostgreSQL, Airflow's api-server,
scheduler and dag-processor, a Spark standalone master and two workers, started by `up`,
driven through Airflow's REST API and stopped by `down`.

The stack gets its own folder and ports (not a developer's `make up` stack on the default
ones), and `down` runs whatever happens.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import pytest

from cdp.app import stack
from cdp.core import catalog
from cdp.core.errors import CdpError
from cdp.core.settings import load_settings
from cdp_dev import screenshots
from cdp_dev.synthetic import generate
from jobs.models.run import TRAINED
from tests.conftest import (
    TINY_DATA_CONF,
    cdp_env,
    free_ports,
    gold_state,
    land_unknown_channel_purchase,
    table_snapshot,
)

# Long before the nightly DAG's start_date (2026-01-01), as a retailer's old extracts are: a
# triggered run must build it (issue 18: such a date once ran no task and said success).
END = dt.date(1997, 9, 30)
DATE = END.isoformat()
# Free ports below the ephemeral range, not fixed ones: see conftest.free_ports.
_P = free_ports(7)
PORTS = {
    "postgres_port": _P[0],
    "spark_port": _P[1],
    "spark_ui_port": _P[2],
    "worker_ui_ports": (_P[3], _P[4]),
    "airflow_port": _P[5],
    "connect_port": _P[6],
}


def test_down_with_nothing_started_stops_nothing(tmp_path):
    assert stack.down(stack.StackSettings(home=tmp_path / "never-up", **PORTS)) == []


def test_a_port_held_by_another_program_is_named_before_anything_starts(tmp_path):
    (port,) = free_ports()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        settings = stack.StackSettings(home=tmp_path / "state", **{**PORTS, "postgres_port": port})
        with pytest.raises(CdpError, match=f"port {port} is held by another program"):
            stack.up(settings)
    assert not (tmp_path / "state" / "postgres" / "data").exists()


def test_tasks_are_clients_of_the_connect_server_unless_it_is_turned_off(tmp_path):
    on = stack.airflow_env(stack.StackSettings(home=tmp_path / "on", **PORTS))
    assert on["CDP_SPARK__REMOTE"] == f"sc://127.0.0.1:{PORTS['connect_port']}"
    off = stack.StackSettings(home=tmp_path / "off", connect=False, **PORTS)
    env = stack.airflow_env(off)
    assert env["CDP_SPARK__REMOTE"] == "" and env["CDP_SPARK__MASTER"] == off.spark_master
    assert load_settings(environ=env).spark.remote == ""
    assert stack.status(off)["spark connect"] == "off (each task a driver of its own)"


def test_a_failing_set_up_command_is_one_line_naming_it():
    with pytest.raises(CdpError) as failed:
        stack._run("initdb of /nowhere", [sys.executable, "-c", "import sys; sys.exit('no room')"])
    assert str(failed.value) == "initdb of /nowhere failed (exit 1): no room"


@pytest.fixture(scope="module")
def running():
    # Not under pytest's own temporary folder: that one is private to its owner, and as root
    # PostgreSQL runs as the postgres user, who must reach its data folder.
    base = Path(tempfile.mkdtemp(prefix="cdp-stack-"))
    base.chmod(0o755)
    landing = base / "landing"
    generate(landing, persons=40, days=1, seed=11, end_date=END)
    settings = stack.StackSettings(
        home=base / "state",
        landing=landing,
        warehouse=base / "stack-warehouse",
        worker_memory="2g",
        env={
            "CDP_SPARK__SHUFFLE_PARTITIONS": "1",
            "CDP_SPARK__DRIVER_MEMORY": "2g",
            "CDP_SPARK__CONF": json.dumps(TINY_DATA_CONF),
        },
        **PORTS,
    )
    try:
        parts = stack.up(settings)
        yield settings, parts, base
    finally:
        stack.down(settings)
        # CDP_KEEP_STACK=1 keeps the folder (task logs, the stack's own logs) to read a failure.
        if not os.environ.get("CDP_KEEP_STACK"):
            shutil.rmtree(base, ignore_errors=True)


@pytest.mark.slow
def test_up_starts_every_part_and_again_changes_nothing(running):
    settings, parts, _ = running
    assert parts["postgres"].endswith(" up")
    assert parts["spark master"].endswith("up, 2 alive workers")
    assert parts["spark connect"] == f"sc://127.0.0.1:{PORTS['connect_port']} up"
    assert parts["airflow UI"].endswith(" up")
    assert stack.airflow_password(settings) in parts["airflow login"]
    pids = {name: stack._running(settings, name) for name in stack.PROCESSES}
    assert all(pids.values()), pids

    stack.up(settings)
    assert {name: stack._running(settings, name) for name in stack.PROCESSES} == pids
    # The scheduler is Airflow's, on PostgreSQL: the DAGs of this repository are parsed there.
    dags = stack._api(settings, "GET", "/api/v2/dags")["dags"]
    assert {"cdp_nightly", "cdp_models", "cdp_gdpr"} <= {d["dag_id"] for d in dags}
    assert stack._api(settings, "GET", "/api/v2/importErrors")["total_entries"] == 0


@pytest.mark.slow
def test_a_night_through_the_scheduler_on_the_cluster_equals_the_embedded_run(spark, running):
    settings, _, base = running
    # The embedded run of the same night, in a process of its own, runs while the scheduler
    # works, in the stack's waits (task processes starting, the scheduler's loop). Most of
    # the stack's night is the Connect server's work, so the gain is small: 338 s -> 312 s
    # for this test alone.
    embedded = base / "embedded-warehouse"
    env = cdp_env(
        "local[2]", shuffle_partitions=1, PATHS__LANDING=str(settings.landing),
        PATHS__WAREHOUSE=str(embedded),
    )  # fmt: skip
    log = base / "embedded-run.log"  # a file, not a pipe nobody reads while the stack runs
    with log.open("w") as out:
        local_run = subprocess.Popen(
            [sys.executable, "-m", "cdp.app.cli", "run", "--date", DATE],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
        try:
            run = stack.trigger(settings, "cdp_nightly", {"batch_date": DATE}, timeout=3000)
            local_run.wait(timeout=1800)
        finally:
            local_run.kill()
    assert run["state"] == "success", run.get("failed_logs") or run
    assert set(run["tasks"].values()) == {"success"}, run["tasks"]
    # Every task ran its Spark work on the Connect server, the one application left running
    # on the master; only the models step, whose MLflow flavour needs a JVM of its own, was a
    # driver of its own.
    master = stack.spark_status(settings) or {}
    assert [a["name"] for a in master.get("activeapps", [])] == ["cdp-connect"]
    done = [a["name"] for a in master.get("completedapps", [])]
    assert done == [f"cdp cdp_nightly.models {DATE}"]
    assert local_run.returncode == 0, log.read_text()[-3000:]

    on_stack = table_snapshot(spark, settings.warehouse, "gold.")
    assert {"gold.identity_map", "gold.profiles", "gold.purchases"} <= set(on_stack)
    local = table_snapshot(spark, embedded, "gold.")
    assert set(on_stack) == set(local)
    differ = [name for name in local if local[name] != on_stack[name]]
    assert differ == []


@pytest.mark.slow
def test_the_night_is_seen_in_a_browser(running, tmp_path):
    settings, _, _ = running
    run = stack.latest_run(settings, "cdp_nightly")
    assert run is not None and run["conf"]["batch_date"] == DATE
    pages = screenshots.capture(settings, run, tmp_path)
    assert screenshots.problems(pages, run, workers=2) == []
    for page in pages.values():
        header = page.png.read_bytes()[:24]
        assert header[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = int.from_bytes(header[16:20]), int.from_bytes(header[20:24])
        assert (width, height) == (screenshots.VIEWPORT["width"], screenshots.VIEWPORT["height"])


@pytest.mark.slow
def test_a_gdpr_request_runs_through_the_scheduler(spark, running):
    """A GDPR access request, triggered like the night: a task process of the scheduler's,
    a client of the Connect server, on the stack's warehouse; the request's identifier only
    in its file, which is gone when the request is done."""
    settings, _, base = running
    people = catalog.read(spark, "silver.person_records", str(settings.warehouse))
    loyalty = people.where("source = 'loyalty'").select("source_key").first()[0]
    request, out = base / "request.json", base / "access-export.json"
    request.write_text(json.dumps({"loyalty_id": loyalty}), encoding="utf-8")
    conf = {"kind": "access", "request_file": str(request), "out": str(out)}
    handled = stack.trigger(settings, "cdp_gdpr", conf, timeout=900)
    assert handled["state"] == "success", handled.get("failed_logs") or handled
    export = json.loads(out.read_text(encoding="utf-8"))
    rows = export["tables"]["bronze.loyalty"]["rows"]
    assert loyalty.upper() in {str(r["data"]["loyalty_id"]).strip().upper() for r in rows}
    assert export["subject"]["profile_ids"]
    assert not request.exists()


def _page(name: str, text: str, steps: tuple[str, ...] = ()) -> screenshots.Page:
    return screenshots.Page(name, f"http://{name}", Path(f"{name}.png"), text, steps)


def test_the_screenshot_check_names_what_a_page_fails_to_show():
    from cdp.app.steps import STEPS

    run = {"dag_run_id": "manual__1", "conf": {}}
    names = tuple(s.name for s in STEPS)
    good = {
        "airflow-run": _page("airflow-run", "manual__1\nSuccess\n" + "\n".join(names)),
        "spark-master": _page("spark-master", "Workers: 2 Alive, 0 Dead"),
        "run-report": _page("run-report", "Steps", names[1:]),
    }
    assert screenshots.problems(good, run, workers=2) == []
    bad = good | {
        "airflow-run": _page("airflow-run", "manual__1\nFailed\n" + "\n".join(names[:-1])),
        "spark-master": _page("spark-master", "Workers: 1 Alive, 1 Dead"),
        # Airflow's task context in the steps table, as the report once had it.
        "run-report": _page("run-report", "Steps", ("dag", "task_instance", *names[1:])),
    }
    found = screenshots.problems(bad, run, workers=2)
    assert found == [
        "the Airflow page does not show run manual__1 as Success",
        f"the Airflow page does not list task {names[-1]}",
        "the Spark master UI does not show 2 alive workers",
        f"the run report's steps table lists {['dag', 'task_instance', *names[1:]]},"
        f" not {list(names[1:])}",
    ]


@pytest.mark.slow
def test_the_training_dag_runs_through_the_scheduler(running):
    """The weekly models DAG, triggered on the stack after its one night: a task process of
    the scheduler's reads the stack's gold and, one night being no history to learn from,
    says so per model and is skipped, not failed and retried ten minutes later."""
    settings, _, _ = running
    run = stack.trigger(settings, "cdp_models", {"batch_date": DATE}, timeout=900)
    assert run["state"] == "success", run.get("failed_logs") or run
    assert run["tasks"] == {"train": "skipped"}
    briefs = stack.xcom(settings, "cdp_models", run["dag_run_id"], "train")
    assert [b["model"] for b in briefs] == list(TRAINED)
    assert all(b["skipped"] for b in briefs), briefs


def _run_state(settings, dag_id: str, run_id: str) -> str:
    quoted = urllib.parse.quote(run_id, safe="")
    return stack._api(settings, "GET", f"/api/v2/dags/{dag_id}/dagRuns/{quoted}")["state"]


@pytest.mark.slow
def test_a_failing_gate_under_the_scheduler_keeps_last_nights_gold_and_one_night_runs_at_once(
    spark, running
):
    """Runs last. The next night's web extract sends a purchase from a channel the contract
    does not know: the quality gate fails, publish never runs, and the gold the night before
    published stays as it was, to the Delta version. The night after it, triggered at once,
    waits queued while that night runs (max_active_runs=1)."""
    settings, _, _ = running
    before = gold_state(spark, settings.warehouse)
    bad, after = (END + dt.timedelta(days=n) for n in (1, 2))
    land_unknown_channel_purchase(settings.landing, bad.isoformat())
    first = stack.trigger(settings, "cdp_nightly", {"batch_date": bad.isoformat()}, wait=False)
    second = stack.trigger(settings, "cdp_nightly", {"batch_date": after.isoformat()}, wait=False)
    seen, deadline = set(), time.monotonic() + 1800
    while (state := _run_state(settings, "cdp_nightly", first["dag_run_id"])) not in (
        "success",
        "failed",
    ):
        assert time.monotonic() < deadline, f"the failing night still {state}"
        seen.add((state, _run_state(settings, "cdp_nightly", second["dag_run_id"])))
        time.sleep(5)
    assert ("running", "queued") in seen and not any(s == "running" for _, s in seen), seen
    # The night after has nothing to show here: stopped as soon as it starts.
    quoted = urllib.parse.quote(second["dag_run_id"], safe="")
    stack._api(settings, "PATCH", f"/api/v2/dags/cdp_nightly/dagRuns/{quoted}", {"state": "failed"})

    assert state == "failed"
    quoted = urllib.parse.quote(first["dag_run_id"], safe="")
    tasks = stack._api(settings, "GET", f"/api/v2/dags/cdp_nightly/dagRuns/{quoted}/taskInstances")
    states = {t["task_id"]: t["state"] for t in tasks["task_instances"]}
    assert states["profiles"] == "success" and states["quality_gate"] == "failed", states
    assert states["publish"] == "upstream_failed" and states["activate"] == "upstream_failed"
    summary = json.loads(
        (settings.warehouse / "_quality" / f"run-{bad.isoformat()}.json").read_text()
    )
    assert ("gold.purchases", "channel") in {(f["table"], f["column"]) for f in summary["failures"]}
    assert gold_state(spark, settings.warehouse) == before


@pytest.mark.slow
def test_down_stops_what_up_started_and_twice_is_safe(running):
    settings, _, _ = running
    stopped = stack.down(settings)
    assert set(stopped) == {*stack.PROCESSES, "postgres"}
    ports = [settings.postgres_port, settings.spark_port, settings.airflow_port]
    ports.append(settings.connect_port)
    assert not any(stack.answers(port) for port in ports)
    assert stack.down(settings) == []
    assert not any(os.path.exists(stack._pid_file(settings, n)) for n in stack.PROCESSES)
