"""`make bench`: time and measure the build on generated data, and score identity resolution.

    python -m cdp.bench --persons 10000 --days 30 --seed 5 [--noise 1] [--locales ...]

Generates the landing zone (or reuses one generated with the same arguments), lands and
standardises every date, resolves identities once as of the last date, evaluates against the
generator's truth, and writes ``bench-results/identity-<persons>p-<days>d-s<seed>.json``:
wall time per step, peak memory of the driver JVM and of this process, and the accuracy
figures. Figures belong on the issue, not in tests (no timed assertions anywhere).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import resource
import sys
import time
from pathlib import Path

log = logging.getLogger("cdp.bench")


def _jvm_peak_rss_mb() -> float | None:
    """Peak resident memory (VmHWM) of the Spark driver JVM this process started."""
    try:
        import psutil
    except ImportError:
        return None
    for child in psutil.Process().children(recursive=True):
        if "java" in child.name():
            try:
                for line in Path(f"/proc/{child.pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
            except OSError:
                return None
    return None


def _landing(args: argparse.Namespace, workdir: Path) -> tuple[Path, dict]:
    """The generated landing zone for these arguments, generated once and reused."""
    from cdp.cli import _generator_settings
    from cdp.synthetic import generate

    landing = workdir / "landing"
    wanted = {"persons": args.persons, "days": args.days, "seed": args.seed}
    manifest = landing / "_truth" / "manifest.json"
    settings = _generator_settings(args)
    if manifest.is_file():
        old = json.loads(manifest.read_text())
        same = all(old.get(k) == v for k, v in wanted.items())
        if same and old.get("settings") == json.loads(json.dumps(settings.to_dict())):
            return landing, {"generate_seconds": None, "reused": True}
    started = time.monotonic()
    generate(landing, args.persons, args.days, args.seed, settings=settings, overwrite=True)
    return landing, {"generate_seconds": round(time.monotonic() - started, 1), "reused": False}


def run(args: argparse.Namespace) -> dict:
    """The whole benchmark; returns the figures written to the result file."""
    from pyspark.sql import functions as F

    from cdp import catalog
    from cdp.settings import load_settings
    from cdp.spark import get_spark
    from jobs.bronze import ingest
    from jobs.identity import run as identity
    from jobs.identity.attribution import record_profiles
    from jobs.identity.evaluate import evaluate, record_evidence
    from jobs.identity.graph import observations
    from jobs.silver import run as silver

    name = f"{args.persons}p-{args.days}d-s{args.seed}" + (
        f"-n{args.noise:g}" if args.noise != 1 else ""
    )
    workdir = Path(args.workdir or f".cache/bench/{name}").resolve()
    landing, figures = _landing(args, workdir)
    manifest = json.loads((landing / "_truth" / "manifest.json").read_text())
    warehouse = workdir / "warehouse"
    settings = load_settings(args.config).with_paths(str(landing), str(warehouse))
    spark = get_spark(settings)
    end = dt.date.fromisoformat(manifest["end_date"])
    dates = [(end - dt.timedelta(days=i)).isoformat() for i in range(args.days - 1, -1, -1)]

    started = time.monotonic()
    for day in dates:
        ingest.run(spark, settings, day)
    figures["bronze_seconds"] = round(time.monotonic() - started, 1)
    started = time.monotonic()
    for day in dates:
        silver.run(spark, settings, day)
    figures["silver_seconds"] = round(time.monotonic() - started, 1)
    started = time.monotonic()
    report = identity.run(spark, settings, dates[-1])
    figures["identity_seconds"] = round(time.monotonic() - started, 1)

    wh = settings.paths.warehouse
    truth = (
        spark.read.option("header", True)
        .csv(str(landing / "_truth" / "records.csv"))
        .select(F.concat_ws(":", "source", "record_key").alias("record_id"), "person_id")
    )
    obs = observations(
        *(
            catalog.read(spark, t, wh)
            for t in ("silver.person_records", "silver.experience_events", "silver.commerce_lines")
        )
    )
    started = time.monotonic()
    resolved = record_profiles(obs, catalog.read(spark, "gold.identity_map", wh))
    result = evaluate(truth, resolved, record_evidence(spark, truth, obs))
    figures["evaluate_seconds"] = round(time.monotonic() - started, 1)
    figures["driver_jvm_peak_rss_mb"] = _jvm_peak_rss_mb()
    figures["python_peak_rss_mb"] = round(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
    )
    result_dict = result.to_dict()
    out = {
        "benchmark": "identity",
        "name": name,
        "ran_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "arguments": vars(args),
        "generated": {k: manifest[k] for k in ("persons", "rows", "records") if k in manifest},
        "spark": {
            "master": settings.spark.master,
            "driver_memory": settings.spark.driver_memory,
            "shuffle_partitions": settings.spark.shuffle_partitions,
        },
        "timings": figures,
        "identity_run": vars(report),
        "accuracy": result_dict,
        "table": result.table(),
    }
    results_dir = Path(args.out)
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"identity-{name}.json"
    path.write_text(json.dumps(out, indent=2, default=str), encoding="utf-8")
    print(result.table())
    print(json.dumps(figures, indent=2))
    print(f"result: {path}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cdp.bench", description=__doc__)
    parser.add_argument("--persons", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--noise", type=float, default=1.0)
    parser.add_argument("--locales", help="market mix, as for `cdp generate --locales`")
    parser.add_argument("--config", help="YAML settings file (see README)")
    parser.add_argument("--workdir", help="where landing and warehouse go (default .cache/bench/)")
    parser.add_argument("--out", default="bench-results", help="folder for the result file")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("py4j", "pyspark", "splink"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
