"""Connected components of the identity graph.

GraphFrames' connected components (the alternating large-star / small-star algorithm of
Kiveris et al., "Connected Components in MapReduce and Beyond", SoCC 2014) is used when its
JVM jar is on the class path. When Maven Central cannot serve that jar, splink's
connected-components solver runs the same computation as iterated Spark SQL; both are
libraries made for the job, and the result is normalised to one convention either way:
a component is named by the smallest vertex id in it.
"""

from __future__ import annotations

import logging
import time
import uuid

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from cdp.core.spark import splink_api

log = logging.getLogger(__name__)


def graphframes_available(spark: SparkSession) -> bool:
    """Whether the GraphFrames JVM classes can be loaded in this session."""
    try:
        spark._jvm.java.lang.Class.forName("org.graphframes.GraphFrame")  # noqa: SLF001
        return True
    except Exception:
        return False


def _with_graphframes(vertices: DataFrame, edges: DataFrame) -> DataFrame:
    from graphframes import GraphFrame

    graph = GraphFrame(vertices.select("id"), edges.select("src", "dst"))
    return graph.connectedComponents().select("id", "component")


def _with_splink(spark: SparkSession, vertices: DataFrame, edges: DataFrame) -> DataFrame:
    from splink.clustering import cluster_pairwise_predictions_at_threshold

    db_api = splink_api(spark)
    # Registered under names of our own: splink names its input tables from Python's
    # ``random``, which a seeded caller (a property test, a generator) replays, and a
    # second call would then find its names taken.
    run = uuid.uuid4().hex[:12]
    nodes = db_api.register(
        vertices.select(F.col("id").alias("unique_id")), table_name=f"__cdp_cc_nodes_{run}"
    )
    links = db_api.register(
        edges.select(F.col("src").alias("unique_id_l"), F.col("dst").alias("unique_id_r")),
        table_name=f"__cdp_cc_edges_{run}",
    )
    clusters = cluster_pairwise_predictions_at_threshold(
        nodes,
        links,
        db_api=db_api,
        node_id_column_name="unique_id",
    )
    result = clusters.as_spark_dataframe()
    return result.select(F.col("unique_id").alias("id"), F.col("cluster_id").alias("component"))


def connected_components(
    spark: SparkSession, vertices: DataFrame, edges: DataFrame, engine: str = "auto"
) -> DataFrame:
    """(id, component) for every vertex; ``component`` is the smallest id of its component.

    ``vertices`` needs a Long ``id``; ``edges`` Long ``src`` and ``dst``. ``engine`` is
    ``graphframes``, ``splink`` or ``auto`` (GraphFrames when its jar is present).
    """
    if engine == "auto":
        engine = "graphframes" if graphframes_available(spark) else "splink"
    started = time.monotonic()
    if engine == "graphframes":
        raw = _with_graphframes(vertices, edges)
    elif engine == "splink":
        raw = _with_splink(spark, vertices, edges)
    else:
        raise ValueError(f"unknown connected-components engine {engine!r}")
    log.info("connected components via %s in %.1fs", engine, time.monotonic() - started)
    # Same naming whatever the engine: the smallest member id (as a number: an engine may
    # hand ids back as text, and the smallest text is not the smallest number).
    raw = raw.select(F.col("id").cast("long").alias("id"), "component")
    smallest = raw.groupBy("component").agg(F.min("id").alias("_min"))
    return raw.join(smallest, "component").select("id", F.col("_min").alias("component"))
