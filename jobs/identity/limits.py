"""The last guard rail: a profile may hold only so many identifiers of each namespace.

A component over a per-namespace limit (five CRM ids, a dozen payment cards) or over the
total size limit is what over-merging looks like: a chain of plausible links through a
shared identifier the earlier rails did not catch. Such a component is rebuilt edge by edge,
strongest first (deterministic before probabilistic; within each, the higher-priority
namespace, then more supporting records, then the higher match probability), and an edge
whose union would break a limit is dropped and written to the audit with the reason. This is
"drop the weakest edges first" done in one greedy pass per component, the way Adobe's
identity graph linking rules keep the strongest links under a namespace-uniqueness limit.

The same pass keeps one person per profile: when behavioural identifiers chain two persons of
the person graph together (``jobs/identity/attachment.py``), the union that would join the
second person is refused like any other over-limit union.

Only offending components are touched; each is handled in its own pandas group, so the
work spreads over a cluster like any grouped job.
"""

from __future__ import annotations

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

_SPLIT_SCHEMA = T.StructType(
    [
        T.StructField("row_type", T.StringType()),  # "vertex" or "cut"
        T.StructField("id", T.LongType()),
        T.StructField("component", T.LongType()),
        T.StructField("namespace", T.StringType()),
        T.StructField("value", T.StringType()),
        T.StructField("detail", T.StringType()),
    ]
)


def over_limit_components(
    components: DataFrame,
    vertices: DataFrame,
    limits: dict[str, int],
    max_total: int,
    persons: DataFrame | None = None,
) -> DataFrame:
    """(component, detail) for every component over a namespace limit or the total limit,
    or (with ``persons``: (id, component) of the person graph) holding several persons."""
    members = components.join(vertices.select("id", "namespace"), "id")
    if persons is not None:
        members = members.join(
            persons.select("id", F.col("component").alias("person")), "id", "left"
        )
    else:
        members = members.withColumn("person", F.lit(None).cast("long"))
    per_ns = members.groupBy("component", "namespace").agg(
        F.count(F.lit(1)).alias("n"), F.collect_set("person").alias("persons")
    )
    limit = F.create_map(*[x for ns, n in limits.items() for x in (F.lit(ns), F.lit(n))])
    per_component = per_ns.groupBy("component").agg(
        F.sum("n").alias("total"),
        F.size(F.array_distinct(F.flatten(F.collect_list("persons")))).alias("n_persons"),
        F.collect_list(
            F.when(
                F.col("n") > limit[F.col("namespace")],
                F.concat("namespace", F.lit(" "), F.col("n").cast("string")),
            )
        ).alias("over"),
    )
    over = (F.size("over") > 0) | (F.col("total") > max_total) | (F.col("n_persons") > 1)
    return per_component.where(over).select(
        "component",
        F.concat(
            F.lit("profile over limits ("),
            F.concat_ws(
                ", ",
                "over",
                F.concat(F.lit("persons "), F.col("n_persons").cast("string")),
                F.concat(F.lit("total "), F.col("total").cast("string")),
            ),
            F.lit(")"),
        ).alias("detail"),
    )


def edge_strength_order(edges: pd.DataFrame) -> pd.DataFrame:
    """Edges sorted strongest first (see module docstring)."""
    ranked = edges.assign(
        _prob=(edges["method"] == "probabilistic").astype(int),
        _rank=edges["strength_rank"].fillna(99),
        _records=-edges["records"].fillna(0),
        _p=-edges["match_probability"].fillna(1.0),
    )
    return ranked.sort_values(
        ["_prob", "_rank", "_records", "_p", "src", "dst"], kind="mergesort"
    ).reset_index(drop=True)


