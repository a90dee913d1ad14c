"""Synthetic source data for the CDP: four messy source systems plus the truth behind them.

``generate`` writes the nightly extracts of crm, loyalty, pos and web in the landing layout
of CONTRACTS.md section 1, and ``_truth/`` with the real person behind every record, so
identity resolution can be scored. Same arguments, same bytes: every random choice comes
from streams seeded by ``seed``; nothing reads the clock or global random state.

``_truth/`` holds:

* ``persons.csv``: one row per true person (see ``writers.PERSON_COLUMNS``).
* ``records.csv``: ``source, record_key, person_id`` for every landed record: crm -> crm_id,
  loyalty -> loyalty_id, pos -> transaction_id (one receipt, one buyer), web -> event_id.
* ``addresses.csv``: each household's address history.
* ``junk_identifiers.csv``: placeholder values shared by strangers (store cards, test emails).
* ``manifest.json``: arguments, settings and row counts of the run.
* ``corruptions.csv`` (``noise_profile="heavy"`` only): what the heavy corruption did to each
  CRM and loyalty record, and which records are a person's extra duplicates.

``settings.generator_settings`` builds the settings of the harder profiles (heavy noise and
duplicates, person records without identifiers, households full of twins and namesakes).
"""

from __future__ import annotations

import csv
import gc
import multiprocessing
import shutil
import time
import traceback
from collections.abc import Callable
from datetime import date
from pathlib import Path

from cdp_dev.synthetic.common import Calendar, Streams
from cdp_dev.synthetic.crm import CRM_COLUMNS, CrmSystem
from cdp_dev.synthetic.loyalty import LOYALTY_COLUMNS, LoyaltyProgram
from cdp_dev.synthetic.noise import JUNK_EMAILS, JUNK_PHONES
from cdp_dev.synthetic.pools import build_pools
from cdp_dev.synthetic.population import PopulationBuilder
from cdp_dev.synthetic.pos import POS_COLUMNS, PointOfSale, build_catalogue
from cdp_dev.synthetic.settings import (
    DEFAULT_END_DATE,
    GeneratorSettings,
    NoiseRates,
    generator_settings,
)
from cdp_dev.synthetic.web import WEB_FIELDS, WebTracker
from cdp_dev.synthetic.writers import (
    SOURCES,
    TRUTH_DIR,
    LandingWriter,
    TruthWriter,
    fold_initial_load,
)

__all__ = [
    "CRM_COLUMNS",
    "DEFAULT_END_DATE",
    "GeneratorSettings",
    "LOYALTY_COLUMNS",
    "NoiseRates",
    "POS_COLUMNS",
    "SOURCES",
    "WEB_FIELDS",
    "generate",
    "generator_settings",
]

GENERATOR_VERSION = "1"


def _end_date(value: date | str | None) -> date:
    if value is None:
        return DEFAULT_END_DATE
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"end date must be YYYY-MM-DD, got {value!r}") from None
    return value


def _prepare(root: Path, overwrite: bool) -> None:
    if root.exists() and not root.is_dir():
        raise ValueError(f"output path {root} exists and is not a directory")
    ours = [root / name for name in (*SOURCES, TRUTH_DIR) if (root / name).exists()]
    if ours and not overwrite:
        names = ", ".join(p.name for p in ours)
        raise FileExistsError(
            f"{root} already holds generated data ({names}); remove it or pass overwrite=True"
        )
    for path in ours:  # only the folders this generator writes, never anything else
        shutil.rmtree(path)
    root.mkdir(parents=True, exist_ok=True)


def _write_web(
    web: WebTracker,
    calendar: Calendar,
    root: Path,
    streams: Streams,
    settings: GeneratorSettings,
    part: Path,
) -> dict:
    """Write every day's web events and their truth rows (to ``part``); return counts."""
    landing = LandingWriter(root, streams, settings.split_file_rate)
    records = 0
    with part.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        for day in range(calendar.days):
            when = calendar.date(day)
            lines, pairs = web.day(day)
            landing.jsonl("web", when, f"web_events_{when.strftime('%Y%m%d')}", lines)
            writer.writerows(("web", key, person_id) for key, person_id in pairs)
            records += len(pairs)
    return {
        "rows": landing.rows["web"],
        "bytes": landing.bytes["web"],
        "files": landing.files,
        "records": records,
    }


