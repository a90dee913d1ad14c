"""Query latency through the governed SQL endpoint against `cdp sql`: `make bench-sql`.

Starts the analysts' endpoint (`cdp serve-sql`) on a built warehouse (default: the demo's,
`make run`) with a throw-away login, on a port of its own, and times the five questions of
docs/analysts.md: each through the endpoint (PyHive), once cold and then warm (the median of
``--repeat`` runs), and each as one `cdp sql` command (a process and a Spark of its own, as an
analyst runs it). Prints the table and the endpoint JVM's resident memory at rest, before the
first query and after the last; stops the endpoint whatever happens.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from cdp.app import sql_endpoint
from cdp.core.settings import load_settings
from cdp_dev.docs import analysts_questions

CDP = str(Path(sys.executable).with_name("cdp"))
PORT = 27010
PASSWORD = "bench-password"


def _jvm_rss_mib(pid: int) -> float:
    """Resident memory of the endpoint's JVM (the java child of the cdp process), MiB."""
    jvms = [p for p in psutil.Process(pid).children(recursive=True) if "java" in p.name()]
    return sum(p.memory_info().rss for p in jvms) / 2**20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", default=load_settings().paths.warehouse)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    from pyhive import hive

    users = Path(tempfile.mkdtemp(prefix="cdp-sql-bench-")) / "users"
    sql_endpoint.add_user(str(users), "bench", "analyst", PASSWORD)
    env = {**os.environ, "CDP_SQL_ENDPOINT__USERS_FILE": str(users)}
    log = users.with_name("endpoint.log")
    started = time.monotonic()
    server = subprocess.Popen(
        [CDP, "serve-sql", "--port", str(PORT), "--warehouse", args.warehouse],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        while "cdp sql endpoint" not in log.read_text():
            if server.poll() is not None:
                print(log.read_text()[-3000:], file=sys.stderr)
                return 1
            time.sleep(0.5)
        print(f"endpoint ready in {time.monotonic() - started:.1f} s", flush=True)
        time.sleep(5)
        rss_idle = _jvm_rss_mib(server.pid)
        conn = hive.connect(
            host="127.0.0.1", port=PORT, username="bench", password=PASSWORD, auth="CUSTOM"
        )
        cursor = conn.cursor()
        rows = []
        for i, sql in enumerate(analysts_questions(), 1):
            times = []
            for _ in range(args.repeat + 1):
                t0 = time.perf_counter()
                cursor.execute(sql)
                cursor.fetchall()
                times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            cli = subprocess.run(
                [CDP, "sql", sql, "--warehouse", args.warehouse, "--format", "csv"],
                capture_output=True,
                text=True,
            )
            cli_s = time.perf_counter() - t0
            if cli.returncode:
                print(cli.stderr[-2000:], file=sys.stderr)
                return 1
            rows.append((i, times[0], statistics.median(times[1:]), cli_s))
            print(f"q{i}: cold {times[0]:.2f} s, warm {rows[-1][2]:.3f} s, cdp sql {cli_s:.1f} s")
        conn.close()
        time.sleep(5)
        rss_after = _jvm_rss_mib(server.pid)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(60)
    print()
    print("| question | endpoint, first run (s) | endpoint, warm median (s) | `cdp sql` (s) |")
    print("|---|---|---|---|")
    for i, cold, warm, cli_s in rows:
        print(f"| q{i} | {cold:.2f} | {warm:.3f} | {cli_s:.1f} |")
    print(
        f"\nendpoint JVM resident memory: {rss_idle:.0f} MiB at rest before the first query, "
        f"{rss_after:.0f} MiB at rest after the last (warehouse {args.warehouse})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
