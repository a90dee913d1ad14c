"""Shared fixtures: one lazily built Spark session for the whole test run (splink's habit).

Shuffle partitions 1 and no UI keep tiny test data fast; warehouse, checkpoints and landing
folders live under pytest's temporary folder.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
from pathlib import Path

import pytest

from cdp.app import stack
from cdp.core.settings import Settings, load_settings

DEMO_END = dt.date(2026, 11, 24)
DEMO_DAYS = 3
# Tiny test data: compiling generated Java for every query (whole-stage code generation)
# costs more than interpreting the plan; the results are the same. Measured on the `built`
# warehouse's three nights (150 persons, one process): 331 s with, 281 s without. Adaptive
# query execution re-plans each query at its shuffles, in Spark jobs of their own, to size
# partitions that hold a few rows here: a night of 60 persons ran 1062 Spark jobs in 78 s
# with it, 583 in 74 s without.
TINY_DATA_CONF = {
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
    "spark.sql.adaptive.enabled": "false",
}


def make_settings(landing: Path | str, warehouse: Path | str) -> Settings:
    """Test settings: small Spark, the given folders, and small tree ensembles for the
    propensity models the builds train on a few days of data (tests/test_models.py trains
    with the defaults)."""
    settings = load_settings(environ={})
    settings.spark.master = "local[2]"
    settings.spark.shuffle_partitions = 1
    settings.spark.driver_memory = "3g"
    settings.spark.conf.update(TINY_DATA_CONF)
    settings.propensity.max_iter = 5
    return settings.with_paths(landing=str(landing), warehouse=str(warehouse))


def cdp_env(
    master: str = "local[2]", shuffle_partitions: int = 1, **settings: str
) -> dict[str, str]:
    """The environment of a `cdp` process a test starts: small Spark as in make_settings,
    plus any ``CDP_*`` settings given by their variable's name after the prefix
    (``PATHS__WAREHOUSE="..."``)."""
    return {
        **os.environ,
        "CDP_SPARK__MASTER": master,
        "CDP_SPARK__SHUFFLE_PARTITIONS": str(shuffle_partitions),
        "CDP_SPARK__DRIVER_MEMORY": "2g",
        "CDP_SPARK__CONF": json.dumps(TINY_DATA_CONF),
        **{f"CDP_{name}": value for name, value in settings.items()},
    }


# Columns that say when a row was written, not what it holds.
WALL_CLOCK = {"_ingested_at", "quarantined_at", "recorded_at", "scored_at", "generated_at"}


def free_ports(count: int = 1) -> list[int]:
    """``count`` distinct loopback ports free now, below Linux's ephemeral range (32768-60999).

    A fixed port in that range is not safe for a server a test starts: Spark drivers, py4j and
    every client connection take ephemeral ports, and one of them once held the stack test's
    PostgreSQL port when PostgreSQL started (CI, 2026-12-06)."""
    ports: list[int] = []
    while len(ports) < count:
        port = random.randint(20000, 30000)
        if port not in ports and not stack.port_taken(port):
            ports.append(port)
    return ports


def table_snapshot(spark, warehouse: Path | str, layer: str = "") -> dict[str, list]:
    """Every table's rows (without wall-clock columns), sorted, by table name; only the
    tables of ``layer`` (``"gold."``) when given. The file log is left out: it keeps one row
    per attempt, so it grows by design."""
    from cdp.core import catalog

    out = {}
    for name in catalog.TABLES:
        if not name.startswith(layer) or name == "bronze.file_log":
            continue
        if not catalog.exists(spark, name, str(warehouse)):
            continue
        df = catalog.read(spark, name, str(warehouse))
        df = df.select(*sorted(c for c in df.columns if c not in WALL_CLOCK))
        out[name] = sorted(json.dumps(r.asDict(recursive=True), default=str) for r in df.collect())
    return out


def land_unknown_channel_purchase(landing: Path, night: str) -> None:
    """A web extract for ``night`` with one purchase from a channel the contract does not
    know (kiosk; web|app are): nothing before the quality gate refuses it, so it reaches
    gold.purchases and the gate fails the night."""
    event = {
        "event_id": "kiosk-event-1",
        "event_ts": f"{night}T10:00:00Z",
        "channel": "kiosk",
        "event_type": "purchase",
        "anonymous_id": "kiosk-cookie-1",
        "sku": "SKU-100001",
        "order_id": "KIOSK-1",
        "revenue": "12.50",
        "currency": "EUR",
    }
    (landing / "web" / night).mkdir(parents=True)
    (landing / "web" / night / "kiosk_events.jsonl").write_text(json.dumps(event) + "\n")


def gold_state(spark, warehouse: Path) -> dict[str, tuple[int, list]]:
    """Each published gold table's Delta version and rows."""
    from delta.tables import DeltaTable

    from cdp.core import catalog

    def version(name: str) -> int:
        table = DeltaTable.forPath(spark, catalog.table_path(name, str(warehouse)))
        return table.history(1).first()["version"]

    return {
        name: (version(name), rows)
        for name, rows in table_snapshot(spark, warehouse, "gold.").items()
    }


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    """The session's SparkSession (Delta, registry catalog), stopped at the end."""
    from cdp.core.spark import get_spark

    base = tmp_path_factory.mktemp("spark")
    session = get_spark(make_settings(base / "landing", base / "warehouse"))
    yield session
    session.stop()


