"""The local service stack behind `make up` / `make down` (`cdp stack up|down|status`).

Every part is a real server, started from what the project installs and kept on loopback,
with all its state under one ignored folder (``.stack/`` by default, ``CDP_STACK_HOME``):

- **PostgreSQL** (Debian's ``postgresql`` package) as Airflow's metadata database: its own
  cluster in ``.stack/postgres``, on port 5433 so a system PostgreSQL on 5432 is left alone;
- **a Spark standalone cluster** from the pyspark wheel's own Spark: a master and two workers,
  each worker its own JVM with one core and its own memory;
- **a Spark Connect server** on that cluster (``sc://127.0.0.1:15002``): one long-lived
  driver whose work runs on the workers' executors, and of which every DAG task is a client
  (``CDP_SPARK__REMOTE``), so a task does not start a JVM, a driver and executors of its own;
- **Airflow 3**: the api-server (UI and REST API), the scheduler (LocalExecutor: each task its
  own process) and the dag-processor, reading this repository's ``dags/`` with the stack's
  ``CDP_*`` settings (Connect server, warehouse, landing).

``up`` is idempotent (a part that answers is left running) and waits until each part answers;
``down`` stops exactly the processes it started, by the process ids it wrote, and is safe to
call twice. Why a module and not a shell script: the same waits, ports and settings are
what the tests and ``cdp stack status`` read.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from cdp.core.errors import CdpError

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class StackSettings:
    """Where the stack keeps its state and which loopback ports it takes."""

    home: Path = field(
        default_factory=lambda: Path(os.environ.get("CDP_STACK_HOME", REPO / ".stack"))
    )
    # Ports below Linux's ephemeral range (32768-60999), which any client connection or
    # Spark's own listeners may take at any moment.
    postgres_port: int = 5433
    spark_port: int = 7077
    spark_ui_port: int = 8081
    worker_ui_ports: tuple[int, ...] = (8082, 8083)
    # Cores each worker offers: half of the cluster's go to the Connect server, the other half
    # to a task that runs a driver of its own (``Step.own_driver``). Offered, not reserved:
    # two workers of two cores share this machine's cores.
    worker_cores: int = 2
    worker_memory: str = "4g"
    airflow_port: int = 8080
    # The Spark Connect server every DAG task runs its Spark work on (loopback only). With
    # CDP_STACK_CONNECT=0 there is none and each task is a Spark driver of its own in client
    # mode against the master (about 20 s more per task: a JVM, a driver and executors).
    connect: bool = field(default_factory=lambda: os.environ.get("CDP_STACK_CONNECT", "1") != "0")
    connect_port: int = 15002
    # Whether the scheduler starts the nightly DAG on its cron schedule. Off by default: on a
    # developer's machine the stack runs what is triggered (`cdp stack trigger`), and unpausing
    # a DAG would otherwise start last night's run at once (catchup=False runs the latest
    # interval). CDP_STACK_SCHEDULE=1 turns it on, as on a server.
    schedule: bool = field(default_factory=lambda: os.environ.get("CDP_STACK_SCHEDULE") == "1")
    # More environment for the Airflow processes (CDP_* settings of the DAG's tasks).
    env: dict[str, str] = field(default_factory=dict)
    # Data the stack's DAG runs read and write unless a run's params say otherwise.
    landing: Path = REPO / "data" / "landing"
    warehouse: Path = REPO / "data" / "stack-warehouse"

    @property
    def spark_master(self) -> str:
        return f"spark://127.0.0.1:{self.spark_port}"

    @property
    def spark_remote(self) -> str:
        return f"sc://127.0.0.1:{self.connect_port}"

    @property
    def airflow_url(self) -> str:
        return f"http://127.0.0.1:{self.airflow_port}"

    @property
    def spark_ui_url(self) -> str:
        return f"http://127.0.0.1:{self.spark_ui_port}"


# --- processes ------------------------------------------------------------------------------


def _pid_file(s: StackSettings, name: str) -> Path:
    return s.home / "pids" / f"{name}.pid"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _running(s: StackSettings, name: str) -> int | None:
    """The process id ``up`` wrote for ``name`` when that process still runs."""
    path = _pid_file(s, name)
    if not path.is_file():
        return None
    pid = int(path.read_text().strip() or 0)
    return pid if pid and _alive(pid) else None


def _start(s: StackSettings, name: str, argv: list[str], env: dict[str, str]) -> int:
    """Start ``argv`` in a session of its own (so ``down`` stops its children too), output
    to ``.stack/logs/<name>.log``; writes its process id."""
    pid = _running(s, name)
    if pid:
        return pid
    logs = s.home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    _pid_file(s, name).parent.mkdir(parents=True, exist_ok=True)
    with open(logs / f"{name}.log", "ab") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO, start_new_session=True
        )
    _pid_file(s, name).write_text(str(proc.pid))
    return proc.pid


def _stop(s: StackSettings, name: str, timeout: float = 30) -> bool:
    """SIGTERM to the process group ``up`` started for ``name``, SIGKILL after ``timeout``."""
    path = _pid_file(s, name)
    pid = _running(s, name)
    if pid is None:
        path.unlink(missing_ok=True)
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        _reap(pid)
        time.sleep(0.2)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    _reap(pid)
    path.unlink(missing_ok=True)
    return True


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _wait(what: str, ready, timeout: float, log_file: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.5)
    tail = ""
    if log_file is not None and log_file.is_file():
        tail = "; last log lines:\n" + "\n".join(
            log_file.read_text(errors="replace").splitlines()[-15:]
        )
    raise CdpError(f"{what} did not answer within {timeout:.0f}s{tail}")


def _get_json(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return json.loads(response.read())
    except (OSError, ValueError):
        return None


# --- PostgreSQL -----------------------------------------------------------------------------


def _pg_bin() -> Path:
    """The newest installed PostgreSQL's server binaries (Debian keeps them off PATH)."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name)
    )
    if not found:
        raise CdpError(
            "PostgreSQL server not installed (/usr/lib/postgresql/*/bin/pg_ctl); "
            "run `make stack-deps` (Debian's postgresql package)"
        )
    return found[-1].parent


