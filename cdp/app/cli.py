"""The `cdp` command line: generate demo data, run the nightly build, query tables."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys
from dataclasses import dataclass

from cdp.core import storage
from cdp.core.errors import CdpError
from cdp.core.settings import Settings, load_settings

log = logging.getLogger("cdp")


def date_arg(text: str) -> str:
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad date {text!r}: expected YYYY-MM-DD") from None


def conf_arg(text: str) -> dict:
    """A DAG run's params as a JSON object, as ``airflow dags trigger --conf`` takes them."""
    try:
        conf = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"bad JSON {text!r}: {exc}") from None
    if not isinstance(conf, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return conf


def positive_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {value}")
    return value


def settings_from_args(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.config)
    return settings.with_paths(
        landing=getattr(args, "landing", None), warehouse=getattr(args, "warehouse", None)
    )


def spark_session(settings: Settings):
    from cdp.core.spark import get_spark

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
    folder = storage.local_path(landing)
    if folder is not None and not folder.is_dir():
        raise CdpError(f"landing folder not found: {landing}")


def _check_warehouse(settings: Settings) -> None:
    warehouse = settings.paths.warehouse
    folder = storage.local_path(warehouse)
    if folder is not None and not folder.is_dir():
        raise CdpError(f"warehouse folder not found: {warehouse}")


# --------------------------------------------------------------------------- commands


def cmd_ingest(args: argparse.Namespace) -> int:
    from jobs.bronze import ingest

    settings = settings_from_args(args)
    _check_landing(settings)
    spark = spark_session(settings)
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

    settings = settings_from_args(args)
    spark = spark_session(settings)
    # A range is one pass (same tables as date by date): the per-date overhead is paid once.
    for report in silver.run_range(spark, settings, _dates(args)):
        print(
            f"{report.batch_date}: silver {report.silver_rows},"
            f" quarantined {report.quarantined_rows}"
        )
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """The nightly build through the Airflow DAG, one run per batch date (a range backfills)."""
    from cdp.app import orchestration, pipeline, report

    settings = settings_from_args(args)
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
    from jobs.standardise.identifiers import REQUEST_NAMESPACES

    settings = settings_from_args(args)
    _check_warehouse(settings)
    namespace = next(ns for ns in REQUEST_NAMESPACES if getattr(args, ns) is not None)
    spark = spark_session(settings)
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
    """Train the models through the cdp_models DAG (MLflow, champion promotion)."""
    import json

    from cdp.app import orchestration

    settings = settings_from_args(args)
    _check_warehouse(settings)
    if not args.date:
        raise CdpError("models train needs --date YYYY-MM-DD (the last day of history to use)")
    result = orchestration.run_training(settings, args.date, args.config, args.model)
    for trained in result.results.get("train", []):
        if "skipped" in trained:
            print(f"{trained['model']}: not trained: {trained['skipped']}")
            continue
        m = trained["metrics"]
        if trained["model"] == "clv":
            print(
                f"clv v{trained['version']}: holdout purchases MAE {m['purchases_mae']:.4f} "
                f"(naive {m['naive_purchases_mae']:.4f}), correlation "
                f"{m['purchases_corr']:.4f} (naive {m['naive_purchases_corr']:.4f}); "
                f"{trained['reason']}"
            )
            continue
        print(
            f"{trained['model']} v{trained['version']} ({trained.get('algorithm', '?')}): "
            "holdout ROC AUC "
            f"{m['holdout_roc_auc']:.4f}, average precision {m['holdout_average_precision']:.4f} "
            f"(RFM baseline {m['baseline_holdout_roc_auc']:.4f} / "
            f"{m['baseline_holdout_average_precision']:.4f}); {trained['reason']}"
        )
    print(json.dumps({"mlflow": _mlflow_uri(settings)}))
    return 0


def _mlflow_uri(settings: Settings) -> str:
    from jobs.models.registry import tracking_uri

    return tracking_uri(settings)


def sql_session(settings: Settings):
    """The session `cdp sql` queries in: in its masked mode (the default) the analysts' masked
    views under the tables' names, raw tables absent, and the SQL endpoint's guard armed
    (read-only, no file read by path, no functions or jars: cdp/app/sql_endpoint.py)."""
    if settings.governance.analyst_full_access:
        return spark_session(settings)
    from cdp.app import sql_endpoint

    spark = spark_session(sql_endpoint.governed_settings(settings))
    sql_endpoint.publish(spark, settings, "analyst", {})
    sql_endpoint.arm(spark, hidden=sql_endpoint.hidden_databases("analyst"))
    return spark


def run_sql(spark, query: str):
    """``query``'s result (a DataFrame, collected rows), or a one-line error: Spark's first
    line, or the guard's refusal."""
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException

    try:
        df = spark.sql(query)
        return df, df.collect()
    except PySparkException as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise CdpError(f"SQL failed: {first}") from None
    except Py4JJavaError as exc:
        cause = exc.java_exception
        while cause.getCause() is not None and "SecurityException" not in cause.toString():
            cause = cause.getCause()
        raise CdpError(f"SQL failed: {cause.getMessage() or cause.toString()}") from None


def cmd_sql(args: argparse.Namespace) -> int:
    spark = sql_session(settings_from_args(args))
    df, rows = run_sql(spark, args.query)
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


def cmd_serve_sql(args: argparse.Namespace) -> int:
    from cdp.app import sql_endpoint

    sql_endpoint.serve(settings_from_args(args), role=args.role, port=args.port)
    return 0


def cmd_sql_user(args: argparse.Namespace) -> int:
    import getpass

    from cdp.app import sql_endpoint

    users_file = settings_from_args(args).sql_endpoint.users_file
    if args.action == "list":
        for name, role in sorted(sql_endpoint.read_users(users_file).items()):
            print(f"{name}\t{role}")
        return 0
    if not args.name:
        raise CdpError(f"sql-user {args.action}: give the user's NAME")
    if args.action == "remove":
        if not sql_endpoint.remove_user(users_file, args.name):
            raise CdpError(f"no SQL user {args.name!r} in {users_file}")
        print(f"removed {args.name} from {users_file}")
        return 0
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"password for {args.name}: ")
        if getpass.getpass("again: ") != password:
            raise CdpError("the two passwords differ")
    sql_endpoint.add_user(users_file, args.name, args.role, password)
    print(f"{args.name} ({args.role}) may log in; users in {users_file}")
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