def greedy_split(
    edges: pd.DataFrame, limits: dict[str, int], max_total: int, detail: str
) -> pd.DataFrame:
    """Union-find over ``edges`` strongest first, refusing unions that break a limit."""
    parent: dict[int, int] = {}
    counts: dict[int, dict[str, int]] = {}
    sizes: dict[int, int] = {}
    names: dict[int, tuple[str, str]] = {}
    person: dict[int, object] = {}  # root -> the person-graph component it holds, if any

    def find(x: int) -> int:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    for row in edges.itertuples(index=False):
        for vid, ns, val, who in (
            (row.src, row.src_namespace, row.src_value, row.src_person),
            (row.dst, row.dst_namespace, row.dst_value, row.dst_person),
        ):
            if vid not in parent:
                parent[vid] = vid
                counts[vid] = {ns: 1}
                sizes[vid] = 1
                names[vid] = (ns, val)
                person[vid] = None if pd.isna(who) else who

    cuts = []
    for row in edge_strength_order(edges).itertuples(index=False):
        a, b = find(row.src), find(row.dst)
        if a == b:
            continue
        merged = dict(counts[a])
        for ns, n in counts[b].items():
            merged[ns] = merged.get(ns, 0) + n
        broken = [ns for ns, n in merged.items() if n > limits.get(ns, n)]
        two_persons = None not in (person[a], person[b]) and person[a] != person[b]
        if broken or two_persons or sizes[a] + sizes[b] > max_total:
            what = ", ".join(f"{ns} {merged[ns]} > {limits[ns]}" for ns in broken) or (
                "would join two persons"
                if two_persons
                else f"total {sizes[a] + sizes[b]} > {max_total}"
            )
            cuts.append(
                (
                    "cut",
                    row.src,
                    row.dst,
                    row.dst_namespace,
                    row.dst_value,
                    f"{row.method} edge {row.src_namespace}:{row.src_value} - "
                    f"{row.dst_namespace}:{row.dst_value} dropped ({what}); {detail}",
                )
            )
            continue
        small, big = (a, b) if sizes[a] < sizes[b] else (b, a)
        parent[small] = big
        sizes[big] += sizes[small]
        counts[big] = merged
        if person[big] is None:
            person[big] = person[small]

    roots: dict[int, int] = {}
    for vid in parent:
        r = find(vid)
        roots[r] = min(roots.get(r, vid), vid)
    vertices = [
        ("vertex", vid, roots[find(vid)], names[vid][0], names[vid][1], None) for vid in parent
    ]
    return pd.DataFrame(vertices + cuts, columns=[f.name for f in _SPLIT_SCHEMA.fields])


def enforce_profile_limits(
    components: DataFrame,
    vertices: DataFrame,
    edges: DataFrame,
    limits: dict[str, int],
    max_total: int,
    persons: DataFrame | None = None,
) -> tuple[DataFrame, DataFrame]:
    """(components with offending ones split, cut edges as audit rows).

    ``components``: (id, component); ``vertices``: (id, namespace, ...); ``edges``: identity
    edges with src/dst, method, strength_rank, records, match_probability; ``persons``:
    (id, component) of the person graph, if one profile may hold only one person.
    """
    offending = over_limit_components(components, vertices, limits, max_total, persons)
    if persons is None:
        persons = components.sparkSession.createDataFrame([], "id long, component long")
    # As text: in a pandas group a long column with nulls (identifiers of no person) turns
    # into floats, and a 64-bit id as a float no longer equals itself as an integer, so two
    # identifiers of one person would look like two persons.
    who = persons.select("id", F.col("component").cast("string").alias("person"))
    edges = edges.join(
        who.withColumnRenamed("id", "src").withColumnRenamed("person", "src_person"), "src", "left"
    ).join(
        who.withColumnRenamed("id", "dst").withColumnRenamed("person", "dst_person"), "dst", "left"
    )
    for column, kind in (("match_probability", "double"), ("strength_rank", "int")):
        if column not in edges.columns:
            edges = edges.withColumn(column, F.lit(None).cast(kind))
    in_offending = (
        edges.join(components.select(F.col("id").alias("src"), "component"), "src")
        .join(offending, "component")
        .select(
            "component",
            "detail",
            "src",
            "dst",
            "src_namespace",
            "src_value",
            "dst_namespace",
            "dst_value",
            "method",
            F.col("strength_rank").cast("int").alias("strength_rank"),
            F.col("records").cast("long").alias("records"),
            F.col("match_probability").cast("double").alias("match_probability"),
            "src_person",
            "dst_person",
        )
    )

    def split(group: pd.DataFrame) -> pd.DataFrame:
        return greedy_split(group, limits, max_total, group["detail"].iloc[0])

    result = in_offending.groupBy("component").applyInPandas(split, _SPLIT_SCHEMA)
    result = result.localCheckpoint()
    rebuilt = result.where(F.col("row_type") == "vertex").select("id", "component")
    untouched = components.join(offending.select("component"), "component", "left_anti")
    cuts = result.where(F.col("row_type") == "cut").select(
        "namespace",
        "value",
        F.lit("profile_limit").alias("reason"),
        "detail",
        F.lit(1).cast("long").alias("records"),
    )
    return untouched.select("id", "component").unionByName(rebuilt), cuts
