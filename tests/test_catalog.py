"""Analysts read the tables by name and learn them from their comments."""

from __future__ import annotations

from cdp import catalog


def test_every_published_table_and_column_has_a_comment(spark, built):
    settings, _ = built
    wh = settings.paths.warehouse
    published = [name for name in catalog.TABLES if catalog.exists(spark, name, wh)]
    # The built warehouse holds every layer: a missing table would make this test vacuous.
    assert {"bronze.crm", "silver.person_records", "gold.profiles", "audit.identity_cuts"} <= set(
        published
    )
    for name in published:
        path = catalog.table_path(name, wh)
        detail = spark.sql(f"DESCRIBE DETAIL delta.`{path}`").first()
        assert detail["description"], f"{name} has no table comment"
        undocumented = [
            f.name
            for f in catalog.read(spark, name, wh).schema.fields
            if not f.metadata.get("comment")
        ]
        assert undocumented == [], f"{name}: columns without a comment: {undocumented}"
