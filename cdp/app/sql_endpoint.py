"""The governed SQL endpoint: Spark's Thrift server (HiveServer2 protocol) for JDBC/ODBC tools
(DBeaver, Superset, Tableau, Power BI) and DB-API clients (PyHive), and the guard it shares
with ``cdp sql``.

Two roles, each its own endpoint:

- **analyst** (``cdp serve-sql``, port ``sql_endpoint.port``): the silver, gold and audit
  tables by name as masked views (jobs/governance/masking.py), the raw tables not there;
- **officer** (``cdp serve-sql --role officer``, ``sql_endpoint.officer_port``): privacy
  officers answering GDPR requests, every table in clear, raw ones included.

Both are read-only and read no file by path. That is enforced in the JVM, not by convention:
``cdp.sql.GuardExtension`` (infra/sql_endpoint/java, built by `make jars`) is a check rule on
every analyzed statement of a client session, and refuses writes and DDL, CREATE FUNCTION,
ADD JAR, SET, reflect(), reads by path and reads of the views' hidden source tables, and any
session whose spark.sql.runSQLOnFiles was set back to true when it connected. Logins are
checked by ``cdp.sql.FileAuthProvider`` against ``sql_endpoint.users_file`` (PBKDF2 hashes,
`cdp sql-user add`). Each query reads the tables' latest Delta version, so a night's publish
is seen without a restart; a table published for the first time, or with new columns, is
picked up within ``sql_endpoint.refresh_seconds``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import secrets
import signal
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from cdp.app.stack import answers
from cdp.core import catalog
from cdp.core.errors import CdpError
from cdp.core.spark import jar_paths

if TYPE_CHECKING:
    from collections.abc import Callable

    from pyspark.sql import SparkSession

    from cdp.core.settings import Settings

log = logging.getLogger(__name__)

ROLES = ("analyst", "officer")
GUARD_JAR = "cdp-sql-guard.jar"
GUARD_CLASS = "cdp.sql.GuardExtension"
AUTH_CLASS = "cdp.sql.FileAuthProvider"
DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
# Settings a guarded session starts with (and must keep: the guard refuses a session whose
# value differs, GuardExtension.freeze): turned back on, a path read would reach the files.
PINNED = {"spark.sql.runSQLOnFiles": "false"}
# PBKDF2-HMAC-SHA256 rounds for stored passwords (OWASP's 2023 figure is 600,000; a login
# costs about a second of one core in the JVM at that, too slow for 8 clients at once).
PBKDF2_ITERATIONS = 200_000
# How long the Thrift server may take to listen once Spark is up.
READY_SECONDS = 120


def guard_jar(settings: Settings) -> str:
    """The built guard and login jar, or a one-line error naming how to build it."""
    for path in jar_paths(settings.paths.jars_dir):
        if Path(path).name == GUARD_JAR:
            return path
    raise CdpError(
        f"{GUARD_JAR} not found in {settings.paths.jars_dir}: run `make jars` "
        "(it builds infra/sql_endpoint/java with the JDK's javac)"
    )


def _with_spark(settings: Settings, **changes) -> Settings:
    return dataclasses.replace(settings, spark=dataclasses.replace(settings.spark, **changes))


def governed_settings(settings: Settings) -> Settings:
    """``settings`` for a guarded session: its own driver (a Connect server's extensions were
    fixed when it started), the guard among the session extensions, no SQL on files."""
    guard_jar(settings)
    conf = {
        **settings.spark.conf,
        "spark.sql.extensions": f"{DELTA_EXTENSION},{GUARD_CLASS}",
        **PINNED,
    }
    return _with_spark(settings, remote="", conf=conf)


def arm(spark: SparkSession, hidden: tuple[str, ...] = (), exempt: bool = False) -> None:
    """Switch the guard on for every session of this JVM (``exempt``: but this one, which
    keeps publishing the views), with ``hidden`` databases readable only through views.

    Every checked session must keep the Spark settings a session has now: this one's own
    (`cdp sql` queries in it), or a new session's, which is what each client of the
    endpoint starts from."""
    # Fail closed: a session built before this process asked for the guard (getOrCreate
    # returns it, with its static settings) would load the class but never run the rule.
    if GUARD_CLASS not in spark.conf.get("spark.sql.extensions", ""):
        raise CdpError(
            "this Spark session was started without the SQL guard (spark.sql.extensions); "
            "start the governed session in a process of its own"
        )
    guard = spark._jvm.cdp.sql.GuardExtension
    session = spark._jsparkSession
    for key, value in PINNED.items():
        if spark.conf.get(key) != value:
            raise CdpError(f"the guarded session must start with {key}={value}")
    for database in hidden:
        guard.hide(database)
    if exempt:
        guard.exempt(session)
        guard.freeze(session.newSession())
    else:
        guard.freeze(session)
    guard.arm()


def publish(spark: SparkSession, settings: Settings, role: str, published: dict) -> dict:
    """Make the warehouse's tables queryable by name for ``role``; with ``published`` (the
    previous call's answer) only what changed since. Returns the new state."""
    from jobs.governance.masking import mask_session

    if role == "analyst":
        return mask_session(spark, settings, published or None)
    names = catalog.register_all(spark, settings.paths.warehouse)
    return {name: "" for name in names}