def _write_masters_and_pos(
    calendar: Calendar,
    crm: CrmSystem,
    loyalty: LoyaltyProgram,
    pos: PointOfSale,
    landing: LandingWriter,
    truth: TruthWriter,
) -> None:
    """Write every day's crm, pos and loyalty extracts (and the pos truth rows)."""
    for day in range(calendar.days):
        when = calendar.date(day)
        stamp = when.strftime("%Y%m%d")
        kind = "full" if day == 0 else "delta"
        landing.csv(
            "crm", when, f"crm_customers_{kind}_{stamp}", CRM_COLUMNS, crm.rows_for_day(day)
        )
        # POS before loyalty: purchases earn the points that the loyalty delta then shows.
        pos_rows, pos_truth = pos.day(day)
        landing.csv("pos", when, f"pos_receipts_{stamp}", POS_COLUMNS, pos_rows, group=0)
        truth.records("pos", pos_truth)
        landing.csv(
            "loyalty",
            when,
            f"loyalty_members_{kind}_{stamp}",
            LOYALTY_COLUMNS,
            loyalty.rows_for_day(day),
        )


class _Background:
    """Runs a job in a forked child when allowed, else right away; ``wait`` gives its result.

    The files are the same either way: every source draws from its own random stream.
    """

    def __init__(self, job: Callable[[], dict], workers: int):
        self._process = None
        if workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
            self._result = job()
            return
        ctx = multiprocessing.get_context("fork")
        self._reader, writer = ctx.Pipe(duplex=False)

        def child() -> None:
            try:
                writer.send(("ok", job()))
            except BaseException:  # report anything; the parent re-raises it
                writer.send(("error", traceback.format_exc()))

        self._process = ctx.Process(target=child, name="cdp-generate-web")
        self._process.start()
        writer.close()

    def wait(self) -> dict:
        """The job's result; raises if the child failed."""
        if self._process is None:
            return self._result
        try:
            status, payload = self._reader.recv()
        except EOFError:
            status, payload = "error", "the web writer process died without a result"
        self._process.join()
        if status != "ok":
            raise RuntimeError(f"writing web events failed:\n{payload}")
        return payload

    def cancel(self) -> None:
        """Stop the child (used when the parent's own part failed)."""
        if self._process is not None and self._process.is_alive():
            self._process.terminate()
            self._process.join()


def generate(
    out_dir: str | Path,
    persons: int,
    days: int,
    seed: int,
    end_date: date | str | None = None,
    *,
    settings: GeneratorSettings | None = None,
    overwrite: bool = False,
    workers: int = 2,
    initial_load_days: int = 0,
) -> dict:
    """Write ``days`` nightly extracts ending at ``end_date`` for ``persons`` true persons.

    Returns a summary: rows per source, truth records per source, files written, bytes
    (total and per source) and the seconds it took. ``overwrite`` replaces an earlier run's
    crm/loyalty/pos/web/_truth folders in ``out_dir`` (nothing else there is touched).
    ``workers=2`` writes web events in a forked process; the files are identical either way.
    ``initial_load_days`` delivers the first that many days as one initial extract (landed
    under the last of them), so a new installation loads months of history in one night.
    """
    started = time.perf_counter()  # for the summary only; never feeds the data
    if persons < 1:
        raise ValueError(f"persons must be at least 1, got {persons}")
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    settings = settings or GeneratorSettings()
    end = _end_date(end_date)
    root = Path(out_dir)
    _prepare(root, overwrite)
    # The cyclic garbage collector keeps rescanning the (large, long-lived, acyclic) plans
    # and makes the run superlinear in persons: about a third slower at 100k. The generator
    # creates no reference cycles worth collecting, so it runs with the collector paused.
    collecting = gc.isenabled()
    gc.disable()
    try:
        summary = _generate(root, persons, days, seed, end, settings, workers, started)
    finally:
        if collecting:
            gc.enable()
    if initial_load_days:
        first = date.fromisoformat(summary["start_date"])
        loaded = fold_initial_load(root, first, min(initial_load_days, days))
        summary["initial_load"] = loaded.isoformat()
    return summary


