"""Identity resolution on generated data: gold.identity_map as the contract describes it."""

from __future__ import annotations

from pyspark.sql import functions as F

from cdp import catalog
from schemas.xdm import NAMESPACES


def test_identity_map_has_one_row_per_identifier_and_a_profile_for_each(spark, built):
    settings, results = built
    wh = settings.paths.warehouse
    ids = catalog.read(spark, "gold.identity_map", wh)
    assert ids.count() == results[-1].identity.identifiers > 0
    assert ids.groupBy("namespace", "identifier").count().where("count > 1").count() == 0
    assert ids.where(F.col("profile_id").isNull() | F.col("first_seen").isNull()).count() == 0
    assert {r[0] for r in ids.select("namespace").distinct().collect()} <= set(NAMESPACES)
    assert ids.where(F.col("first_seen") > F.col("last_seen")).count() == 0
    profiles = ids.select("profile_id").distinct().count()
    assert profiles == results[-1].identity.profiles
    # Identifiers outnumber people: most profiles gather several identifiers.
    assert profiles < ids.count()


def test_every_crm_record_resolves_to_exactly_one_profile(spark, built):
    settings, _ = built
    wh = settings.paths.warehouse
    ids = catalog.read(spark, "gold.identity_map", wh).where("namespace = 'crm_id'")
    crm_ids = catalog.read(spark, "silver.person_records", wh).where("source = 'crm'")
    crm_ids = crm_ids.select(F.col("source_key").alias("identifier")).distinct()
    assert crm_ids.join(ids, "identifier", "left_anti").count() == 0