def hidden_databases(role: str) -> tuple[str, ...]:
    from jobs.governance.masking import SOURCES_DB

    return (SOURCES_DB,) if role == "analyst" else ()


# --- users -----------------------------------------------------------------------------------


def hash_password(password: str, salt: bytes | None = None) -> str:
    """The stored form FileAuthProvider checks: pbkdf2_sha256$rounds$salt$hash (hex)."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, PBKDF2_ITERATIONS)
    return f"pbkdf2_sha256${PBKDF2_ITERATIONS}${salt.hex()}${digest.hex()}"


def read_users(users_file: str) -> dict[str, str]:
    """{name: role} of the users file (empty when there is none)."""
    path = Path(users_file)
    if not path.exists():
        return {}
    users = {}
    for line in path.read_text().splitlines():
        parts = line.strip().split(":", 2)
        if len(parts) == 3 and not line.startswith("#"):
            users[parts[0]] = parts[1]
    return users


def _check_name(name: str) -> None:
    if not name or any(c in name for c in ":\n\r#") or name != name.strip():
        raise CdpError(f"SQL user name {name!r}: use letters, digits, '.', '_' or '-'")


def add_user(users_file: str, name: str, role: str, password: str) -> None:
    """Add ``name`` (or change its role and password) in ``users_file``, readable only by
    its owner."""
    _check_name(name)
    if role not in ROLES:
        raise CdpError(f"SQL user role {role!r}: expected one of {', '.join(ROLES)}")
    if len(password) < 8:
        raise CdpError(f"password for SQL user {name!r}: at least 8 characters")
    path = Path(users_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    kept = [
        line
        for line in (path.read_text().splitlines() if path.exists() else [])
        if line.split(":", 1)[0] != name
    ]
    _write_private(path, [*kept, f"{name}:{role}:{hash_password(password)}"])


def _write_private(path: Path, lines: list[str]) -> None:
    """Replace ``path`` by ``lines`` at once, in a file only its owner can ever read."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("".join(f"{line}\n" for line in lines))
    os.replace(tmp, path)


def remove_user(users_file: str, name: str) -> bool:
    path = Path(users_file)
    if name not in read_users(users_file):
        return False
    lines = [line for line in path.read_text().splitlines() if line.split(":", 1)[0] != name]
    _write_private(path, lines)
    return True


def beeline() -> Path:
    """The pyspark wheel's own JDBC command-line client."""
    from cdp.core.spark import spark_home

    return spark_home() / "bin" / "beeline"


# --- the server ------------------------------------------------------------------------------


def admitted_roles(role: str) -> tuple[str, ...]:
    """Who may log in to ``role``'s endpoint: officers also see what analysts see."""
    return ("analyst", "officer") if role == "analyst" else ("officer",)


