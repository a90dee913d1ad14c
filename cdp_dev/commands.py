"""The development commands of the `cdp` CLI: `cdp generate` (synthetic extracts with
ground truth) and `cdp evaluate identity` (accuracy against it, and the evaluation matrix).

They plug into the CLI through the `cdp.commands` entry points (pyproject.toml), so the
runtime package never imports the development tools; each entry point is a function that
adds its subcommand to the CLI's parser.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import time
from pathlib import Path

from cdp.app.cli import Parents, date_arg, positive_arg, settings_from_args, spark_session
from cdp.core import storage
from cdp.core.errors import CdpError

log = logging.getLogger("cdp")


def cmd_generate(args: argparse.Namespace) -> int:
    from cdp_dev.synthetic import DEFAULT_END_DATE, generate

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
    --households), built by ``cdp_dev.synthetic.settings.generator_settings``."""
    from cdp_dev.synthetic.settings import LOCALES, SettingError, generator_settings

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


def cmd_evaluate(args: argparse.Namespace) -> int:
    from cdp_dev.identity.evaluate import evaluate_warehouse

    if args.matrix:
        return _evaluate_matrix(args)
    given = [f"--{k}" for k in MATRIX_OPTIONS if getattr(args, k) is not None]
    if given:
        raise CdpError(f"{', '.join(given)}: only with --matrix")
    settings = settings_from_args(args)
    truth_file = f"{settings.paths.landing.rstrip('/')}/_truth/records.csv"
    local = storage.local_path(truth_file)
    if local is not None and not local.is_file():
        raise CdpError(f"ground truth not found: {truth_file} (made by `cdp generate`)")
    spark = spark_session(settings)
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
    """The identity evaluation matrix (cdp_dev/identity/matrix.py): every data set generated
    and built under ``<out>/work/``, the report in ``<out>/identity_matrix.json``; exits
    ``BELOW_THE_BAR`` when a data set is below the bar (1 and 2 stay errors)."""
    from cdp_dev.identity.matrix import data_sets, run_matrix

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
    settings = settings_from_args(args).with_paths(
        landing=str(work / "_session" / "landing"), warehouse=str(work / "_session" / "warehouse")
    )
    spark = spark_session(settings)
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


# --------------------------------------------------------------------------- parsers


def add_generate(sub: argparse._SubParsersAction, parents: Parents) -> None:
    """`cdp generate`."""
    common = parents.common
    p = sub.add_parser("generate", parents=[common], help="synthetic extracts with ground truth")
    p.add_argument("--out", required=True, help="landing folder to write")
    p.add_argument("--persons", type=positive_arg, default=1000)
    p.add_argument("--days", type=positive_arg, default=30)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--end-date", type=date_arg, help="last batch date (default 2026-11-24)")
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


def add_evaluate(sub: argparse._SubParsersAction, parents: Parents) -> None:
    """`cdp evaluate identity [--matrix]`."""
    common, land, wh = parents.common, parents.landing, parents.warehouse
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
            type=positive_arg if name != "seed" else int,
            help=f"--matrix: {text} (default {MATRIX_OPTIONS[name]})",
        )
    p.add_argument(
        "--sets",
        help="--matrix: comma-separated data sets (default: all; cdp_dev/identity/matrix.py)",
    )
    p.add_argument("--format", choices=["table", "json"], help="--matrix: output (default table)")
    p.set_defaults(func=cmd_evaluate)


def cmd_screenshots(args: argparse.Namespace) -> int:
    from cdp.app.stack import StackSettings
    from cdp_dev.screenshots import take

    pages = take(StackSettings(), Path(args.out))
    for page in pages.values():
        print(f"{page.png}  {page.url}")
    return 0


def add_screenshots(sub: argparse._SubParsersAction, parents: Parents) -> None:
    """`cdp screenshots`."""
    p = sub.add_parser(
        "screenshots",
        parents=[parents.common],
        help="the running stack's last nightly run in headless Chromium, checked, as PNGs",
    )
    p.add_argument("--out", default="docs/screenshots", help="folder for the PNGs")
    p.set_defaults(func=cmd_screenshots)
