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

from cdp.core import catalog
from cdp.core.errors import CdpError

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


# Cuts that mean an identifier is not one person's: naming it would reach other people.
SHARED_CUTS = (
    "blocked_value",
    "shared_identifier",
    "household_identifier",
    "links_several_persons",
)


def _refuse_shared(spark: SparkSession, warehouse: str, namespace: str, identifier: str) -> None:
    if not catalog.exists(spark, "audit.identity_cuts", warehouse):
        return
    cut = (
        catalog.read(spark, "audit.identity_cuts", warehouse)
        .where(
            (F.col("namespace") == namespace)
            & (F.col("value") == identifier)
            & F.col("reason").isin(*SHARED_CUTS)
        )
        .select("reason")
        .limit(1)
        .collect()
    )
    if cut:
        raise CdpError(
            f"this {namespace} is not one person's (identity guard rail: {cut[0]['reason']});"
            " name the person by another identifier"
        )


def resolve(spark: SparkSession, warehouse: str, namespace: str, identifier: str) -> Subject:
    """The subject behind ``namespace``/``identifier`` (normalised) in the published graph.

    An identifier the guard rails found shared by several people is refused: a request by it
    would export or erase other people's data.
    """
    _refuse_shared(spark, warehouse, namespace, identifier)
    identifiers = {(namespace, identifier)}
    profiles: set[str] = set()
    if catalog.exists(spark, "gold.identity_map", warehouse):
        idmap = catalog.read(spark, "gold.identity_map", warehouse)
        hits = idmap.where(
            (F.col("namespace") == namespace) & (F.col("identifier") == identifier)
        ).select("profile_id")
        profiles = {r["profile_id"] for r in hits.collect()}
        if catalog.exists(spark, "gold.profile_merges", warehouse) and profiles:
            merges = catalog.read(spark, "gold.profile_merges", warehouse).select(
                "retired_profile_id", "profile_id"
            )
            # Follow chains of merges (A into B, later B into C) to every retired id.
            frontier = set(profiles)
            while frontier:
                retired = merges.where(F.col("profile_id").isin(*frontier)).collect()
                frontier = {r["retired_profile_id"] for r in retired} - profiles
                profiles |= frontier
        if profiles:
            rows = idmap.where(F.col("profile_id").isin(*profiles)).select(
                "namespace", "identifier"
            )
            identifiers |= {(r["namespace"], r["identifier"]) for r in rows.collect()}
    return Subject(namespace, identifier, tuple(sorted(profiles)), tuple(sorted(identifiers)))
