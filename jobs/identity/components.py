"""Connected components of the identity graph.

GraphFrames' connected components (the alternating large-star / small-star algorithm of
Kiveris et al., "Connected Components in MapReduce and Beyond", SoCC 2014) is used when its
JVM jar is on the class path. When Maven Central cannot serve that jar, splink's
connected-components solver runs the same computation as iterated Spark SQL; both are
libraries made for the job, and the result is normalised to one convention either way:
a component is named by the smallest vertex id in it.

A graph of few edges (``DRIVER_MAX_EDGES``: a laptop's night, a test, an incremental night's
touched part) is solved in the driver instead, by union-find over its collected edges: one
Spark job where the iterated engines run some thirty, about two seconds each call on a night
of 60 persons. Above that size the distributed engines run, so the driver never holds more
than that many edges.
"""

from __future__ import annotations

import logging
import time
import uuid

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from cdp.core.spark import splink_api

log = logging.getLogger(__name__)

# Edges up to which ``auto`` solves the graph in the driver (``_in_driver``): a few MB of
# Python objects, well under a second of union-find.
DRIVER_MAX_EDGES = 100_000


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


def _union_find(edges: list[tuple[int, int]]) -> dict[int, int]:
    """Each vertex of ``edges`` mapped to the smallest vertex of its component."""
    parent: dict[int, int] = {}

    def root(v: int) -> int:
        parent.setdefault(v, v)
        while parent[v] != v:
            parent[v] = parent[parent[v]]  # path halving
            v = parent[v]
        return v

    for a, b in edges:
        ra, rb = root(a), root(b)
        if ra != rb:  # the smaller root wins, so every root is its component's smallest id
            parent[max(ra, rb)] = min(ra, rb)
    return {v: root(v) for v in parent}


def _in_driver(
    spark: SparkSession, vertices: DataFrame, edges: DataFrame, max_edges: int | None
) -> DataFrame | None:
    """Components by union-find in the driver, or None when ``edges`` hold more than
    ``max_edges`` rows (None: no bound; read no further than one past it). Vertices without
    an edge are their own component, in Spark: only the edges reach the driver."""
    rows = edges.select("src", "dst").where("src is not null and dst is not null")
    found = (rows if max_edges is None else rows.limit(max_edges + 1)).collect()
    if max_edges is not None and len(found) > max_edges:
        return None
    roots = _union_find([(r[0], r[1]) for r in found])
    linked = spark.createDataFrame(list(roots.items()), "id long, _root long")
    return (
        vertices.select("id")
        .join(F.broadcast(linked), "id", "left")
        .select("id", F.coalesce("_root", "id").alias("component"))
    )


def connected_components(
    spark: SparkSession,
    vertices: DataFrame,
    edges: DataFrame,
    engine: str = "auto",
    driver_max_edges: int = DRIVER_MAX_EDGES,
) -> DataFrame:
    """(id, component) for every vertex; ``component`` is the smallest id of its component.

    ``vertices`` needs a Long ``id``; ``edges`` Long ``src`` and ``dst``, each of them a
    vertex (the engines differ on an edge to nowhere: union-find joins through it, splink
    drops it). ``engine`` is ``graphframes``, ``splink``, ``driver`` or ``auto``: in the
    driver when the graph has at most ``driver_max_edges`` edges, else GraphFrames when its
    jar is present, else splink.
    """
    if engine not in ("auto", "driver", "graphframes", "splink"):
        raise ValueError(f"unknown connected-components engine {engine!r}")
    started = time.monotonic()
    raw = None
    # Kept while auto looks at it: a graph too big for the driver is read again by the
    # distributed engine, which then does not compute it a second time. A frame the caller
    # cached stays the caller's to release.
    kept = engine == "auto" and not edges.is_cached
    if kept:
        edges = edges.persist()
    try:
        if engine in ("auto", "driver"):
            bound = driver_max_edges if engine == "auto" else None
            raw = _in_driver(spark, vertices, edges, bound)
            if raw is not None:
                engine = "driver"
            elif engine == "auto":
                engine = "graphframes" if graphframes_available(spark) else "splink"
        if engine == "graphframes":
            raw = _with_graphframes(vertices, edges)
        elif engine == "splink":
            raw = _with_splink(spark, vertices, edges)
    finally:
        if kept:
            edges.unpersist()
    log.info("connected components via %s in %.1fs", engine, time.monotonic() - started)
    # Same naming whatever the engine: the smallest member id (as a number: an engine may
    # hand ids back as text, and the smallest text is not the smallest number).
    raw = raw.select(F.col("id").cast("long").alias("id"), "component")
    smallest = raw.groupBy("component").agg(F.min("id").alias("_min"))
    return raw.join(smallest, "component").select("id", F.col("_min").alias("component"))