def _as_postgres(argv: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run it as the package's postgres user."""
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def _generated_secret(path: Path, length: int = 32) -> str:
    """A random secret kept in ``path`` (readable by its owner only), made on first use."""
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(length))
        path.chmod(0o600)
    return path.read_text().strip()


def _pg_password(s: StackSettings) -> str:
    return _generated_secret(s.home / "postgres" / "airflow.password", 18)


def airflow_db_url(s: StackSettings) -> str:
    return f"postgresql+psycopg2://airflow:{_pg_password(s)}@127.0.0.1:{s.postgres_port}/airflow"


def _run(
    what: str, argv: list[str], env: dict[str, str] | None = None, log_file: Path | None = None
) -> str:
    """Run a set-up command; its standard output, or a CdpError naming ``what`` with the
    command's last line of error output, and the last lines of ``log_file`` when the command
    only points there (pg_ctl's "Examine the log output.")."""
    done = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        last = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or ["no output"]
        tail = ""
        if log_file is not None and log_file.is_file():
            tail = "; last log lines:\n" + "\n".join(
                log_file.read_text(errors="replace").splitlines()[-8:]
            )
        raise CdpError(f"{what} failed (exit {done.returncode}): {last[0]}{tail}")
    return done.stdout


def port_taken(port: int) -> bool:
    """Whether something on this machine holds loopback ``port`` (a server, or a client
    connection that got it as its ephemeral port)."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _postgres_up(s: StackSettings) -> None:
    bin_dir, root = _pg_bin(), s.home / "postgres"
    data, run = root / "data", root / "run"
    if not _pg_ready(s) and port_taken(s.postgres_port):
        raise CdpError(
            f"PostgreSQL's port {s.postgres_port} is held by another program; "
            "choose another (StackSettings.postgres_port)"
        )
    password = _pg_password(s)
    run.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(run, "postgres")
    if not (data / "PG_VERSION").is_file():
        # Loopback only; local socket connections (the stack's own set-up) are trusted, TCP
        # ones (Airflow) need the generated password.
        as_root = " (run as the postgres user, who must be able to reach it)"
        _run(
            f"initdb of {data}" + (as_root if os.geteuid() == 0 else ""),
            _as_postgres(
                [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth-local=trust",
                 "--auth-host=scram-sha-256", "-E", "UTF8"]
            ),
        )  # fmt: skip
    if not _pg_ready(s):
        _run(
            f"starting PostgreSQL on port {s.postgres_port} (log: {root / 'postgres.log'})",
            _as_postgres(
                [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "postgres.log"), "-w",
                 "-o", f"-p {s.postgres_port} -k {run} -c listen_addresses=127.0.0.1", "start"]
            ),
            log_file=root / "postgres.log",
        )  # fmt: skip
    _wait("PostgreSQL", lambda: _pg_ready(s), 60, root / "postgres.log")
    psql = _as_postgres(
        [str(bin_dir / "psql"), "-h", str(run), "-p", str(s.postgres_port), "-U", "postgres",
         "-v", "ON_ERROR_STOP=1", "-qAt"]
    )  # fmt: skip
    role = "select 1 from pg_roles where rolname = 'airflow'"
    if not _run("psql", [*psql, "-c", role]).strip():
        _run(
            "creating the airflow role",
            [*psql, "-c", f"create role airflow login password '{password}'"],
        )
        _run(
            "creating the airflow database", [*psql, "-c", "create database airflow owner airflow"]
        )


def _pg_ready(s: StackSettings) -> bool:
    ready = _pg_bin() / "pg_isready"
    return (
        subprocess.run(
            [str(ready), "-h", "127.0.0.1", "-p", str(s.postgres_port), "-q"], check=False
        ).returncode
        == 0
    )


def _postgres_down(s: StackSettings) -> bool:
    data = s.home / "postgres" / "data"
    if not (data / "postmaster.pid").is_file():
        return False
    subprocess.run(
        _as_postgres([str(_pg_bin() / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
        check=False, capture_output=True,
    )  # fmt: skip
    return True


# --- Spark standalone -----------------------------------------------------------------------


def _spark_env(s: StackSettings) -> dict[str, str]:
    from cdp.core.spark import spark_home

    env = dict(os.environ)
    env.update(
        SPARK_HOME=str(spark_home()),
        SPARK_LOG_DIR=str(s.home / "logs"),
        SPARK_WORKER_DIR=str(s.home / "spark" / "work"),
        # Executors start Python workers with the same interpreter as the drivers (one machine).
        PYSPARK_PYTHON=sys.executable,
    )
    return env


def spark_status(s: StackSettings) -> dict | None:
    """The master's JSON status (``aliveworkers``, ``workers``), None when it does not answer."""
    return _get_json(f"{s.spark_ui_url}/json/")


