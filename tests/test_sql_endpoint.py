"""The governed SQL endpoint (cdp/app/sql_endpoint.py) through real clients: `cdp serve-sql`
started as a process on a copy of the built warehouse, queried with PyHive (DB-API) and the
pyspark wheel's own beeline (JDBC); and the same guard in `cdp sql`'s session."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import decimal
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from cdp.app import sql_endpoint
from cdp.core.errors import CdpError
from tests.conftest import cdp_env, free_ports
from tests.test_notebooks import readme_queries

REPO = Path(__file__).resolve().parents[1]
CDP = str(Path(sys.executable).with_name("cdp"))
PASSWORDS = {"alice": "alice-secret-1", "olga": "olga-secret-2"}


# --- users file (no Spark) -------------------------------------------------------------------


def test_users_are_stored_as_salted_hashes_readable_by_their_owner_only(tmp_path):
    users = str(tmp_path / "sql_users")
    sql_endpoint.add_user(users, "alice", "analyst", "correct horse")
    sql_endpoint.add_user(users, "olga", "officer", "battery staple")
    sql_endpoint.add_user(users, "alice", "officer", "new password")  # replaces, not adds
    text = Path(users).read_text()
    assert "correct horse" not in text and "new password" not in text
    assert sql_endpoint.read_users(users) == {"olga": "officer", "alice": "officer"}
    assert oct(Path(users).stat().st_mode & 0o777) == "0o600"
    scheme, rounds, salt, digest = text.splitlines()[-1].split(":", 2)[2].split("$")
    assert (scheme, int(rounds)) == ("pbkdf2_sha256", sql_endpoint.PBKDF2_ITERATIONS)
    assert sql_endpoint.hash_password("new password", bytes.fromhex(salt)).endswith(digest)
    assert sql_endpoint.remove_user(users, "alice") is True
    assert sql_endpoint.remove_user(users, "alice") is False
    assert sql_endpoint.read_users(users) == {"olga": "officer"}


@pytest.mark.parametrize(
    ("name", "role", "password", "message"),
    [
        ("bob", "admin", "long enough", "role 'admin'"),
        ("bob", "analyst", "short", "at least 8"),
        ("bo:b", "analyst", "long enough", "user name"),
    ],
)
def test_a_bad_user_is_refused_in_one_line(tmp_path, name, role, password, message):
    with pytest.raises(CdpError, match=message):
        sql_endpoint.add_user(str(tmp_path / "u"), name, role, password)


def test_the_endpoint_will_not_start_without_anyone_to_log_in(tmp_path):
    from cdp.core.settings import load_settings

    settings = load_settings(environ={"CDP_SQL_ENDPOINT__USERS_FILE": str(tmp_path / "none")})
    with pytest.raises(CdpError, match="no analyst may log in"):
        sql_endpoint.serve(settings)


# --- the endpoint, through real clients ------------------------------------------------------


class Endpoint:
    def __init__(self, role: str, warehouse: Path, users: Path, log: Path):
        self.role, (self.port,) = role, free_ports()
        env = cdp_env(
            SQL_ENDPOINT__USERS_FILE=str(users),
            SQL_ENDPOINT__REFRESH_SECONDS="2",
            SQL_ENDPOINT__DRIVER_MEMORY="1g",
        )
        self.log = log
        self.process = subprocess.Popen(
            [CDP, "serve-sql", "--role", role, "--port", str(self.port)]
            + ["--warehouse", str(warehouse)],
            env=env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "cdp sql endpoint" in self.log.read_text():
                return
            if self.process.poll() is not None:
                break
            time.sleep(1)
        raise AssertionError(f"{self.role} endpoint not ready:\n{self.log.read_text()[-3000:]}")

    def connect(self, user: str, password: str | None = None, **kwargs):
        from pyhive import hive

        return hive.connect(
            host="127.0.0.1",
            port=self.port,
            username=user,
            password=PASSWORDS[user] if password is None else password,
            auth="CUSTOM",
            **kwargs,
        )

    def query(self, sql: str, user: str = "alice") -> list[tuple]:
        with self.connect(user) as conn:
            cursor = conn.cursor()
            cursor.execute(sql)
            return cursor.fetchall()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)


@pytest.fixture(scope="module")
def endpoints(built, tmp_path_factory):
    """Both roles' endpoints on a copy of the built warehouse (the tests change the copy),
    with one analyst (alice) and one privacy officer (olga)."""
    settings, _ = built
    root = tmp_path_factory.mktemp("sql_endpoint")
    warehouse = root / "warehouse"
    shutil.copytree(settings.paths.warehouse, warehouse)
    # Published only after the endpoint started: the refresh must find it.
    shutil.move(warehouse / "gold" / "propensity_scores", root / "propensity_scores")
    users = root / "sql_users"
    sql_endpoint.add_user(str(users), "alice", "analyst", PASSWORDS["alice"])
    sql_endpoint.add_user(str(users), "olga", "officer", PASSWORDS["olga"])
    started = {
        role: Endpoint(role, warehouse, users, root / f"{role}.log")
        for role in ("analyst", "officer")
    }
    try:
        for endpoint in started.values():
            endpoint.wait_ready()
        yield started["analyst"], started["officer"], warehouse, root
    finally:
        for endpoint in started.values():
            endpoint.stop()


def _plain(value):
    """One value as both clients and Spark give it: numbers rounded, dates as text."""
    if isinstance(value, (float, decimal.Decimal)):
        return round(float(value), 6)
    if isinstance(value, (dt.date, dt.datetime)):
        return str(value)
    return value


def _plain_rows(rows) -> list[tuple]:
    return [tuple(_plain(v) for v in row) for row in rows]


def test_the_analysts_questions_answer_the_same_through_pyhive_and_beeline(endpoints, spark, built):
    analyst, _, _, _ = endpoints
    queries = readme_queries()
    assert len(queries) == 5
    # What `cdp sql` answers: the same SQL on the built warehouse's tables.
    expected = [_plain_rows(spark.sql(q).collect()) for q in queries]
    assert any(expected), "the built warehouse answers every question with nothing"
    for sql, want in zip(queries, expected, strict=True):
        assert _plain_rows(analyst.query(sql)) == want, sql

    for sql, want in zip(queries, expected, strict=True):
        beeline = subprocess.run(
            [
                str(sql_endpoint.beeline()),
                "-u",
                f"jdbc:hive2://127.0.0.1:{analyst.port}/default",
                "-n",
                "alice",
                "-p",
                PASSWORDS["alice"],
                "--silent=true",
                "--outputformat=csv2",
                "--showHeader=false",
                "-e",
                sql,
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert beeline.returncode == 0, beeline.stdout + beeline.stderr
        # Without a terminal beeline still prints its prompt before the result.
        out = re.sub(r"^\d+: jdbc:hive2://\S+> ", "", beeline.stdout, flags=re.M)
        lines = [line for line in out.splitlines() if line.strip()]
        assert len(lines) == len(want), beeline.stdout
        for line, row in zip(lines, want, strict=True):
            fields = line.split(",")
            assert len(fields) == len(row), line
            for text, value in zip(fields, row, strict=True):
                if value is None:
                    assert text in ("", "NULL"), line
                elif isinstance(value, float):
                    assert round(float(text), 6) == value, line
                else:
                    assert text == (str(value).lower() if isinstance(value, bool) else str(value))


def test_analysts_see_identifying_columns_masked_and_officers_in_clear(endpoints):
    analyst, officer, _, _ = endpoints
    sql = "select email from gold.profiles where email is not null order by email limit 5"
    masked = [r[0] for r in analyst.query(sql)]
    clear = [r[0] for r in officer.query(sql, user="olga")]
    assert masked and clear
    assert all(len(v) == 64 and "@" not in v for v in masked)
    assert all("@" in v for v in clear)
    # The privacy officer also reads the raw extracts the analysts' endpoint does not have.
    assert officer.query("select count(*) from bronze.crm", user="olga")[0][0] > 0


def _refusal(endpoint: Endpoint, sql: str, user: str = "alice", **connect) -> str:
    try:
        with endpoint.connect(user, **connect) as conn:
            cursor = conn.cursor()
            cursor.execute(sql)
            cursor.fetchall()
    except Exception as exc:  # PyHive's OperationalError, thrift's TTransportException
        status = getattr(exc.args[0], "status", None) if exc.args else None
        return getattr(status, "errorMessage", None) or str(exc)
    raise AssertionError(f"not refused: {sql}")


def bypasses(warehouse: Path) -> dict[str, tuple[str, str]]:
    """Each way around the masked views a client might try, with the refusal it must get:
    the guard's, or Spark's own where the session cannot even name the thing (SQL on files
    is off, raw tables are not registered, the analysts' names are views)."""
    refused = "statement refused"
    no_such = "cannot be found"
    return {
        "raw table": ("select * from bronze.crm", no_such),
        "source behind a view": (
            "select email from cdp_sources.gold__profiles",
            "is not published",
        ),
        "delta path": (f"select * from delta.`{warehouse}/gold/profiles`", no_such),
        "parquet path": (f"select * from parquet.`{warehouse}/silver/person_records`", no_such),
        "another layer's folder": (
            f"select * from delta.`{warehouse}/bronze/crm` limit 1",
            no_such,
        ),
        "path in a subquery": (
            "select count(*) from gold.profiles where profile_id in "
            f"(select profile_id from delta.`{warehouse}/gold/profiles`)",
            no_such,
        ),
        "create function": (
            "create function f as 'org.apache.hadoop.hive.ql.udf.UDFPI'",
            refused,
        ),
        "add jar": ("add jar /tmp/x.jar", refused),
        "reflect": ("select reflect('java.lang.System', 'getenv', 'HOME')", refused),
        "java_method in a filter": (
            "select count(*) from gold.rfm where java_method('java.lang.Math', 'abs', 1) = 1",
            refused,
        ),
        "insert": ("insert into gold.segments select * from gold.segments", "is a view"),
        "insert by path": (
            f"insert into delta.`{warehouse}/gold/segments` select * from gold.segments",
            no_such,
        ),
        "drop": ("drop table gold.rfm", refused),
        "create table": ("create table gold.copy as select * from gold.rfm", refused),
        "cache": ("cache table gold.rfm", refused),
        # A masked view's definition holds the masking key.
        "view definition": ("describe table extended gold.profiles", refused),
        "view definition, formatted": ("describe formatted gold.profiles", refused),
        "show create": ("show create table gold.profiles", refused),
        "show table extended": ("show table extended in gold like '*'", refused),
        "set path reads back on": ("set spark.sql.runSQLOnFiles=true", refused),
    }


def test_every_bypass_is_refused_by_the_endpoint(endpoints):
    analyst, _, warehouse, _ = endpoints
    for what, (sql, message) in bypasses(warehouse).items():
        assert message in _refusal(analyst, sql), what
    # Path reads switched back on as the client connects (no SET statement): refused.
    overlay = {"set:hiveconf:spark.sql.runSQLOnFiles": "true"}
    assert "was changed" in _refusal(analyst, "select 1", configuration=overlay)
    # Nor a catalog plugin of the client's choosing.
    plugin = {
        "set:hiveconf:spark.sql.catalog.files": "org.apache.spark.sql.delta.catalog.DeltaCatalog"
    }
    assert "spark.sql.catalog.files was changed" in _refusal(
        analyst, "select 1", configuration=plugin
    )
    # Nothing refused ran: the table the insert and the drop aimed at is as it was.
    assert analyst.query("select count(*) from gold.rfm")[0][0] > 0


def test_the_officers_endpoint_reads_every_table_and_writes_none(endpoints):
    _, officer, warehouse, _ = endpoints
    count = "select count(*) from gold.segments"
    before = officer.query(count, user="olga")[0][0]
    # Real Delta tables by name here, not views: the guard alone stops each write.
    for sql in [
        "delete from gold.segments",
        "insert into gold.segments select * from gold.segments",
        "update gold.segments set members = 0",
        "vacuum gold.segments",
        "drop table gold.segments",
        "optimize gold.segments",
    ]:
        assert "statement refused" in _refusal(officer, sql, user="olga"), sql
    assert officer.query(count, user="olga")[0][0] == before > 0
    assert "cannot be found" in _refusal(
        officer, f"select * from delta.`{warehouse}/gold/segments`", user="olga"
    )


def test_a_wrong_login_is_refused(endpoints):
    analyst, officer, _, _ = endpoints
    for endpoint, user, password in [
        (analyst, "alice", "wrong password"),
        (analyst, "mallory", "alice-secret-1"),
        (officer, "alice", None),  # an analyst is no privacy officer
    ]:
        pw = PASSWORDS.get(user, "") if password is None else password
        assert "Error validating the login" in _refusal(endpoint, "select 1", user, password=pw)


def test_eight_clients_at_once_get_the_same_answers(endpoints):
    analyst, _, _, _ = endpoints
    sql = (
        "select rfm_segment, count(*), round(sum(monetary), 2) from gold.rfm group by 1 order by 1"
    )
    want = analyst.query(sql)
    barrier = threading.Barrier(8)

    def client(_):
        with analyst.connect("alice") as conn:
            barrier.wait(60)
            cursor = conn.cursor()
            answers = []
            for _ in range(3):
                cursor.execute(sql)
                answers.append(cursor.fetchall())
            return answers

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(client, range(8)))
    assert [a for answers in results for a in answers] == [want] * 24


