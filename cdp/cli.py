"""The `cdp` command line: generate demo data, run the nightly build, query tables."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys
import time
from pathlib import Path

from cdp.errors import CdpError
from cdp.settings import Settings, load_settings

log = logging.getLogger("cdp")


def _date(text: str) -> str:
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad date {text!r}: expected YYYY-MM-DD") from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {value}")
    return value


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.config)
    return settings.with_paths(
        landing=getattr(args, "landing", None), warehouse=getattr(args, "warehouse", None)
    )


def _spark(settings: Settings):
    from cdp.spark import get_spark

    return get_spark(settings)


def _dates(args: argparse.Namespace) -> list[str]:
    if args.date:
        return [args.date]
    if not (args.start and args.end):
        raise CdpError("give --date D, or --from D1 --to D2 for a range")
    start, end = dt.date.fromisoformat(args.start), dt.date.fromisoformat(args.end)
    if end < start:
        raise CdpError(f"--to {args.end} is before --from {args.start}")
    return [(start + dt.timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


def _check_landing(settings: Settings) -> None:
    landing = settings.paths.landing
    if "://" not in landing and not Path(landing).is_dir():
        raise CdpError(f"landing folder not found: {landing}")


def _check_warehouse(settings: Settings) -> None:
    warehouse = settings.paths.warehouse
    if "://" not in warehouse and not Path(warehouse).is_dir():
        raise CdpError(f"warehouse folder not found: {warehouse}")


# --------------------------------------------------------------------------- commands


def cmd_generate(args: argparse.Namespace) -> int:
    from cdp.synthetic import DEFAULT_END_DATE, generate

    end = dt.date.fromisoformat(args.end_date) if args.end_date else DEFAULT_END_DATE
    started = time.monotonic()
    try:
        summary = generate(
            args.out,
            args.persons,
            args.days,
            args.seed,
            end,
            settings=_generator_settings(args),
            overwrite=args.overwrite,
            initial_load_days=args.initial_load,
        )
    except FileExistsError as exc:
        raise CdpError(f"{exc} (add --overwrite to replace it)") from None
    except ValueError as exc:
        raise CdpError(str(exc)) from None
    log.info("generated in %.1fs", time.monotonic() - started)
    print(json.dumps(summary, indent=2, default=str))
    return 0


# The generate option behind each generator_settings argument, for its error messages.
_GENERATE_OPTIONS = {
    "noise_profile": "--noise-profile",
    "person_identifiers": "--person-identifiers",
    "households": "--households",
    "locale_weights": "--locales",
    "noise_level": "--noise",
}


def _generator_settings(args: argparse.Namespace):
    """Generator settings from --noise, --locales (a stress run, another market mix) and the
    profiles for identity-resolution evaluation (--noise-profile, --person-identifiers,
    --households), built by ``cdp.synthetic.settings.generator_settings``."""
    from cdp.synthetic.settings import LOCALES, SettingError, generator_settings

    weights = None
    if args.locales:
        weights = []
        for part in args.locales.split(","):
            name, _, weight = part.partition("=")
            if name.strip() not in LOCALES:
                raise CdpError(
                    f"--locales: unknown locale {name.strip()!r} (known: {', '.join(LOCALES)})"
                )
            try:
                weights.append((name.strip(), float(weight or 1)))
            except ValueError:
                raise CdpError(f"--locales: bad weight {weight!r} for {name.strip()}") from None
    try:
        return generator_settings(
            noise_profile=args.noise_profile,
            person_identifiers=args.person_identifiers,
            households=args.households,
            locale_weights=weights,
            noise_level=args.noise,
        )
    except SettingError as exc:
        raise CdpError(f"{_GENERATE_OPTIONS.get(exc.option, exc.option)}: {exc.detail}") from None


def _noise(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a level of 0 or more, got {value}")
    return value


def cmd_ingest(args: argparse.Namespace) -> int:
    from jobs.bronze import ingest

    settings = _settings(args)
    _check_landing(settings)
    spark = _spark(settings)
    failed = 0
    # A range is one pass (same tables as date by date): the per-date overhead is paid once.
    for report in ingest.run_range(spark, settings, _dates(args)):
        failed += len(report.errors)
        print(
            f"{report.batch_date}: bronze +{report.rows()} rows, {len(report.errors)} failed files"
        )
    return 1 if failed else 0


def cmd_standardise(args: argparse.Namespace) -> int:
    from jobs.silver import run as silver

    settings = _settings(args)
    spark = _spark(settings)
    # A range is one pass (same tables as date by date): the per-date overhead is paid once.
    for report in silver.run_range(spark, settings, _dates(args)):
        print(
            f"{report.batch_date}: silver {report.silver_rows},"
            f" quarantined {report.quarantined_rows}"
        )
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """The nightly build through the Airflow DAG, one run per batch date (a range backfills)."""
    from cdp import orchestration, pipeline, report

    settings = _settings(args)
    _check_landing(settings)
    dates = _dates(args)
    failed = 0
    result = None
    for number, day in enumerate(dates, start=1):
        log.info("nightly build %s (%d of %d)", day, number, len(dates))
        result = orchestration.run_nightly(settings, day, args.config)
        failed += sum(
            1 for f in result.results.get("bronze", {}).get("files", []) if f["status"] == "failed"
        )
        print(pipeline.describe_run(result), flush=True)
    built = result.results.get("report") if result else None
    if built:
        print()
        print(report.describe(built["summary"], built["report"]))
    return 1 if failed else 0


def cmd_gdpr(args: argparse.Namespace) -> int:
    """A GDPR access or erasure request for the subject named by one identifier."""
    from jobs.gdpr import requests
    from jobs.gdpr.identifiers import REQUEST_NAMESPACES

    settings = _settings(args)
    _check_warehouse(settings)
    namespace = next(ns for ns in REQUEST_NAMESPACES if getattr(args, ns) is not None)
    spark = _spark(settings)
    if args.kind == "access":
        result = requests.access(spark, settings, namespace, getattr(args, namespace))
        text = requests.write_export(spark, result, args.out)
        if not args.out:
            print(text)
        else:
            print(f"export written to {args.out}", file=sys.stderr)
        print(result.describe(), file=sys.stderr)
    else:
        if args.out:
            raise CdpError("--out is for access requests; an erasure exports nothing")
        result = requests.erase(spark, settings, namespace, getattr(args, namespace))
        print(result.describe())
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    """Train the propensity models through the cdp_models DAG (MLflow, champion promotion)."""
    import json

    from cdp import orchestration

    settings = _settings(args)
    _check_warehouse(settings)
    if not args.date:
        raise CdpError("models train needs --date YYYY-MM-DD (the last day of history to use)")
    result = orchestration.run_training(settings, args.date, args.config, args.model)
    for trained in result.results.get("train", []):
        m = trained["metrics"]
        print(
            f"{trained['model']} v{trained['version']}: holdout ROC AUC "
            f"{m['holdout_roc_auc']:.4f}, average precision {m['holdout_average_precision']:.4f} "
            f"(RFM baseline {m['baseline_holdout_roc_auc']:.4f} / "
            f"{m['baseline_holdout_average_precision']:.4f}); {trained['reason']}"
        )
    print(json.dumps({"mlflow": _mlflow_uri(settings)}))
    return 0


def _mlflow_uri(settings: Settings) -> str:
    from jobs.models.registry import tracking_uri

    return tracking_uri(settings)


def cmd_sql(args: argparse.Namespace) -> int:
    from pyspark.errors import PySparkException

    settings = _settings(args)
    spark = _spark(settings)
    if not settings.governance.analyst_full_access:
        from jobs.governance.masking import mask_session

        # Same names, identifying columns hashed or redacted; raw tables not registered.
        mask_session(spark, settings)
    try:
        df = spark.sql(args.query)
        rows = df.collect()
    except PySparkException as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise CdpError(f"SQL failed: {first}") from None
    columns = df.columns
    if args.format == "json":
        for row in rows:
            print(json.dumps(row.asDict(recursive=True), default=str, ensure_ascii=False))
    elif args.format == "csv":
        import csv

        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if v is None else v for v in row])
    else:
        _print_table(columns, [list(r) for r in rows])
    return 0


def _print_table(columns: list[str], rows: list[list]) -> None:
    text = [[("NULL" if v is None else str(v)) for v in r] for r in rows]
    widths = [max([len(c)] + [len(r[i]) for r in text]) for i, c in enumerate(columns)]
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    print(line)
    print("| " + " | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)) + " |")
    print(line)
    for r in text:
        print("| " + " | ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) + " |")
    print(line)
    print(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")


def cmd_evaluate(args: argparse.Namespace) -> int:
    from jobs.identity.evaluate import evaluate_warehouse

    if args.matrix:
        return _evaluate_matrix(args)
    given = [f"--{k}" for k in MATRIX_OPTIONS if getattr(args, k) is not None]
    if given:
        raise CdpError(f"{', '.join(given)}: only with --matrix")
    settings = _settings(args)
    truth_file = f"{settings.paths.landing.rstrip('/')}/_truth/records.csv"
    if "://" not in truth_file and not Path(truth_file).is_file():
        raise CdpError(f"ground truth not found: {truth_file} (made by `cdp generate`)")
    spark = _spark(settings)
    wh = settings.paths.warehouse
    result = evaluate_warehouse(spark, wh, truth_file)
    out = Path(args.out) if args.out else Path(wh) / "_reports" / "identity_evaluation.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(result.to_json(), encoding="utf-8")
    print(result.table())
    print(f"report: {out}")
    return 0


# Options of `cdp evaluate identity --matrix` only, and their defaults.
MATRIX_OPTIONS = {"persons": 1000, "days": 30, "seed": 7, "sets": None, "format": "table"}
MATRIX_OUT = "data/eval-identity"
BELOW_THE_BAR = 3  # exit status of a matrix that ran but has a data set below the bar


def _evaluate_matrix(args: argparse.Namespace) -> int:
    """The identity evaluation matrix (jobs/identity/matrix.py): every data set generated
    and built under ``<out>/work/``, the report in ``<out>/identity_matrix.json``; exits
    ``BELOW_THE_BAR`` when a data set is below the bar (1 and 2 stay errors)."""
    from jobs.identity.matrix import data_sets, run_matrix

    if args.landing or args.warehouse:
        raise CdpError("--matrix generates its own data under --out; drop --landing/--warehouse")
    opts = {k: default if getattr(args, k) is None else getattr(args, k)
            for k, default in MATRIX_OPTIONS.items()}  # fmt: skip
    try:
        sets = data_sets(opts["sets"].split(",") if opts["sets"] else None)
    except ValueError as exc:
        raise CdpError(f"--sets: {exc}") from None
    out = Path(args.out or MATRIX_OUT)
    work = out / "work"
    # The session's own folders; every data set then builds its own warehouse.
    settings = _settings(args).with_paths(
        landing=str(work / "_session" / "landing"), warehouse=str(work / "_session" / "warehouse")
    )
    spark = _spark(settings)
    result = run_matrix(
        spark, settings, work, opts["persons"], opts["days"], opts["seed"], [s.name for s in sets]
    )
    report = out / "identity_matrix.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(result.to_json(), encoding="utf-8")
    if opts["format"] == "json":
        print(result.to_json())
    else:
        print(result.table())
        print(f"report: {report}")
    return 0 if result.passed else BELOW_THE_BAR


def cmd_tables(args: argparse.Namespace) -> int:
    from cdp import catalog

    settings = _settings(args)
    spark = _spark(settings)
    for name, spec in catalog.TABLES.items():
        present = catalog.exists(spark, name, settings.paths.warehouse)
        rows = catalog.read(spark, name, settings.paths.warehouse).count() if present else None
        status = f"{rows} rows" if present else "not built"
        print(f"{name:28} {status:>14}  {spec.grain}")
    return 0


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cdp", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="show stack traces")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="YAML settings file (see README)")
    wh = argparse.ArgumentParser(add_help=False)
    wh.add_argument("--warehouse", help="warehouse folder or URI (default: paths.warehouse)")
    land = argparse.ArgumentParser(add_help=False)
    land.add_argument("--landing", help="landing folder or URI (default: paths.landing)")
    dates = argparse.ArgumentParser(add_help=False)
    dates.add_argument("--date", type=_date, help="batch date YYYY-MM-DD")
    dates.add_argument("--from", dest="start", type=_date, help="first batch date of a range")
    dates.add_argument("--to", dest="end", type=_date, help="last batch date of a range")

    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("generate", parents=[common], help="synthetic extracts with ground truth")
    p.add_argument("--out", required=True, help="landing folder to write")
    p.add_argument("--persons", type=_positive, default=1000)
    p.add_argument("--days", type=_positive, default=30)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--end-date", type=_date, help="last batch date (default 2026-11-24)")
    p.add_argument(
        "--noise",
        type=_noise,
        default=1.0,
        help="scale every defect rate (0 clean, 1 default, 2 a stress run)",
    )
    p.add_argument(
        "--locales",
        help="market mix, e.g. fr_FR=0.5,es_ES=0.3,en_US=0.2 (default: Nordic-European mix)",
    )
    # No argparse choices: a bad value gets the one-line error of generator_settings.
    p.add_argument(
        "--noise-profile",
        default="default",
        metavar="{default,heavy}",
        help="heavy: GeCo-style corruption of crm/loyalty persons, 1-9 duplicates per person",
    )
    p.add_argument(
        "--person-identifiers",
        default="all",
        metavar="{all,none}",
        help="none: crm/loyalty rows without email, phone and loyalty_id (names, birth, address)",
    )
    p.add_argument(
        "--households",
        default="default",
        metavar="{default,heavy}",
        help="heavy: mostly families, many twins, namesake fathers and sons, look-alike siblings",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an earlier generated set")
    p.add_argument(
        "--initial-load",
        type=int,
        default=0,
        metavar="N",
        help="deliver the first N days as one initial extract (landed under the Nth day)",
    )
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser(
        "run", parents=[common, land, wh, dates], help="the nightly build for a date"
    )
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("ingest", parents=[common, land, wh, dates], help="land files into bronze")
    p.set_defaults(func=cmd_ingest)
    p = sub.add_parser("standardise", parents=[common, wh, dates], help="bronze to silver")
    p.set_defaults(func=cmd_standardise)

    p = sub.add_parser(
        "sql",
        parents=[common, wh],
        help="query published tables by name (identifying columns masked unless "
        "governance.analyst_full_access)",
    )
    p.add_argument("query")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.set_defaults(func=cmd_sql)

    p = sub.add_parser("evaluate", parents=[common, land, wh], help="accuracy against ground truth")
    p.add_argument("what", choices=["identity"])
    p.add_argument(
        "--out",
        help="report file (default <warehouse>/_reports/identity_evaluation.json); with"
        f" --matrix a folder for the data sets and identity_matrix.json (default {MATRIX_OUT})",
    )
    p.add_argument(
        "--matrix",
        action="store_true",
        help="generate every data set of the identity matrix, build it, and score the project"
        " beside a plain splink baseline against the bar (exit 3 below it)",
    )
    matrix_help = {
        "persons": "persons per data set",
        "days": "days of history per data set (all in one initial extract)",
        "seed": "generator seed",
    }
    for name, text in matrix_help.items():
        p.add_argument(
            f"--{name}",
            type=_positive if name != "seed" else int,
            help=f"--matrix: {text} (default {MATRIX_OPTIONS[name]})",
        )
    p.add_argument(
        "--sets",
        help="--matrix: comma-separated data sets (default: all; jobs/identity/matrix.py)",
    )
    p.add_argument("--format", choices=["table", "json"], help="--matrix: output (default table)")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "gdpr", parents=[common, wh], help="GDPR access export or erasure of one person"
    )
    p.add_argument("kind", choices=["access", "erase"])
    who = p.add_mutually_exclusive_group(required=True)
    from schemas.xdm import NAMESPACES

    for ns in NAMESPACES:
        who.add_argument(f"--{ns.replace('_', '-')}", dest=ns, metavar="X")
    p.add_argument("--out", help="access: write the JSON export here (default: standard output)")
    p.set_defaults(func=cmd_gdpr)

    p = sub.add_parser(
        "models", parents=[common, wh], help="train the propensity models (MLflow, champion)"
    )
    p.add_argument("action", choices=["train"])
    p.add_argument("--date", type=_date, help="last day of history to train on")
    p.add_argument(
        "--model",
        choices=["purchase_propensity", "churn"],
        help="train this model only (default: every model)",
    )
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("tables", parents=[common, wh], help="list tables and their row counts")
    p.set_defaults(func=cmd_tables)
    return parser


# Libraries whose INFO lines say nothing to an operator: Great Expectations alone logs some
# eighty lines about its own API documentation on import. MLflow sets its own logger's level
# on import, from MLFLOW_LOGGING_LEVEL.
QUIET_LOGGERS = ("py4j", "pyspark", "splink", "great_expectations")


def setup_logging(debug: bool = False) -> None:
    """Our INFO lines to standard error (so `cdp sql --format csv` leaves standard output to the
    result); the libraries' only from WARNING up."""
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")


def main(argv: list[str] | None = None) -> int:
    """Entry point of `.venv/bin/cdp`."""
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(debug=args.debug)
    try:
        return args.func(args)
    except CdpError as exc:
        print(f"cdp: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if args.debug:
            raise
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        print(
            f"cdp: error: {exc.__class__.__name__}: {first} (--debug shows more)", file=sys.stderr
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