def _spark_up(s: StackSettings) -> None:
    from cdp.core.spark import spark_home

    spark_class = str(spark_home() / "bin" / "spark-class")
    env = _spark_env(s)
    _start(
        s, "spark-master",
        [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
         "--port", str(s.spark_port), "--webui-port", str(s.spark_ui_port)],
        env,
    )  # fmt: skip
    _wait(
        "Spark master",
        lambda: spark_status(s) is not None,
        90,
        s.home / "logs" / "spark-master.log",
    )
    for i, ui_port in enumerate(s.worker_ui_ports, start=1):
        work = s.home / "spark" / f"worker{i}"
        work.mkdir(parents=True, exist_ok=True)
        _start(
            s, f"spark-worker-{i}",
            [spark_class, "org.apache.spark.deploy.worker.Worker", s.spark_master,
             "--host", "127.0.0.1", "--cores", str(s.worker_cores), "--memory", s.worker_memory,
             "--webui-port", str(ui_port), "--work-dir", str(work)],
            env,
        )  # fmt: skip
    workers = len(s.worker_ui_ports)
    _wait(
        f"{workers} Spark workers",
        lambda: (spark_status(s) or {}).get("aliveworkers", 0) >= workers,
        90,
        s.home / "logs" / "spark-worker-1.log",
    )


