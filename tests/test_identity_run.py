"""Identity resolution on generated data: gold.identity_map as the contract describes it."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import functions as F

from cdp.core import catalog, storage
from cdp.core.spark import checkpoint_root, scratch_checkpoints
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


def test_a_job_s_scratch_checkpoints_are_gone_when_it_ends_failed_or_not(spark, tmp_path):
    warehouse = str(tmp_path / "warehouse")
    root = Path(checkpoint_root(warehouse))
    with scratch_checkpoints(spark, warehouse) as folder:
        spark.range(5).checkpoint()  # a reliable checkpoint, as splink's parquet tables are
        assert storage.count_files(folder) > 0
    assert storage.count_files(str(root)) == 0
    with pytest.raises(ZeroDivisionError), scratch_checkpoints(spark, warehouse) as folder:
        spark.range(5).checkpoint()
        assert storage.count_files(folder) > 0
        1 / 0  # noqa: B018
    assert storage.count_files(str(root)) == 0


def test_no_intermediate_copy_of_personal_data_outlives_the_nights(spark, built):
    """splink's intermediate tables (names, birth dates, addresses of compared records) go
    with the identity job that wrote them."""
    settings, _ = built
    wh = settings.paths.warehouse
    # Files older than the last night's publication: tests that call splink directly later in
    # this session write into whatever checkpoint folder the session has by then.
    log = Path(catalog.table_path("gold.identity_map", wh)) / "_delta_log"
    published = max(f.stat().st_mtime for f in log.glob("*.json"))
    root = Path(checkpoint_root(wh))
    left = [f for f in root.rglob("*") if f.is_file() and f.stat().st_mtime <= published]
    assert left == [], f"{len(left)} files left under {root}, such as {left[0]}"