@pytest.fixture(autouse=True, scope="module")
def _release_cached_data():
    """Each test module leaves the shared session as it found it: whatever a module's builds
    cached is released, so a long run does not exhaust the driver's memory."""
    yield
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession()
    if session is not None:
        session.catalog.clearCache()


@pytest.fixture(scope="session")
def generated_landing(tmp_path_factory) -> Path:
    """A small synthetic landing zone: 150 persons over 3 days, with ground truth."""
    from cdp_dev.synthetic import generate

    out = tmp_path_factory.mktemp("generated") / "landing"
    generate(out, persons=150, days=DEMO_DAYS, seed=11, end_date=DEMO_END)
    return out


def batch_dates(days: int = DEMO_DAYS, end: dt.date = DEMO_END) -> list[str]:
    """The batch dates of the generated landing zone, oldest first."""
    return [(end - dt.timedelta(days=days - 1 - i)).isoformat() for i in range(days)]


@pytest.fixture(scope="session")
def built(spark, generated_landing, tmp_path_factory):
    """The generated landing built for all its dates: bronze, silver, identity and gold."""
    from cdp.app import pipeline

    settings = make_settings(generated_landing, tmp_path_factory.mktemp("built") / "warehouse")
    results = [pipeline.run_batch(spark, settings, day) for day in batch_dates()]
    return settings, results


# Worker scheduling for pytest-xdist (`make test` runs two workers, ``--dist loadfile``).
# A file's tests stay together on one worker (its module fixtures are built once and its tests
# run in order), except that every test reading the session's ``built`` warehouse goes to one
# worker, so the warehouse is built once rather than once per worker. The controller only sees
# node ids, so the workers name those tests through pytest's cache during collection, which
# ends before the controller schedules. (xdist's own ``xdist_group`` marks do not work with
# pytest 9.2: xdist renames ``item._nodeid``, which pytest no longer reads.)
_BUILT_TESTS = "cdp/tests_reading_built"


# Fixtures shared across tests that cost nothing worth waiting for: the Spark session itself.
_CHEAP_SHARED_FIXTURES = frozenset({"spark", "_release_cached_data"})


def _needs_shared_data(item) -> bool:
    """Whether a test needs a data set shared by several tests (a module or session fixture of
    this suite other than the Spark session): a generated landing zone, a built warehouse,
    trained models. pytest's own fixtures (tmp_path_factory, ...) do not count."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    for name in item.fixturenames:
        defs = info.name2fixturedefs.get(name)
        if not defs or name in _CHEAP_SHARED_FIXTURES:
            continue
        fixture = defs[-1]
        if fixture.scope != "function" and fixture.baseid:  # baseid "": a plugin's fixture
            return True
    return False


def pytest_collection_modifyitems(config, items):
    # `slow` = needs a shared data set, or is marked so by hand; `make test-fast` runs the
    # rest: unit tests on inline data.
    for item in items:
        if _needs_shared_data(item):
            item.add_marker(pytest.mark.slow)
    if hasattr(config, "workerinput") and hasattr(config, "cache"):
        built = sorted(i.nodeid for i in items if "built" in getattr(i, "fixturenames", ()))
        config.cache.set(_BUILT_TESTS, built)


def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadfile" or not hasattr(config, "cache"):
        return None  # xdist's own scheduling (no cache with ``-p no:cacheprovider``)
    from xdist.scheduler import LoadFileScheduling

    class BuiltOnOneWorker(LoadFileScheduling):
        _built: frozenset[str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self._built is None:
                self._built = frozenset(config.cache.get(_BUILT_TESTS, []))
            return "built" if nodeid in self._built else super()._split_scope(nodeid)

    return BuiltOnOneWorker(config, log)