def test_a_publish_is_seen_without_a_restart(endpoints, spark):
    analyst, _, warehouse, root = endpoints
    # A table written for the first time after the endpoint started.
    assert "TABLE_OR_VIEW_NOT_FOUND" in _refusal(
        analyst, "select count(*) from gold.propensity_scores"
    )
    shutil.move(root / "propensity_scores", warehouse / "gold" / "propensity_scores")
    deadline = time.monotonic() + 60
    while True:
        try:
            count = analyst.query("select count(*) from gold.propensity_scores")[0][0]
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
    assert count > 0
    # New rows in a published table: the next query reads the table's latest version.
    before = analyst.query("select count(*) from gold.segments")[0][0]
    segments = f"delta.`{warehouse}/gold/segments`"
    first = spark.sql(f"SELECT min(segment) FROM {segments}").first()[0]
    spark.sql(f"DELETE FROM {segments} WHERE segment = '{first}'")
    assert analyst.query("select count(*) from gold.segments")[0][0] == before - 1


# --- `cdp sql`: the same guard ---------------------------------------------------------------


def test_cdp_sql_refuses_the_same_bypasses(built, tmp_path):
    """`cdp sql`'s own session (cli.sql_session and cli.run_sql, what the command runs) in one
    process for all the statements; and the command itself, once."""
    settings, _ = built
    warehouse = Path(settings.paths.warehouse)
    statements = {what: sql for what, (sql, _) in bypasses(warehouse).items()}
    statements["allowed"] = "select count(*) from gold.profiles"
    script = textwrap.dedent(
        f"""
        import json, sys
        from cdp.app import cli
        from cdp.core.errors import CdpError
        settings = cli.load_settings(None).with_paths(warehouse={str(warehouse)!r})
        spark = cli.sql_session(settings)
        out = {{}}
        for what, sql in json.loads(sys.argv[1]).items():
            try:
                out[what] = ["ok", [list(r) for r in cli.run_sql(spark, sql)[1]]]
            except CdpError as exc:
                out[what] = ["refused", str(exc)]
        print("RESULT " + json.dumps(out, default=str))
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", script, json.dumps(statements)],
        env=cdp_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.split("RESULT ", 1)[1])
    assert result.pop("allowed")[0] == "ok"
    for what, (_, message) in bypasses(warehouse).items():
        verdict, text = result[what]
        assert verdict == "refused" and message in text, (what, text)
        assert "\n" not in text

    cli = subprocess.run(
        [CDP, "sql", "select reflect('java.lang.System', 'getenv', 'HOME')"]
        + ["--warehouse", str(warehouse)],
        env=cdp_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert cli.returncode == 2
    assert cli.stderr.strip().splitlines()[-1].startswith("cdp: error: SQL failed: ")
    assert "statement refused: function reflect() is not allowed" in cli.stderr


def test_the_analysts_notebook_runs_through_the_endpoint(endpoints):
    import nbformat
    from nbclient import NotebookClient

    from tests.test_notebooks import NOTEBOOK, QUESTIONS

    analyst, _, _, _ = endpoints
    nb = nbformat.read(NOTEBOOK, as_version=4)
    env = {
        **cdp_env(SQL_ENDPOINT__PORT=str(analyst.port)),
        "CDP_SQL_USER": "alice",
        "CDP_SQL_PASSWORD": PASSWORDS["alice"],
    }
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(REPO)}}
    )
    client.execute(env=env)
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    printed = "".join(o.text for o in outputs if o.output_type == "stream" and o.name == "stdout")
    assert f"endpoint: jdbc:hive2://127.0.0.1:{analyst.port}/default as alice" in printed
    assert "warehouse:" not in printed  # no Spark of its own
    questions = [c for c in nb.cells if "question" in c.metadata.get("tags", [])]
    assert len(questions) == QUESTIONS
    for cell in questions:
        results = [o for o in cell.outputs if o.output_type == "execute_result"]
        assert results and "Empty DataFrame" not in results[0].data["text/plain"]