def _absolute(location: str) -> str:
    """A local folder made absolute (the stack's tasks run elsewhere); a URI as it is."""
    return location if "://" in location else os.path.abspath(location)


def cmd_stack(args: argparse.Namespace) -> int:
    from cdp.app import stack

    if args.action == "down":
        stopped = stack.down()
        print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
        return 0
    if args.action == "trigger":
        conf = {
            key: value
            for key, value in (
                ("batch_date", args.date),
                ("landing", args.landing and _absolute(args.landing)),
                ("warehouse", args.warehouse and _absolute(args.warehouse)),
            )
            if value
        }
        conf.update(args.conf or {})
        run = stack.trigger(stack.StackSettings(), args.dag, conf, wait=args.wait)
        print(f"{args.dag} {run['dag_run_id']}: {run['state']}")
        for task_id, state in run.get("tasks", {}).items():
            print(f"  {task_id:<12} {state}")
        for task_id, tail in run.get("failed_logs", {}).items():
            print(f"--- {task_id}: the end of its log ---\n{tail}", file=sys.stderr)
        return 0 if run["state"] in ("success", "queued", "running") else 1
    parts = stack.up() if args.action == "up" else stack.status()
    for part, state in parts.items():
        print(f"{part:<16} {state}")
    return 0


def cmd_tables(args: argparse.Namespace) -> int:
    from cdp.core import catalog

    settings = settings_from_args(args)
    spark = spark_session(settings)
    for name, spec in catalog.TABLES.items():
        present = catalog.exists(spark, name, settings.paths.warehouse)
        rows = catalog.read(spark, name, settings.paths.warehouse).count() if present else None
        status = f"{rows} rows" if present else "not built"
        print(f"{name:28} {status:>14}  {spec.grain}")
    return 0


# --------------------------------------------------------------------------- parser

# Entry-point group of commands other installed packages add to `cdp` (pyproject.toml): the
# development tools (cdp_dev: `generate`, `evaluate`) plug in here, so the runtime package
# never imports them.
COMMAND_ENTRY_POINTS = "cdp.commands"


