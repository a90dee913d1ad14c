"""The one Spark session builder used by jobs, DAG tasks, the CLI and the tests."""

from __future__ import annotations

import glob
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from cdp.core import catalog, storage
from cdp.core.errors import CdpError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from cdp.core.settings import Settings

log = logging.getLogger(__name__)

GRAPHFRAMES_JAR_HINT = "io.graphframes:graphframes-spark4_2.13"


def jar_paths(jars_dir: str) -> list[str]:
    """The cached JVM jars (see infra/fetch_jars.sh)."""
    return sorted(glob.glob(os.path.join(jars_dir, "*.jar")))


# What this process already told the user once (every task of a DAG run asks for a session).
_told = {"graphframes": False}


def has_graphframes_jar(jars_dir: str) -> bool:
    """Whether the GraphFrames JVM jar was fetched into the jar cache."""
    return any("graphframes" in Path(p).name for p in jar_paths(jars_dir))


def _splink_jar() -> list[str]:
    """splink's string-similarity UDF jar, shipped inside the splink wheel (no download)."""
    try:
        from splink.backends.spark import similarity_jar_location

        return [similarity_jar_location()]
    except Exception:  # splink missing or moved the jar: probabilistic matching reports it
        return []


def _register_similarity_functions(spark: SparkSession) -> None:
    """jaro_winkler, jaccard, ... from splink's jar as SQL functions, for the identity job's
    guards and for analysts' SQL; splink itself registers them again when it starts."""
    try:
        from splink.internals.spark.jar_location import get_scala_udfs

        for udf in get_scala_udfs():
            spark.udf.registerJavaFunction(*udf)
    except Exception as exc:  # the jar missing is reported, not fatal: matching reports it too
        log.warning("string-similarity SQL functions not registered: %s", exc)


def build_conf(settings: Settings, need_jars: bool = True) -> dict[str, str]:
    """Spark configuration for ``settings``; separate from the builder so it can be inspected."""
    jars = jar_paths(settings.paths.jars_dir) + _splink_jar()
    if need_jars and not any("delta-spark" in Path(j).name for j in jars):
        raise CdpError(
            f"Delta jars not found in {settings.paths.jars_dir}; run `make jars` "
            "(or set paths.jars_dir)"
        )
    warehouse = settings.paths.warehouse
    conf = {
        "spark.jars": ",".join(jars),
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.warehouse.dir": f"{warehouse.rstrip('/')}/_spark_warehouse",
        "spark.sql.shuffle.partitions": str(settings.spark.shuffle_partitions),
        "spark.driver.memory": settings.spark.driver_memory,
        "spark.ui.enabled": str(settings.spark.ui_enabled).lower(),
        # Progress bars garble logs and the CLI's own output; cdp reports progress per step.
        "spark.ui.showConsoleProgress": "false",
        # Business dates and ISO timestamps are compared in UTC everywhere, whatever the host.
        "spark.sql.session.timeZone": "UTC",
        # Delta computes a table snapshot with 50 tasks by default: far too many on 2 cores.
        "spark.databricks.delta.snapshotPartitions": str(max(2, settings.spark.shuffle_partitions)),
        # Bronze files differ in their extra columns; appends must be able to add them.
        "spark.databricks.delta.schema.autoMerge.enabled": "false",
        "spark.sql.ansi.enabled": "false",
    }
    if settings.spark.master.startswith("local"):
        # Local Python workers must run this interpreter (the venv with pandas, phonenumbers);
        # on a cluster the executors' Python is the deployment's business.
        conf["spark.pyspark.python"] = sys.executable
        conf["spark.pyspark.driver.python"] = sys.executable
    if settings.spark.catalog == "registry":
        conf["spark.sql.catalogImplementation"] = "in-memory"
    elif settings.spark.catalog == "hive":
        conf["spark.sql.catalogImplementation"] = "hive"
    else:
        raise CdpError(
            f"setting 'spark.catalog': expected registry or hive, got {settings.spark.catalog!r}"
        )
    conf.update(settings.spark.conf)
    return conf


def get_spark(settings: Settings) -> SparkSession:
    """Build (or reuse) the session: Delta, GraphFrames jar, checkpoints, tables by name."""
    from pyspark.sql import SparkSession

    warehouse = settings.paths.warehouse
    local = storage.local_path(warehouse)
    if local is not None:
        local.mkdir(parents=True, exist_ok=True)
    if settings.spark.master.startswith("local"):
        # PySpark takes the worker interpreter from this variable, not from spark.pyspark.python.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if settings.spark.remote:
        return _connect(settings)
    builder = SparkSession.builder.master(settings.spark.master).appName(settings.spark.app_name)
    for key, value in build_conf(settings).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(settings.spark.log_level)
    # GraphFrames' connected components and long lineages need a reliable checkpoint folder.
    # Spark makes a new sub-folder on every call, so only when the warehouse changes.
    root = checkpoint_root(warehouse)
    current = spark.sparkContext.getCheckpointDir()
    if current is None or not current.startswith(_qualified(root) + "/"):
        spark.sparkContext.setCheckpointDir(root)
    if settings.spark.catalog == "registry":
        catalog.register_all(spark, warehouse)
    _register_similarity_functions(spark)
    if not has_graphframes_jar(settings.paths.jars_dir) and not _told["graphframes"]:
        _told["graphframes"] = True
        log.info("GraphFrames jar (%s) not in %s", GRAPHFRAMES_JAR_HINT, settings.paths.jars_dir)
    return spark


