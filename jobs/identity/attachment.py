"""Persons first, behaviour second: web events and receipts attach to persons, never join them.

The identity graph has two tiers. Person records (CRM, loyalty) describe people: their
identifiers (crm_id, loyalty_id, email, phone) and the probabilistic matches between them
form the *persons* (``person_vertices``, then connected components). Behavioural records
(web events, POS receipts) carry what a person used once: a cookie, an app device, a payment
card, a login, a typed email. They attach to the person whose identifiers they carry, and
they are not allowed to join two persons:

- an event edge between identifiers of two different persons (a logged-in user typing a
  friend's email) is cut;
- an identifier seen beside identifiers of two or more persons (the family tablet's cookie,
  a payment card used with two members' loyalty cards) is shared: it is cut, so it links
  nobody, and its records resolve through their other identifiers;
- a chain of behavioural identifiers that still reaches two persons is split later, by the
  profile-limit rail (``jobs/identity/limits.py``), which allows one person per profile.

This is the namespace-uniqueness rule of Adobe's identity graph linking rules and the
one-user-per-anonymous-id limit of Segment's identity resolution, applied with persons (not
single identifiers) as the unit, so a person's duplicate CRM rows do not make their cookie
look shared.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

# Sources whose records describe a person (name, birth date, address) rather than behaviour.
PERSON_SOURCES = ("crm", "loyalty")


def person_vertices(linking: DataFrame) -> DataFrame:
    """(id) of every identifier some person record carries (see ``graph.vertex_id``)."""
    from jobs.identity.graph import vertex_id

    return (
        linking.where(F.col("source").isin(*PERSON_SOURCES))
        .select(vertex_id(F.col("namespace"), F.col("value")).alias("id"))
        .distinct()
    )


def split_edges(edges: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(person edges, event edges) by the source of the records behind each edge."""
    is_person = F.col("source").isin(*PERSON_SOURCES)
    return edges.where(is_person), edges.where(~is_person)


def corroborated(
    event_edges: DataFrame, vertices: DataFrame, min_share: dict[str, float]
) -> tuple[DataFrame, DataFrame]:
    """(event edges whose weak end is usually seen with the other end, audit rows of the rest).

    A loyalty card proves nothing at the till: anyone may present it. A payment card that
    belongs to the card holder is presented with the loyalty card most of the time; a
    household member's, which borrows the loyalty card now and then, only some of the time.
    An edge into a namespace of ``min_share`` links only when at least that share of the weak
    identifier's records carry the other end (``vertices``: id and records per identifier).
    """
    if not min_share:
        return event_edges, _no_cuts(event_edges)
    share = F.create_map(*[x for ns, v in min_share.items() for x in (F.lit(ns), F.lit(v))])
    totals = vertices.select(F.col("id").alias("dst"), F.col("records").alias("_dst_records"))
    tagged = event_edges.join(totals, "dst", "left").withColumn(
        "_needed", share[F.col("dst_namespace")]
    )
    weak = (
        F.col("_needed").isNotNull()
        & F.col("_dst_records").isNotNull()
        & (F.col("records") < F.col("_needed") * F.col("_dst_records"))
    )
    kept = tagged.where(~weak).drop("_dst_records", "_needed")
    cuts = tagged.where(weak).select(
        F.col("dst_namespace").alias("namespace"),
        F.col("dst_value").alias("value"),
        F.lit("weak_link").alias("reason"),
        F.concat(
            F.lit("seen with "),
            F.col("src_namespace"),
            F.lit(":"),
            F.col("src_value"),
            F.lit(" on "),
            F.col("records").cast("string"),
            F.lit(" of its "),
            F.col("_dst_records").cast("string"),
            F.lit(" records"),
        ).alias("detail"),
        F.col("records").cast("long").alias("records"),
    )
    return kept, cuts


def _no_cuts(df: DataFrame) -> DataFrame:
    return df.sparkSession.createDataFrame(
        [], "namespace string, value string, reason string, detail string, records long"
    )


def _with_persons(event_edges: DataFrame, persons: DataFrame) -> DataFrame:
    """Event edges with the person (component of the person graph) of each end, if any."""
    p = persons.select("id", "component")
    return event_edges.join(
        p.withColumnRenamed("id", "src").withColumnRenamed("component", "src_person"),
        "src",
        "left",
    ).join(
        p.withColumnRenamed("id", "dst").withColumnRenamed("component", "dst_person"),
        "dst",
        "left",
    )


def attach_events(event_edges: DataFrame, persons: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(event edges that may link, audit rows of what was cut) under the rules above.

    ``persons``: (id, component) for every identifier of the person graph.
    """
    tagged = _with_persons(event_edges, persons)
    both = F.col("src_person").isNotNull() & F.col("dst_person").isNotNull()
    joins_two = both & (F.col("src_person") != F.col("dst_person"))
    conflicting = tagged.where(joins_two)
    remaining = tagged.where(~joins_two | ~both)

    # Behavioural identifiers (no person of their own) and the persons they were seen beside.
    beside = (
        remaining.where(F.col("src_person").isNotNull() & F.col("dst_person").isNull())
        .select(
            F.col("dst").alias("id"),
            F.col("dst_namespace").alias("namespace"),
            F.col("dst_value").alias("value"),
            F.col("src_person").alias("person"),
            "records",
        )
        .unionByName(
            remaining.where(F.col("dst_person").isNotNull() & F.col("src_person").isNull()).select(
                F.col("src").alias("id"),
                F.col("src_namespace").alias("namespace"),
                F.col("src_value").alias("value"),
                F.col("dst_person").alias("person"),
                "records",
            )
        )
    )
    several = (
        beside.groupBy("id", "namespace", "value")
        .agg(F.count_distinct("person").alias("persons"), F.sum("records").alias("records"))
        .where(F.col("persons") > 1)
    )
    cut_ids = several.select("id")
    linking = (
        remaining.join(cut_ids.withColumnRenamed("id", "src"), "src", "left_anti")
        .join(cut_ids.withColumnRenamed("id", "dst"), "dst", "left_anti")
        .drop("src_person", "dst_person")
    )
    cuts = several.select(
        "namespace",
        "value",
        F.lit("links_several_persons").alias("reason"),
        F.concat(
            F.lit("seen beside identifiers of "),
            F.col("persons").cast("string"),
            F.lit(" different persons"),
        ).alias("detail"),
        F.col("records").cast("long").alias("records"),
    ).unionByName(
        conflicting.select(
            F.col("dst_namespace").alias("namespace"),
            F.col("dst_value").alias("value"),
            F.lit("event_joins_persons").alias("reason"),
            F.concat(
                F.lit("edge "),
                F.col("kind"),
                F.lit(" "),
                F.col("src_namespace"),
                F.lit(":"),
                F.col("src_value"),
                F.lit(" - "),
                F.col("dst_namespace"),
                F.lit(":"),
                F.col("dst_value"),
                F.lit(" dropped: its ends belong to two persons"),
            ).alias("detail"),
            F.col("records").cast("long").alias("records"),
        )
    )
    return linking, cuts
