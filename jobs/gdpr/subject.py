"""Who a GDPR request is about: from one identifier to the whole person, via the identity graph.

The request names one identifier; gold.identity_map gives its profile, every other
identifier of that profile (emails, phones, cards, cookies, devices), and gold.profile_merges
the profile ids it retired. The subject is all of that, so a request by email also reaches
the receipts paid with the person's card and the web sessions of their cookie.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from cdp import catalog

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession


@dataclass(frozen=True)
class Subject:
    """The person a request is about."""

    namespace: str  # what the request named
    identifier: str  # normalised
    profile_ids: tuple[str, ...] = ()
    # (namespace, normalised value), the requested identifier always included.
    identifiers: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    @property
    def found(self) -> bool:
        return bool(self.profile_ids)

    def identifiers_df(self, spark: SparkSession) -> DataFrame:
        """(namespace, value) of the subject's identifiers, a small table for joins."""
        return spark.createDataFrame(list(self.identifiers), "namespace string, value string")

    def profiles_df(self, spark: SparkSession) -> DataFrame:
        return spark.createDataFrame([(p,) for p in self.profile_ids], "profile_id string")

    def carries(self, identities: Column) -> Column:
        """Whether an ``identities`` array (namespace, value) holds one of the subject's."""
        mine = F.array(
            *[
                F.struct(F.lit(ns).alias("namespace"), F.lit(v).alias("value"))
                for ns, v in self.identifiers
            ]
        )
        return F.coalesce(F.arrays_overlap(identities, mine), F.lit(False))


def resolve(spark: SparkSession, warehouse: str, namespace: str, identifier: str) -> Subject:
    """The subject behind ``namespace``/``identifier`` (normalised) in the published graph."""
    identifiers = {(namespace, identifier)}
    profiles: set[str] = set()
    if catalog.exists(spark, "gold.identity_map", warehouse):
        idmap = catalog.read(spark, "gold.identity_map", warehouse)
        hits = idmap.where(
            (F.col("namespace") == namespace) & (F.col("identifier") == identifier)
        ).select("profile_id")
        profiles = {r["profile_id"] for r in hits.collect()}
        if catalog.exists(spark, "gold.profile_merges", warehouse) and profiles:
            merges = catalog.read(spark, "gold.profile_merges", warehouse)
            retired = merges.where(F.col("profile_id").isin(*profiles)).select("retired_profile_id")
            profiles |= {r["retired_profile_id"] for r in retired.collect()}
        if profiles:
            rows = idmap.where(F.col("profile_id").isin(*profiles)).select(
                "namespace", "identifier"
            )
            identifiers |= {(r["namespace"], r["identifier"]) for r in rows.collect()}
    return Subject(namespace, identifier, tuple(sorted(profiles)), tuple(sorted(identifiers)))
