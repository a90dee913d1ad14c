"""The quality gate: a suite per table, passing on a real build, and stopping a broken one.

A broken staged gold table makes ``run_gate`` raise before anything is published; in the
real nightly DAG (`cdp run` in a fresh process, as test_dag.py runs it) a night whose source
delivered a value outside the contract fails at quality_gate, publish never runs, and the
published gold tables stay exactly the previous night's.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import pytest

from cdp.core import catalog
from cdp.core.errors import CdpError
from expectations import gate, suites
from schemas.fields import Field, Schema
from schemas.gold import (
    GOLD_SCHEMAS,
    IDENTITY_MAP,
    PROFILE,
    RFM,
    SEGMENT_MEMBERSHIP,
    SEGMENTS,
)
from schemas.xdm import SCHEMAS
from tests.conftest import make_settings

# An identifier only the broken table holds: it must not leak into any gate output.
LEAK = "leak.check@example.com"


def _types(expectations: list) -> list[tuple[str, str | None]]:
    out = []
    for e in expectations:
        config = e.configuration
        column = config.kwargs.get("column") or ",".join(config.kwargs.get("column_list") or [])
        out.append((config.type, column or None))
    return out


def test_every_silver_and_gold_table_has_a_suite_derived_from_its_schema(monkeypatch):
    built = suites.build_suites(make_settings("landing", "warehouse"))
    assert set(SCHEMAS) | set(GOLD_SCHEMAS) | {"silver.identity_edges"} <= set(built)
    for name, schema in {**SCHEMAS, **GOLD_SCHEMAS}.items():
        checks = _types(built[name])
        for column in schema.key:
            assert ("expect_column_values_to_not_be_null", column) in checks, (name, column)
        unique = (
            ("expect_column_values_to_be_unique", schema.key[0])
            if len(schema.key) == 1
            else ("expect_compound_columns_to_be_unique", ",".join(schema.key))
        )
        assert unique in checks, name
        for f in schema.fields:
            if not f.nullable:
                assert ("expect_column_values_to_not_be_null", f.name) in checks, (name, f.name)
            if f.accepted:
                assert ("expect_column_values_to_be_in_set", f.name) in checks, (name, f.name)
    profiles = [e.description for e in built["gold.profiles"] if e.description]
    assert "consent_email other than unknown has consent_email_at and consent_email_source" in (
        profiles
    )

    # A table added to the schemas later gets its suite without touching expectations/.
    new = Schema(
        "gold.new_things",
        "A table added later.",
        (Field("thing_id", "string", "Key.", False), Field("kind", "string", "", accepted=("a",))),
        key=("thing_id",),
    )
    monkeypatch.setitem(GOLD_SCHEMAS, new.name, new)
    checks = _types(suites.build_suites(make_settings("landing", "warehouse"))[new.name])
    assert ("expect_column_values_to_be_unique", "thing_id") in checks
    assert ("expect_column_values_to_be_in_set", "kind") in checks


def test_the_suites_pass_on_a_built_warehouse_and_write_data_docs(spark, built):
    settings, results = built
    wh = settings.paths.warehouse
    for result in results:
        quality = result.quality
        assert quality is not None and quality.success and not quality.skipped
        assert quality.failures == []
        # Every silver and gold table was checked: silver on the night's slice, gold as staged.
        assert set(SCHEMAS) <= set(quality.tables)
        assert {n for n, what in quality.tables.items() if what == "staged"} >= set(
            n for n in GOLD_SCHEMAS if n.startswith("gold.")
        )
        assert quality.expectations > 50
        summary = json.loads(Path(quality.summary_path).read_text())
        assert summary["success"] is True and summary["batch_date"] == result.batch_date
        # Publish replaced every gold table and dropped the staged copies.
        assert {"gold.identity_map", "gold.profiles"} <= set(result.published)
    assert not any(catalog.exists_staged(spark, n, wh) for n in catalog.TABLES)
    docs = Path(wh) / "_quality" / "data_docs"
    assert (docs / "index.html").is_file()
    assert list((docs / "validations").rglob("*.html"))
    assert (docs / "expectations" / "gold" / "profiles.html").is_file()
    # The export check keeps its own site: it must not prune the gate's pages.
    assert (Path(wh) / "_quality" / "export_docs" / "index.html").is_file()


def _frame(spark, schema: Schema, *rows: dict):
    """A DataFrame of ``schema`` from partial rows (unnamed columns null)."""
    return spark.createDataFrame(
        [tuple(r.get(n) for n in schema.names) for r in rows], schema.struct()
    )


# A value for a required column that its suite accepts ("unknown" consent needs no time).
FILLERS = {
    "string": "x",
    "boolean": False,
    "date": dt.date(2026, 11, 24),
    "timestamp": dt.datetime(2026, 11, 24, 12),
    "bigint": 0,
    "int": 0,
}


def _valid_row(schema: Schema, **given) -> dict:
    """``given`` plus a valid value for every other non-nullable column of ``schema``."""
    row = {}
    for f in schema.fields:
        if f.name in given or f.nullable:
            continue
        if f.accepted:
            row[f.name] = "unknown" if "unknown" in f.accepted else f.accepted[0]
        else:
            row[f.name] = FILLERS[f.dtype]
    return {**row, **given}


def _profile(profile_id: str) -> dict:
    return _valid_row(PROFILE, profile_id=profile_id, rfm_segment="No purchases")


def _identifier(namespace: str, value: str, profile_id: str, vertex_id: int) -> dict:
    return {
        "namespace": namespace,
        "identifier": value,
        "profile_id": profile_id,
        "vertex_id": vertex_id,
    }


@pytest.mark.slow  # many Spark jobs on inline data; not in make test-fast
def test_a_broken_staged_gold_table_fails_the_gate_and_is_not_published(spark, tmp_path):
    settings = make_settings(tmp_path / "landing", tmp_path / "warehouse")
    wh, day = settings.paths.warehouse, "2026-11-24"
    # Last night's published gold: two profiles and their identifiers.
    catalog.write(
        _frame(spark, PROFILE, _profile("p1"), _profile("p2")),
        "gold.profiles",
        wh,
        mode="overwrite",
    )
    good = _frame(
        spark, IDENTITY_MAP, _identifier("email", "ann@example.com", "p1", 1),
        _identifier("crm_id", "C1", "p2", 2),
    )  # fmt: skip
    catalog.write(good, "gold.identity_map", wh, mode="overwrite")

    # Tonight's staged map: an identifier twice, and one pointing at a profile that is nowhere.
    broken = _frame(
        spark, IDENTITY_MAP, _identifier("email", "ann@example.com", "p1", 1),
        _identifier("crm_id", "C1", "p2", 2), _identifier("email", LEAK, "p1", 3),
        _identifier("email", LEAK, "p1", 3), _identifier("phone", "+46700000001", "p9", 4),
    )  # fmt: skip
    catalog.write_staged(broken, "gold.identity_map", wh)
    # And an RFM table from a job that forgot a column.
    rfm = _frame(spark, RFM, _valid_row(RFM, profile_id="p1", r_score=3, f_score=1, m_score=2))
    catalog.write_staged(rfm.drop("rfm_segment"), "gold.rfm", wh)

    published = []
    with pytest.raises(CdpError, match=r"quality gate failed for 2026-11-24: gold\.identity_map"):
        gate.run_gate(spark, settings, day)
        published = catalog.publish(spark, list(catalog.TABLES), wh)  # what run_batch does next
    assert published == []
    assert catalog.exists_staged(spark, "gold.identity_map", wh)
    assert sorted(r.identifier for r in catalog.read(spark, "gold.identity_map", wh).collect()) == [
        "C1",
        "ann@example.com",
    ]

    summary = json.loads((Path(wh) / "_quality" / f"run-{day}.json").read_text())
    assert summary["success"] is False
    assert summary["tables"] == {
        "gold.identity_map": "staged",
        "gold.rfm": "staged",
        "gold.profiles": "published",
    }
    failed = {(f["table"], f["expectation"], f["unexpected"]) for f in summary["failures"]}
    assert failed == {
        ("gold.identity_map", "expect_compound_columns_to_be_unique", 2),
        ("gold.identity_map", "unexpected_rows_expectation", 1),  # p9 is not in gold.profiles
        ("gold.rfm", "expect_column_values_to_be_in_set", None),
    }
    missing = next(f for f in summary["failures"] if f["table"] == "gold.rfm")
    assert missing["column"] == "rfm_segment" and "rfm_segment" in missing["error"]
    assert (Path(wh) / "_quality" / "data_docs" / "index.html").is_file()
    # Counts only: the offending identifier is in no file the gate wrote.
    quality = [p for p in (Path(wh) / "_quality").rglob("*") if p.is_file()]
    assert quality and not [p for p in quality if LEAK.encode() in p.read_bytes()]

    # quality.gate=false skips the gate (with a warning), for debugging a failing build only.
    off = dataclasses.replace(settings, quality=dataclasses.replace(settings.quality, gate=False))
    assert gate.run_gate(spark, off, day).skipped


@pytest.mark.slow  # many Spark jobs on inline data; not in make test-fast
def test_no_profile_in_a_segment_without_consent_for_its_purpose(spark, tmp_path):
    """The gate refuses a staged membership that holds a profile whose consent does not
    allow the segment's purpose, whatever job wrote it."""
    settings = make_settings(tmp_path / "landing", tmp_path / "warehouse")
    wh, day = settings.paths.warehouse, "2026-11-24"
    profiles = _frame(
        spark,
        PROFILE,
        {**_profile("p1"), "is_email_allowed": True},
        {**_profile("p2"), "is_email_allowed": False, "is_analytics_allowed": True},
    )
    catalog.write(profiles, "gold.profiles", wh, mode="overwrite")
    identifiers = _frame(
        spark, IDENTITY_MAP, _identifier("crm_id", "C1", "p1", 1),
        _identifier("crm_id", "C2", "p2", 2),
    )  # fmt: skip
    catalog.write(identifiers, "gold.identity_map", wh, mode="overwrite")
    segments = _frame(
        spark, SEGMENTS, _valid_row(SEGMENTS, segment="newsletter", purpose="email", kind="rule")
    )
    catalog.write_staged(segments, "gold.segments", wh)
    member = {"segment": "newsletter", "purpose": "email", "is_member": True}
    membership = _frame(
        spark,
        SEGMENT_MEMBERSHIP,
        _valid_row(SEGMENT_MEMBERSHIP, profile_id="p1", **member),
        _valid_row(SEGMENT_MEMBERSHIP, profile_id="p2", **member),  # no email consent
    )
    catalog.write_staged(membership, "gold.segment_membership", wh)
    with pytest.raises(CdpError, match=r"gold\.segment_membership"):
        gate.run_gate(spark, settings, day)
    summary = json.loads((Path(wh) / "_quality" / f"run-{day}.json").read_text())
    failed = {(f["table"], f["expectation"], f["unexpected"]) for f in summary["failures"]}
    assert failed == {("gold.segment_membership", "unexpected_rows_expectation", 1)}

    # Without p2 the same night passes.
    catalog.write_staged(membership.where("profile_id = 'p1'"), "gold.segment_membership", wh)
    assert gate.run_gate(spark, settings, day).success