@dataclass(frozen=True)
class Parents:
    """The option groups a subcommand may take (``parents=`` of ``add_parser``)."""

    common: argparse.ArgumentParser  # --config
    landing: argparse.ArgumentParser  # --landing
    warehouse: argparse.ArgumentParser  # --warehouse
    dates: argparse.ArgumentParser  # --date, --from, --to


def _add_plugin_commands(sub: argparse._SubParsersAction, parents: Parents) -> None:
    from importlib.metadata import entry_points

    for ep in sorted(entry_points(group=COMMAND_ENTRY_POINTS), key=lambda e: e.name):
        ep.load()(sub, parents)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cdp", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="show stack traces")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="YAML settings file (see docs/settings.md)")
    wh = argparse.ArgumentParser(add_help=False)
    wh.add_argument("--warehouse", help="warehouse folder or URI (default: paths.warehouse)")
    land = argparse.ArgumentParser(add_help=False)
    land.add_argument("--landing", help="landing folder or URI (default: paths.landing)")
    dates = argparse.ArgumentParser(add_help=False)
    dates.add_argument("--date", type=date_arg, help="batch date YYYY-MM-DD")
    dates.add_argument("--from", dest="start", type=date_arg, help="first batch date of a range")
    dates.add_argument("--to", dest="end", type=date_arg, help="last batch date of a range")

    sub = parser.add_subparsers(dest="command", required=True)
    parents = Parents(common=common, landing=land, warehouse=wh, dates=dates)
    _add_plugin_commands(sub, parents)
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

    p = sub.add_parser(
        "serve-sql",
        parents=[common, wh],
        help="the governed SQL endpoint for JDBC/ODBC and DB-API clients (Spark's Thrift "
        "server): analysts' masked views, or every table for privacy officers",
    )
    p.add_argument("--role", choices=["analyst", "officer"], default="analyst")
    p.add_argument(
        "--port", type=int, help="default: sql_endpoint.port (officer: sql_endpoint.officer_port)"
    )
    p.set_defaults(func=cmd_serve_sql)

    p = sub.add_parser(
        "sql-user", parents=[common], help="who may log in to the SQL endpoint (`cdp serve-sql`)"
    )
    p.add_argument("action", choices=["add", "remove", "list"])
    p.add_argument("name", nargs="?")
    p.add_argument("--role", choices=["analyst", "officer"], default="analyst")
    p.add_argument(
        "--password-stdin", action="store_true", help="add: read the password from stdin"
    )
    p.set_defaults(func=cmd_sql_user)

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

    p = sub.add_parser("models", parents=[common, wh], help="train the models (MLflow, champion)")
    p.add_argument("action", choices=["train"])
    p.add_argument("--date", type=date_arg, help="last day of history to train on")
    p.add_argument(
        "--model",
        choices=["purchase_propensity", "churn", "clv"],
        help="train this model only (default: every model)",
    )
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("tables", parents=[common, wh], help="list tables and their row counts")
    p.set_defaults(func=cmd_tables)

    p = sub.add_parser(
        "stack",
        help="the local service stack: PostgreSQL, Airflow's scheduler, a Spark standalone "
        "cluster (`make up` / `make down`)",
    )
    p.add_argument("action", choices=["up", "down", "status", "trigger"])
    p.add_argument(
        "--dag", default="cdp_nightly", help="trigger: the DAG to run (default cdp_nightly)"
    )
    p.add_argument("--date", type=date_arg, help="trigger: the batch date (param batch_date)")
    p.add_argument("--landing", help="trigger: landing folder (default: the stack's)")
    p.add_argument("--warehouse", help="trigger: warehouse folder (default: the stack's)")
    p.add_argument(
        "--conf",
        type=conf_arg,
        help="trigger: more params as a JSON object, e.g. --dag cdp_models --conf "
        '\'{"model": "churn"}\'',
    )
    p.add_argument(
        "--no-wait", dest="wait", action="store_false", help="trigger: return once queued"
    )
    p.set_defaults(func=cmd_stack)
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
    if not debug:
        # PySpark logs every failed query's whole Java stack as one JSON line; the command
        # reports the error's first line itself.
        logging.getLogger("SQLQueryContextLogger").setLevel(logging.CRITICAL)
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