def server_settings(settings: Settings, role: str, port: int) -> Settings:
    """The endpoint's Spark settings: the guard's, plus the Thrift server's. Hive settings go
    in as SparkConf entries (Spark copies them into the server's HiveConf); the login class
    and the users file must be JVM system properties, since Hive's CUSTOM login reads a
    fresh HiveConf. The jars go on the driver's own class path too: the Thrift server opens
    each client's session with the JVM's class loader, which does not see spark.jars."""
    users_file = str(Path(settings.sql_endpoint.users_file).resolve())
    guarded = governed_settings(settings)
    java_options = " ".join(
        [
            "-Dhive.server2.authentication=CUSTOM",
            f"-Dhive.server2.custom.authentication.class={AUTH_CLASS}",
            f"-Dcdp.sql.users_file={users_file}",
            f"-Dcdp.sql.roles={','.join(admitted_roles(role))}",
        ]
    )
    conf = {
        **guarded.spark.conf,
        "spark.driver.extraClassPath": ":".join(jar_paths(settings.paths.jars_dir)),
        "spark.driver.extraJavaOptions": java_options,
        "hive.server2.authentication": "CUSTOM",
        "hive.server2.thrift.bind.host": settings.sql_endpoint.host,
        "hive.server2.thrift.port": str(port),
        "hive.server2.transport.mode": "binary",
        "hive.server2.thrift.min.worker.threads": "2",
        "hive.server2.thrift.max.worker.threads": "32",
        # Each client its own session (its own settings, which the guard checks).
        "spark.sql.hive.thriftServer.singleSession": "false",
    }
    return _with_spark(
        guarded,
        conf=conf,
        app_name=f"cdp-sql-{role}",
        driver_memory=settings.sql_endpoint.driver_memory,
    )


def serve(
    settings: Settings,
    role: str = "analyst",
    port: int | None = None,
    on_ready: Callable[[str], None] = print,
    stop: threading.Event | None = None,
) -> None:
    """Run ``role``'s endpoint until SIGTERM, SIGINT or ``stop``."""
    from cdp.core.spark import get_spark

    if role not in ROLES:
        raise CdpError(f"SQL endpoint role {role!r}: expected one of {', '.join(ROLES)}")
    cfg = settings.sql_endpoint
    port = port or (cfg.port if role == "analyst" else cfg.officer_port)
    if not any(r in admitted_roles(role) for r in read_users(cfg.users_file).values()):
        raise CdpError(
            f"no {role} may log in: {cfg.users_file} has none; add one with "
            f"`cdp sql-user add NAME --role {role}`"
        )
    if answers(port, cfg.host):
        raise CdpError(f"port {cfg.host}:{port} is taken; stop what runs there or pass --port")
    spark = get_spark(server_settings(settings, role, port))
    published = publish(spark, settings, role, {})
    arm(spark, hidden=hidden_databases(role), exempt=True)
    server_class = spark._jvm.org.apache.spark.sql.hive.thriftserver.HiveThriftServer2
    server = server_class.startWithSparkSession(spark._jsparkSession, False)
    stop = stop or threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        if threading.current_thread() is threading.main_thread():
            signal.signal(signum, lambda *_: stop.set())
    deadline = time.monotonic() + READY_SECONDS
    while not answers(port, cfg.host) and not stop.is_set():
        if time.monotonic() > deadline:
            server.stop()
            spark.stop()
            raise CdpError(
                f"the SQL endpoint did not answer on {cfg.host}:{port} within {READY_SECONDS} s "
                "(another process may have taken the port)"
            )
        time.sleep(0.5)
    on_ready(
        f"cdp sql endpoint ({role}): jdbc:hive2://{cfg.host}:{port}/default, "
        f"{len(published)} tables; users from {cfg.users_file}"
    )
    try:
        while not stop.wait(cfg.refresh_seconds):
            try:
                published = publish(spark, settings, role, published)
            except Exception as exc:  # a table mid-write: the next round publishes it
                log.warning("SQL endpoint refresh failed, retrying: %s", exc)
    finally:
        server.stop()
        spark.stop()