def test_no_profile_in_an_export_without_consent_for_either_purpose(spark, tmp_path):
    """What the activate step wrote is checked against the published profiles: the
    destination's purpose and the exported segment's purpose must both be allowed."""
    settings = make_settings(tmp_path / "landing", tmp_path / "warehouse")
    wh, day = settings.paths.warehouse, "2026-11-24"
    profiles = _frame(
        spark,
        PROFILE,
        {**_profile("p1"), "is_ad_sharing_allowed": True, "is_analytics_allowed": True},
        {**_profile("p2"), "is_ad_sharing_allowed": True, "is_analytics_allowed": False},
        {**_profile("p3"), "is_ad_sharing_allowed": False, "is_analytics_allowed": True},
    )
    catalog.write(profiles, "gold.profiles", wh, mode="overwrite")

    def exported(*ids):
        return spark.createDataFrame(
            [("ads", i, "ad_sharing", "analytics") for i in ids],
            "destination string, profile_id string, purpose string, segment_purpose string",
        )

    assert gate.check_exports(spark, settings, day, exported("p1")).success
    with pytest.raises(CdpError, match="export check failed for 2026-11-24: exports"):
        gate.check_exports(spark, settings, day, exported("p1", "p2", "p3"))
    summary = json.loads((Path(wh) / "_quality" / f"exports-{day}.json").read_text())
    assert sorted(f["unexpected"] for f in summary["failures"]) == [1, 1]