def answers(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server listens on ``host:port``."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _connect_up(s: StackSettings) -> None:
    """The Spark Connect server: one long-lived application on the standalone master whose
    driver keeps its JVM, its executors and its compiled code between tasks. Each DAG task
    is a thin client of it (``CDP_SPARK__REMOTE``): a task no longer pays for a driver and
    executors of its own (about 20 s each, most of a small night)."""
    from cdp.core.settings import load_settings
    from cdp.core.spark import connect_server_command

    settings = load_settings(environ=_task_env(s))
    settings.spark.remote = ""
    settings.spark.app_name = "cdp-connect"
    # Not the whole cluster: a task with a driver of its own must get executors beside it.
    cores = max(1, len(s.worker_ui_ports) * s.worker_cores // 2)
    settings.spark.conf.setdefault("spark.cores.max", str(cores))
    _start(s, "spark-connect", connect_server_command(settings, s.connect_port), _spark_env(s))
    _wait(
        "Spark Connect server",
        lambda: answers(s.connect_port),
        120,
        s.home / "logs" / "spark-connect.log",
    )


# --- Airflow --------------------------------------------------------------------------------


def _task_env(s: StackSettings) -> dict[str, str]:
    """The CDP settings of the stack's DAG tasks, as environment variables: the Connect
    server to run on, the master it runs on, the data, and the stack's own extras."""
    return {
        "CDP_SPARK__MASTER": s.spark_master,
        "CDP_SPARK__REMOTE": s.spark_remote if s.connect else "",
        "CDP_SPARK__UI_ENABLED": "true",
        "CDP_PATHS__LANDING": str(s.landing),
        "CDP_PATHS__WAREHOUSE": str(s.warehouse),
        **{k: v for k, v in s.env.items() if k.startswith("CDP_")},
    }


def airflow_env(s: StackSettings) -> dict[str, str]:
    """The environment of every Airflow process: its home and database, the executor, this
    repository's DAGs, and the CDP settings the DAG's tasks read (Spark master, data)."""
    home = s.home / "airflow"
    env = dict(os.environ)
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=airflow_db_url(s),
        AIRFLOW__CORE__EXECUTOR="LocalExecutor",
        AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(home / "passwords.json"),
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"{s.airflow_url}/execution/",
        AIRFLOW__API__PORT=str(s.airflow_port),
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__API_AUTH__JWT_SECRET=_secret(s, "jwt"),
        AIRFLOW__API__SECRET_KEY=_secret(s, "api"),
        AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK="True",
        AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE=str(s.schedule),
        PYSPARK_PYTHON=sys.executable,
    )
    env.update(_task_env(s))
    env.update(s.env)
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    return env


def _secret(s: StackSettings, name: str) -> str:
    return _generated_secret(s.home / "airflow" / f".{name}_secret")


def airflow_password(s: StackSettings) -> str | None:
    """The UI password Airflow generated for ``admin`` (simple auth manager)."""
    path = s.home / "airflow" / "passwords.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text()).get("admin")


def _airflow_healthy(s: StackSettings) -> bool:
    health = _get_json(f"{s.airflow_url}/api/v2/monitor/health")
    return bool(health) and health.get("metadatabase", {}).get("status") == "healthy"


def _airflow_up(s: StackSettings) -> None:
    env = airflow_env(s)
    airflow = str(Path(sys.executable).parent / "airflow")
    _run("airflow db migrate", [airflow, "db", "migrate"], env)
    _start(s, "airflow-api-server", [airflow, "api-server", "--port", str(s.airflow_port)], env)
    _start(s, "airflow-scheduler", [airflow, "scheduler"], env)
    _start(s, "airflow-dag-processor", [airflow, "dag-processor"], env)
    _wait(
        "Airflow api-server",
        lambda: _airflow_healthy(s),
        180,
        s.home / "logs" / "airflow-api-server.log",
    )


# --- the REST API ---------------------------------------------------------------------------


# How long a call waits for an api-server that does not answer its health check. Under load
# (a night's Spark work on the same two cores) one check can miss its 2 s; a CI run lost a
# whole night's test to one such miss while polling a run that went on to succeed.
API_GRACE_S = 120.0


def _airflow_answers(s: StackSettings, within: float) -> bool:
    deadline = time.monotonic() + within
    while not _airflow_healthy(s):
        # A stopped api-server is not waited for: the error comes at once.
        if _running(s, "airflow-api-server") is None or time.monotonic() > deadline:
            return False
        time.sleep(2)
    return True


def _api(s: StackSettings, method: str, path: str, body: dict | None = None) -> dict:
    """One call of Airflow's REST API (v2) as ``admin``, with a fresh JWT; a busy api-server
    is given ``API_GRACE_S`` to answer, a stopped one (or one never started) none."""
    password = airflow_password(s)
    if password is None or not _airflow_answers(s, API_GRACE_S):
        raise CdpError(f"Airflow does not answer at {s.airflow_url}; run `make up` first")

    def call(method: str, path: str, body: dict | None, token: str | None) -> dict:
        request = urllib.request.Request(
            s.airflow_url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"}
            | ({"Authorization": f"Bearer {token}"} if token else {}),
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:300]
            raise CdpError(f"Airflow API {method} {path}: HTTP {exc.code}: {detail}") from exc
        except OSError as exc:  # a timeout or a refused connection: one line, not a traceback
            raise CdpError(f"Airflow API {method} {path}: {exc}") from exc

    token = call("POST", "/auth/token", {"username": "admin", "password": password}, None)
    return call(method, path, body, token["access_token"])


def trigger(
    s: StackSettings,
    dag_id: str,
    conf: dict[str, str],
    wait: bool = True,
    timeout: float = 3600,
) -> dict:
    """Trigger ``dag_id`` with ``conf`` (its params: batch_date, landing, warehouse, ...)
    through the REST API, the DAG unpaused first; with ``wait``, poll until the run ends.
    Returns the run (``dag_run_id``, ``state``) and, when waited for, each task's state."""
    _api(s, "PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
    run = _api(s, "POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf})
    run_id = run["dag_run_id"]
    if not wait:
        return run
    deadline = time.monotonic() + timeout
    quoted = urllib.parse.quote(run_id, safe="")
    while run["state"] not in ("success", "failed"):
        if time.monotonic() > deadline:
            raise CdpError(f"{dag_id} run {run_id} still {run['state']} after {timeout:.0f}s")
        time.sleep(5)
        run = _api(s, "GET", f"/api/v2/dags/{dag_id}/dagRuns/{quoted}")
    tasks = _api(s, "GET", f"/api/v2/dags/{dag_id}/dagRuns/{quoted}/taskInstances")
    run["tasks"] = {t["task_id"]: t["state"] for t in tasks["task_instances"]}
    # A failed run says why: the end of each failed task's log, as the UI shows it.
    run["failed_logs"] = {
        t["task_id"]: task_log_tail(s, dag_id, run_id, t["task_id"], t.get("try_number") or 1)
        for t in tasks["task_instances"]
        if t["state"] == "failed"
    }
    return run


def task_log_tail(
    s: StackSettings, dag_id: str, run_id: str, task_id: str, try_number: int, lines: int = 40
) -> str:
    """The last ``lines`` lines of one task try's log, read through the REST API (so also
    from a stack whose logs are not on this machine); a log that cannot be read says so."""
    quoted = urllib.parse.quote(run_id, safe="")
    path = (
        f"/api/v2/dags/{dag_id}/dagRuns/{quoted}/taskInstances/{task_id}/logs/{try_number}"
        "?full_content=true"
    )
    try:
        content = _api(s, "GET", path).get("content") or []
    except CdpError as exc:
        return f"(log not read: {exc})"
    text = []
    for entry in content:  # Airflow 3: structured messages (dicts), older: plain strings
        if isinstance(entry, dict):
            event = str(entry.get("event", ""))
            level = entry.get("level")
            text.append(f"{level}: {event}" if level else event)
        else:
            text.append(str(entry))
    return "\n".join("\n".join(text).splitlines()[-lines:])


def xcom(s: StackSettings, dag_id: str, run_id: str, task_id: str, key: str = "return_value"):
    """What one task of a run left in XCom under ``key`` (its return value by default)."""
    quoted = urllib.parse.quote(run_id, safe="")
    entry = _api(
        s,
        "GET",
        f"/api/v2/dags/{dag_id}/dagRuns/{quoted}/taskInstances/{task_id}/xcomEntries/{key}",
    )
    value = entry.get("value")
    # Stored serialised; the API hands back the stored text unless asked to deserialise.
    return json.loads(value) if isinstance(value, str) else value


def latest_run(s: StackSettings, dag_id: str, state: str = "success") -> dict | None:
    """The newest run of ``dag_id`` in ``state`` (``dag_run_id``, ``conf``, ...), or None."""
    runs = _api(
        s, "GET", f"/api/v2/dags/{dag_id}/dagRuns?state={state}&order_by=-run_after&limit=1"
    )
    return runs["dag_runs"][0] if runs["dag_runs"] else None


# --- the stack ------------------------------------------------------------------------------

PROCESSES = (
    "airflow-dag-processor",
    "airflow-scheduler",
    "airflow-api-server",
    "spark-connect",
    "spark-worker-2",
    "spark-worker-1",
    "spark-master",
)


def up(s: StackSettings | None = None) -> dict[str, str]:
    """Start (or keep) every part and wait until each answers; returns what to open."""
    s = s or StackSettings()
    s.home.mkdir(parents=True, exist_ok=True)
    _postgres_up(s)
    _spark_up(s)
    if s.connect:
        _connect_up(s)
    _airflow_up(s)
    return status(s)


def down(s: StackSettings | None = None) -> list[str]:
    """Stop what ``up`` started, Airflow first (its running tasks are Spark Connect clients),
    then the Connect server and Spark, then PostgreSQL. Returns the parts that were running."""
    s = s or StackSettings()
    stopped = [name for name in PROCESSES if _stop(s, name)]
    if _postgres_down(s):
        stopped.append("postgres")
    return stopped


def status(s: StackSettings | None = None) -> dict[str, str]:
    """Each part and whether it answers, with the URLs and the Airflow login."""
    s = s or StackSettings()
    spark = spark_status(s)
    return {
        "postgres": f"127.0.0.1:{s.postgres_port} " + ("up" if _pg_ready(s) else "down"),
        "spark master": f"{s.spark_master} "
        + (f"up, {spark.get('aliveworkers', 0)} alive workers" if spark else "down"),
        "spark master UI": s.spark_ui_url,
        "spark connect": (f"{s.spark_remote} " + ("up" if answers(s.connect_port) else "down"))
        if s.connect
        else "off (each task a driver of its own)",
        "airflow UI": s.airflow_url + (" up" if _airflow_healthy(s) else " down"),
        "airflow login": f"admin / {airflow_password(s) or '(not generated yet)'}",
    }
