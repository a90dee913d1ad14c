"""`make bench`: time and measure the nightly build on generated data.

    python -m cdp_dev.bench --persons 100000 --days 90 --seed 7 [--nights 1] [--no-evaluate]
                        [--initial-load]

Generates the landing zone (or reuses one generated with the same arguments), lands and
standardises the history before the last ``--nights`` dates as one backfill pass, then runs
the nightly Airflow DAG (as `cdp run` does) for each of those dates, timed per task by
Airflow; scores identity resolution against the generator's truth; and writes
``bench-results/nightly-<persons>p-<days>d-s<seed>.json``: wall time and rows per second per
stage, the peak memory of the whole process tree (driver JVM, Python workers, this process)
the accuracy figures, and the champion models' holdout metrics beside the RFM baseline (the
first night trains them). Figures belong on the issue, not in tests (no timed assertions).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import resource
import sys
import time
from pathlib import Path

log = logging.getLogger("cdp_dev.bench")


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
    from cdp.app.cli import _generator_settings
    from cdp_dev.synthetic import generate

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
    initial = args.days - args.nights if args.initial_load else 0
    generate(
        landing, args.persons, args.days, args.seed, settings=settings, overwrite=True,
        initial_load_days=initial,
    )  # fmt: skip
    return landing, {"generate_seconds": round(time.monotonic() - started, 1), "reused": False}


class MemorySampler:
    """Peak resident memory of this process and every process it started (the Spark driver
    JVM and its Python workers), sampled each second: what the machine had to hold."""

    def __init__(self, interval: float = 1.0) -> None:
        import threading

        self.interval = interval
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _total_mb(self) -> float:
        import psutil

        me = psutil.Process()
        total = 0
        for proc in [me, *me.children(recursive=True)]:
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                continue
        return total / 2**20

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak_mb = max(self.peak_mb, self._total_mb())

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _stage_rows(results: dict) -> dict[str, int]:
    """Rows each nightly task handled, from the counts it returned through XCom."""
    silver = results.get("silver", {})
    return {
        "bronze": results.get("bronze", {}).get("rows", 0),
        "silver": sum(silver.get("bronze_rows", {}).values()),
        "identity": results.get("identity", {}).get("identifiers", 0),
        "purchases": results.get("purchases", {}).get("purchases", 0),
        "rfm": results.get("rfm", {}).get("buyers", 0),
        "profiles": results.get("profiles", {}).get("profiles", 0),
    }


# The nightly DAG's tasks in build order, for printing.
STAGE_ORDER = (
    "land",
    "bronze",
    "silver",
    "identity",
    "purchases",
    "rfm",
    "profiles",
    "models",
    "segments",
    "quality_gate",
    "publish",
    "activate",
    "report",
)


def _stage_table(stages: dict[str, dict]) -> str:
    lines = [f"{'stage':12} {'seconds':>9} {'rows':>12} {'rows/s':>10}"]
    order = {name: i for i, name in enumerate(STAGE_ORDER)}
    for name, s in sorted(stages.items(), key=lambda kv: order.get(kv[0], len(order))):
        rate = f"{s['rows_per_second']:,.0f}" if s.get("rows_per_second") else "-"
        rows = f"{s['rows']:,}" if s.get("rows") is not None else "-"
        lines.append(f"{name:12} {s['seconds']:>9.1f} {rows:>12} {rate:>10}")
    return "\n".join(lines)


def _stage(seconds: float, rows: int | None) -> dict:
    rate = round(rows / seconds, 1) if rows and seconds else None
    return {"seconds": round(seconds, 1), "rows": rows, "rows_per_second": rate}


def run(args: argparse.Namespace) -> dict:
    """The whole benchmark; returns the figures written to the result file."""
    from cdp.app import orchestration
    from cdp.core.settings import load_settings
    from cdp.core.spark import get_spark
    from jobs.bronze import ingest
    from jobs.silver import run as silver

    name = (
        f"{args.persons}p-{args.days}d-s{args.seed}"
        + (f"-n{args.noise:g}" if args.noise != 1 else "")
        + ("-initial" if args.initial_load else "")
    )
    workdir = Path(args.workdir or f".cache/bench/{name}").resolve()
    landing, figures = _landing(args, workdir)
    manifest = json.loads((landing / "_truth" / "manifest.json").read_text())
    warehouse = workdir / "warehouse"
    if warehouse.exists():
        import shutil

        shutil.rmtree(warehouse)  # every run measures a build from nothing
    settings = load_settings(args.config).with_paths(str(landing), str(warehouse))
    end = dt.date.fromisoformat(manifest["end_date"])
    dates = [(end - dt.timedelta(days=i)).isoformat() for i in range(args.days - 1, -1, -1)]
    # An initial load leaves only its own date and the nightly ones.
    dates = [d for d in dates if any((landing / src / d).is_dir() for src in ("crm", "pos", "web"))]
    nights = max(1, min(args.nights, len(dates)))
    history, nightly = dates[:-nights], dates[-nights:]

    with MemorySampler() as memory:
        started = time.monotonic()
        spark = get_spark(settings)
        figures["spark_start_seconds"] = round(time.monotonic() - started, 1)

        # The history before the timed nights, landed and standardised as one backfill pass.
        history_stages: dict[str, dict] = {}
        if history:
            started = time.monotonic()
            landed = ingest.run_range(spark, settings, history)
            history_stages["bronze"] = _stage(
                time.monotonic() - started, sum(r.rows() for r in landed)
            )
            started = time.monotonic()
            standardised = silver.run_range(spark, settings, history)
            history_stages["silver"] = _stage(
                time.monotonic() - started,
                sum(sum(r.bronze_rows.values()) for r in standardised),
            )
            log.info("history %s..%s:\n%s", history[0], history[-1], _stage_table(history_stages))

        # Then the nightly DAG for each remaining date, timed per task by Airflow.
        nights_out = []
        for day in nightly:
            result = orchestration.run_nightly(settings, day, args.config)
            rows = _stage_rows(result.results)
            stages = {
                task: _stage(seconds, rows.get(task))
                for task, seconds in result.task_seconds.items()
            }
            nights_out.append({"batch_date": day, "wall_seconds": result.seconds, "stages": stages})
            log.info("night %s: %.0fs\n%s", day, result.seconds, _stage_table(stages))

        # The models the first night trained (no champion before), with their holdout metrics.
        models = _model_quality(settings)
        for m in models:
            log.info("model %s", m)

        accuracy = None
        if args.evaluate:
            started = time.monotonic()
            accuracy = _evaluate(spark, settings, landing)
            figures["evaluate_seconds"] = round(time.monotonic() - started, 1)

    figures["peak_memory_mb"] = round(memory.peak_mb, 1)
    figures["driver_jvm_peak_rss_mb"] = _jvm_peak_rss_mb()
    figures["python_peak_rss_mb"] = round(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
    )
    out = {
        "benchmark": "nightly",
        "name": name,
        "ran_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "arguments": vars(args),
        "generated": {k: manifest[k] for k in ("persons", "rows", "records") if k in manifest},
        "machine": {"cpus": os.cpu_count()},
        "spark": {
            "master": settings.spark.master,
            "driver_memory": settings.spark.driver_memory,
            "shuffle_partitions": settings.spark.shuffle_partitions,
        },
        "figures": figures,
        "history": {"dates": len(history), "stages": history_stages},
        "nights": nights_out,
        "models": models,
        "accuracy": accuracy.to_dict() if accuracy else None,
    }
    results_dir = Path(args.out)
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"nightly-{name}.json"
    path.write_text(json.dumps(out, indent=2, default=str), encoding="utf-8")
    if history_stages:
        print(f"history backfill, {len(history)} dates:")
        print(_stage_table(history_stages))
    for night in nights_out:
        print(f"nightly DAG run {night['batch_date']}: {night['wall_seconds']:.0f}s wall")
        print(_stage_table(night["stages"]))
    for m in models:
        if m["model"] == "clv":
            print(
                f"clv v{m['version']} (holdout {m['holdout_days']} days, {m['customers']:.0f} "
                f"customers): purchases MAE {m['purchases_mae']:.4f} vs naive "
                f"{m['naive_purchases_mae']:.4f}, correlation {m['purchases_corr']:.4f} vs "
                f"{m['naive_purchases_corr']:.4f}; spend MAE {m['spend_mae']:.2f} vs naive "
                f"{m['naive_spend_mae']:.2f}; predicted {m['purchases_total']:.0f} purchases, "
                f"actual {m['actual_purchases_total']:.0f}"
            )
            continue
        print(
            f"{m['model']} v{m['version']} (label {m['label_days']} days, holdout "
            f"{m['holdout_rows']} profiles): ROC AUC {m['roc_auc']:.4f} vs RFM baseline "
            f"{m['baseline_roc_auc']:.4f}; average precision {m['average_precision']:.4f} vs "
            f"{m['baseline_average_precision']:.4f}; lift@10% {m['lift_top_decile']:.2f}"
        )
    if accuracy:
        print(accuracy.table())
    print(json.dumps(figures, indent=2))
    print(f"result: {path}")
    return out


def _model_quality(settings) -> list[dict]:
    """Holdout metrics of each champion model, from its MLflow run."""
    from jobs.models import registry
    from jobs.models.clv_training import MODEL as CLV
    from jobs.models.training import CANDIDATES, MODELS

    client, _ = registry.connect(settings)
    out = []
    for model in MODELS:
        champ = registry.champion(client, settings, model)
        if champ is None:
            continue
        run = client.get_run(champ.run_id).data
        m = run.metrics
        out.append(
            {
                "model": model,
                "version": champ.version,
                "label_days": int(run.params["label_days"]),
                "holdout_rows": int(run.params["holdout_rows"]),
                **{
                    k: m.get(f"holdout_{k}")
                    for k in ("roc_auc", "average_precision", "brier", "lift_top_decile")
                },
                "baseline_roc_auc": m.get("baseline_holdout_roc_auc"),
                "baseline_average_precision": m.get("baseline_holdout_average_precision"),
                "algorithm": run.tags.get("algorithm"),
                **{
                    f"{name}_roc_auc": m.get(f"candidate_{name}_holdout_roc_auc")
                    for name in (c.name for c in CANDIDATES)
                },
                "brier_uncalibrated": m.get("holdout_brier_uncalibrated"),
            }
        )
    champ = registry.champion(client, settings, CLV)
    if champ is not None:
        run = client.get_run(champ.run_id).data
        figures = ("customers", "purchases_mae", "naive_purchases_mae", "purchases_corr",
                   "naive_purchases_corr", "spend_mae", "naive_spend_mae", "spend_corr",
                   "naive_spend_corr", "purchases_total", "actual_purchases_total",
                   "weekly_purchases_mae")  # fmt: skip
        out.append(
            {
                "model": CLV,
                "version": champ.version,
                "holdout_days": int(run.params["holdout_days"]),
                **{k: run.metrics.get(f"holdout_{k}", float("nan")) for k in figures},
            }
        )
    return out


def _evaluate(spark, settings, landing: Path):
    """Identity accuracy of the last night against the generator's truth."""
    from cdp_dev.identity.evaluate import evaluate_warehouse

    truth = str(landing / "_truth" / "records.csv")
    return evaluate_warehouse(spark, settings.paths.warehouse, truth)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cdp_dev.bench", description=__doc__)
    parser.add_argument("--persons", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--noise", type=float, default=1.0)
    parser.add_argument("--locales", help="market mix, as for `cdp generate --locales`")
    parser.add_argument("--config", help="YAML settings file (see docs/settings.md)")
    parser.add_argument(
        "--nights", type=int, default=1, help="last dates run through the nightly DAG, timed"
    )
    parser.add_argument(
        "--no-evaluate", dest="evaluate", action="store_false", help="skip identity accuracy"
    )
    parser.add_argument(
        "--initial-load",
        action="store_true",
        help="deliver the days before the timed nights as one initial extract (as make run)",
    )
    parser.add_argument("--workdir", help="where landing and warehouse go (default .cache/bench/)")
    parser.add_argument("--out", default="bench-results", help="folder for the result file")
    args = parser.parse_args(argv)
    from cdp.app.cli import setup_logging

    setup_logging()
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