# Settings a Connect client may change for its own session; the rest of ``build_conf`` is
# the server's (jars, memory, extensions), fixed when it started.
SESSION_CONF = (
    "spark.sql.shuffle.partitions",
    "spark.sql.session.timeZone",
    "spark.sql.ansi.enabled",
)


def _connect(settings: Settings) -> SparkSession:
    """A Spark Connect session on ``settings.spark.remote``, with this run's session settings
    and tables by name."""
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.remote(settings.spark.remote).getOrCreate()
    conf = build_conf(settings, need_jars=False)
    for key in (*SESSION_CONF, *settings.spark.conf):
        # An operator's extra conf may hold the server's own (executor memory, s3a keys):
        # those were given when the server started, and a client setting them is refused.
        if key in conf and spark.conf.isModifiable(key):
            spark.conf.set(key, conf[key])
    if settings.spark.catalog == "registry":
        catalog.register_all(spark, settings.paths.warehouse)
    _register_similarity_functions(spark)
    return spark


def spark_home() -> Path:
    """The pyspark wheel's own Spark (its bin/, sbin/ and jars/)."""
    import pyspark

    return Path(pyspark.__file__).parent


CONNECT_SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"


def connect_server_command(settings: Settings, port: int) -> list[str]:
    """The command that starts a Spark Connect server for ``settings``: a long-lived driver on
    ``settings.spark.master`` with the pipeline's jars and configuration, listening on
    ``port`` (loopback only) for jobs whose ``spark.remote`` points at it. splink's
    checkpoints go to the warehouse's checkpoint folder, where GDPR erasure clears them, and
    are removed as soon as nothing refers to them."""
    conf = build_conf(settings)
    conf.update(
        {
            "spark.checkpoint.dir": checkpoint_root(settings.paths.warehouse),
            "spark.cleaner.referenceTracking.cleanCheckpoints": "true",
            "spark.connect.grpc.binding.address": "127.0.0.1",
            "spark.connect.grpc.binding.port": str(port),
        }
    )
    argv = [
        str(spark_home() / "bin" / "spark-submit"),
        "--master", settings.spark.master,
        "--name", settings.spark.app_name,
        "--class", CONNECT_SERVER_CLASS,
        "--jars", conf.pop("spark.jars"),
    ]  # fmt: skip
    for key, value in conf.items():
        argv += ["--conf", f"{key}={value}"]
    return argv


def checkpoint_root(warehouse: str) -> str:
    """Where sessions keep their checkpoint folders: ``<warehouse>/_checkpoints``."""
    return f"{warehouse.rstrip('/')}/_checkpoints"


def _qualified(uri: str) -> str:
    """``uri`` as Hadoop writes it (``file:/...`` for a local path), to compare folders."""
    local = storage.local_path(uri)
    return f"file:{os.path.abspath(local)}" if local is not None else uri.rstrip("/")


@contextmanager
def scratch_checkpoints(spark: SparkSession, warehouse: str) -> Iterator[str]:
    """A checkpoint folder of the job's own, deleted with everything in it when the job ends,
    failed or not.

    splink writes its intermediate tables (blocked pairs, cluster representatives) as parquet
    into the session's checkpoint folder and never removes them: left there, they pile up
    night after night (282 MB in the warehouse of a 100,000-person bench) and hold copies of
    the names, birth dates and addresses they compared, which nothing erases but a GDPR
    request. Only for jobs whose results are written (or localCheckpointed) before it ends."""
    if catalog.is_connect(spark):
        # A Connect client cannot point the server's checkpoint folder anywhere: splink's
        # checkpoints go to the server's (``splink_api``), whose cleaner removes them once
        # unreferenced. What the job cached is released here: the server lives on. (The
        # cache is the server's: a job running beside this one recomputes what it cached.)
        try:
            yield None
        finally:
            spark.catalog.clearCache()
        return
    spark.sparkContext.setCheckpointDir(checkpoint_root(warehouse))
    folder = spark.sparkContext.getCheckpointDir()
    try:
        yield folder
    finally:
        storage.delete(folder)


def splink_api(spark: SparkSession):
    """splink's Spark back end for ``spark``. On a Spark Connect session splink breaks long
    lineages with Spark's own checkpoints, in the folder the server was started with
    (``spark.checkpoint.dir``): its parquet default finds the checkpoint folder through the
    JVM, which a Connect client does not have, and persisting keeps the whole lineage in the
    plan a Connect client sends (the server ran out of memory analysing it)."""
    from splink import SparkAPI

    if catalog.is_connect(spark):
        return SparkAPI(spark_session=spark, break_lineage_method="checkpoint")
    return SparkAPI(spark_session=spark)