def _generate(
    root: Path,
    persons: int,
    days: int,
    seed: int,
    end: date,
    settings: GeneratorSettings,
    workers: int,
    started: float,
) -> dict:
    calendar = Calendar.ending(end, days)
    streams = Streams(seed)
    pools = build_pools(streams, persons)
    population = PopulationBuilder(streams, settings, pools, calendar).build(persons)
    loyalty = LoyaltyProgram(streams, settings, calendar, population)
    loyalty.plan()
    crm = CrmSystem(streams, settings, calendar, population, loyalty)
    crm.plan()
    catalogue = build_catalogue(streams.py("catalogue"))
    pos = PointOfSale(streams, settings, calendar, population, loyalty, catalogue)
    web = WebTracker(
        streams, settings, calendar, population, crm, catalogue, store_visits=pos.store_visits
    )

    landing = LandingWriter(root, streams, settings.split_file_rate)
    truth = TruthWriter(root / TRUTH_DIR)
    truth.persons(population, days - 1)
    truth.addresses(population, calendar.start)
    # Every CRM and loyalty record lands: on day 0 (full extract) or on its creation day.
    truth.records("crm", ((r.key, r.person.person_id) for r in crm.records))
    truth.records("loyalty", ((r.key, r.person.person_id) for r in loyalty.records))
    if settings.heavy:
        truth.corruptions(
            (source, r.key, r.person.person_id, r.is_duplicate, r.corruptions)
            for source, system in (("crm", crm), ("loyalty", loyalty))
            for r in system.records
        )

    # Web events depend on the other sources only through the finished plans, so they can
    # be written by a second process while this one writes crm, pos and loyalty.
    web_part = root / TRUTH_DIR / "records-web.part"
    web_job = _Background(
        lambda: _write_web(web, calendar, root, streams, settings, web_part), workers
    )
    try:
        _write_masters_and_pos(calendar, crm, loyalty, pos, landing, truth)
    except BaseException:
        web_job.cancel()
        raise
    web_stats = web_job.wait()

    truth.append(web_part)
    truth.counts["web"] += web_stats["records"]
    landing.rows["web"] += web_stats["rows"]
    landing.bytes["web"] += web_stats["bytes"]
    landing.files += web_stats["files"]
    truth.close()

    junk = [
        ("loyalty_id", s.default_card, f"default card of store {s.store_id}") for s in pos.stores
    ]
    junk += [("email", e, "placeholder email") for e in JUNK_EMAILS]
    junk += [("phone", p, "placeholder phone") for p in JUNK_PHONES]
    truth.junk(junk)
    rows = {source: landing.rows[source] for source in SOURCES}
    records = {source: truth.counts[source] for source in SOURCES}
    # The manifest holds no timings or paths so that runs stay byte-identical.
    shared = {
        "persons": persons,
        "days": days,
        "seed": seed,
        "start_date": calendar.start.isoformat(),
        "end_date": end.isoformat(),
        "rows": rows,
        "records": records,
    }
    truth.manifest(
        {
            "generator_version": GENERATOR_VERSION,
            "households": sum(1 for h in population.households if h.members),
            **shared,
            "settings": settings.to_dict(),
        }
    )
    return {
        "out_dir": str(root),
        **shared,
        "files": landing.files,
        "bytes": sum(landing.bytes.values()),
        "bytes_by_source": {source: landing.bytes[source] for source in SOURCES},
        "seconds": round(time.perf_counter() - started, 2),
    }
