"""Analysts read the tables by name and learn them from their comments; the warehouse's
files are reached wherever its URI points."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from cdp.core import catalog, storage
from schemas.tables import TABLES


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


def test_every_written_table_has_the_columns_and_types_its_schema_declares(spark, built):
    """The one description of each table (schemas/tables.py) is what the build writes: every
    declared column with its declared type; nothing undeclared beyond bronze's extra landed
    columns."""
    from pyspark.sql.types import _parse_datatype_string

    settings, _ = built
    wh = settings.paths.warehouse
    checked = 0
    for name, schema in TABLES.items():
        if not catalog.exists(spark, name, wh):
            continue
        written = {f.name: f.dataType for f in catalog.read(spark, name, wh).schema.fields}
        for f in schema.fields:
            assert name.startswith("bronze.") or f.name in written, f"{name}: no {f.name}"
            if f.name in written:
                assert written[f.name] == _parse_datatype_string(f.dtype), f"{name}.{f.name}"
        if not name.startswith("bronze.") or name == "bronze.file_log":
            assert set(written) == set(schema.names), name
        checked += 1
    assert checked >= 20


def test_the_catalog_is_read_from_the_table_schemas():
    assert list(catalog.TABLES) == list(TABLES)
    for name, schema in TABLES.items():
        spec = catalog.spec(name)
        assert (spec.grain, spec.comment, spec.partition_by) == (
            schema.grain,
            schema.description,
            schema.partition_by,
        )
        assert spec.grain.startswith("one row per"), name
        assert set(schema.partition_by) <= set(schema.names), name
        assert set(schema.key) <= set(schema.names), name
    raw = {name for name, schema in TABLES.items() if schema.raw}
    assert raw == {
        "bronze.crm",
        "bronze.loyalty",
        "bronze.pos",
        "bronze.web",
        "silver.identity_edges",
        "audit.identity_cuts",
    }


@pytest.mark.parametrize(
    ("uri", "local"),
    [
        ("/data/wh", "/data/wh"),
        ("file:/data/wh", "/data/wh"),  # as Hadoop writes a local folder
        ("file:///data/wh", "/data/wh"),
        ("s3a://bucket/wh", None),
        ("abfss://c@account.dfs.core.windows.net/wh", None),
    ],
)
def test_a_warehouse_uri_is_local_only_without_a_remote_scheme(uri, local):
    assert storage.local_path(uri) == (Path(local) if local else None)
    assert storage.is_local(uri) == (local is not None)
    # Only a plain path is made absolute by the settings; every URI stays as written.
    assert storage.is_uri(uri) == (uri != local)


def test_text_files_go_where_a_file_uri_points(tmp_path):
    target = tmp_path / "wh" / "_quality" / "run.json"
    storage.write_text(f"file:{target}", "{}")
    assert target.read_text() == "{}"
    assert storage.read_text(f"file:{target}") == "{}"


def test_files_are_listed_moved_hashed_and_deleted_without_a_spark_session(tmp_path):
    root = f"file://{tmp_path}/exports"
    storage.write_text(f"{root}/crm/2026-11-24/data.csv", "id\n1\n")
    storage.write_text(f"{root}/crm/2026-11-24/.data.csv.crc", "x")
    storage.write_text(f"{root}/crm/notes.txt", "")
    assert storage.list_folders(root) == ["crm"]
    assert storage.list_folders(f"{root}/crm") == ["2026-11-24"]
    assert storage.list_names(f"{root}/crm") == ["notes.txt"]
    assert storage.count_files(root, ".csv") == 1
    assert storage.count_files(root) == 3
    assert storage.sha256_of(f"{root}/crm/2026-11-24/data.csv") == (
        hashlib.sha256(b"id\n1\n").hexdigest()
    )
    storage.move(f"{root}/crm/2026-11-24", f"{root}/crm/2026-11-25")
    assert storage.list_folders(f"{root}/crm") == ["2026-11-25"]
    assert storage.exists(f"{root}/crm/2026-11-25/data.csv")
    assert not storage.exists(f"{root}/crm/2026-11-24")
    assert storage.delete(f"{root}/crm") is True
    assert storage.delete(f"{root}/crm") is False
    assert storage.list_folders(f"{root}/crm") == [] and storage.count_files(root) == 0
