"""One night through the local stack, timed task by task: `make bench-stack`.

Starts a stack of its own (its own folder and ports, not a developer's `make up` stack),
generates a small landing zone, triggers the nightly DAG through Airflow's REST API, prints
the night's wall time and each task's duration as the scheduler recorded it, and stops the
stack whatever happens. ``--no-connect`` runs each task as a Spark driver of its own instead
of as a client of the stack's Spark Connect server, to compare the two.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import tempfile
import time
import urllib.parse
from pathlib import Path

from cdp.app import stack
from cdp_dev.synthetic import generate

# Away from `make up`'s defaults, so both can run at once, and below the ephemeral range
# (32768-60999) that client connections take ports from (tests/conftest.free_ports).
PORTS = {
    "postgres_port": 25433,
    "spark_port": 27177,
    "spark_ui_port": 28181,
    "worker_ui_ports": (28182, 28183),
    "airflow_port": 28180,
    "connect_port": 25002,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=40)
    parser.add_argument("--date", default="1997-09-30")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--no-connect", action="store_true")
    args = parser.parse_args(argv)

    base = Path(tempfile.mkdtemp(prefix="cdp-stack-bench-"))
    base.chmod(0o755)  # PostgreSQL runs as its own user when this runs as root
    day = dt.date.fromisoformat(args.date)
    generate(base / "landing", persons=args.persons, days=1, seed=args.seed, end_date=day)
    settings = stack.StackSettings(
        home=base / "state",
        landing=base / "landing",
        warehouse=base / "warehouse",
        worker_memory="2g",
        connect=not args.no_connect,
        env={"CDP_SPARK__SHUFFLE_PARTITIONS": "2", "CDP_SPARK__DRIVER_MEMORY": "2g"},
        **PORTS,
    )
    try:
        started = time.monotonic()
        stack.up(settings)
        print(f"stack up: {time.monotonic() - started:.1f} s", flush=True)
        started = time.monotonic()
        run = stack.trigger(settings, "cdp_nightly", {"batch_date": args.date}, timeout=3600)
        mode = "tasks are drivers of their own" if args.no_connect else "tasks on Spark Connect"
        print(f"night {args.date} ({args.persons} persons, {mode}): {run['state']} in "
              f"{time.monotonic() - started:.1f} s", flush=True)  # fmt: skip
        quoted = urllib.parse.quote(run["dag_run_id"], safe="")
        tasks = stack._api(  # noqa: SLF001
            settings, "GET", f"/api/v2/dags/cdp_nightly/dagRuns/{quoted}/taskInstances"
        )["task_instances"]
        for ti in sorted(tasks, key=lambda t: t["start_date"] or ""):
            print(f"  {ti['task_id']:<14} {ti['duration'] or 0:7.1f} s  {ti['state']}")
        print(json.dumps({t["task_id"]: round(t["duration"] or 0, 1) for t in tasks}))
        return 0 if run["state"] == "success" else 1
    finally:
        stack.down(settings)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
