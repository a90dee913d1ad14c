"""The one step list (cdp/app/steps.py) the DAG, `cdp run`, ``run_batch`` and the identity
evaluation run: every step's job resolves, and a wrong name is a one-line error."""

from __future__ import annotations

import inspect

import pytest

from cdp.app import steps
from cdp.app.steps import REPORT, STEPS


def test_every_step_names_a_job_that_takes_spark_settings_and_a_batch_date():
    names = [s.name for s in STEPS]
    assert len(set(names)) == len(names)
    assert names[:4] == ["land", "bronze", "silver", "identity"]
    # The gate before publish, exports after it: a broken build never leaves.
    assert names.index("quality_gate") < names.index("publish") < names.index("activate")
    for step in (*STEPS, REPORT):
        parameters = list(inspect.signature(step.function()).parameters)
        assert parameters[:3] == ["spark", "settings", "batch_date"], step.job


def test_steps_until_and_a_wrong_name():
    assert [s.name for s in steps.steps_until("identity")] == [
        "land",
        "bronze",
        "silver",
        "identity",
    ]
    with pytest.raises(KeyError, match="no step 'idnetity'; steps: land, bronze"):
        steps.steps_until("idnetity")


def test_summaries_carry_counts_not_data():
    from jobs.bronze.ingest import FileOutcome, IngestReport
    from jobs.identity.run import IdentityReport

    day = "2026-11-24"
    crm = FileOutcome("crm", day, "/l/crm.csv", "crm.csv", "ab", 10, rows=3)
    pos = FileOutcome("pos", day, "/l/p.csv", "p.csv", None, 5, status="failed", error="bad header")
    bronze = IngestReport(day, [crm, pos], ["web"])
    identity = IdentityReport(day, 5, 4, 2, 0, 0)
    out = steps.summaries(
        {"bronze": bronze, "identity": identity, "rfm": 7, "publish": ["gold.rfm"]}
    )
    assert out["bronze"]["rows"] == 3 and out["bronze"]["missing_sources"] == ["web"]
    assert out["bronze"]["files"][1] == {
        "source": "pos", "file": "p.csv", "status": "failed", "rows": 0, "error": "bad header"
    }  # fmt: skip
    assert out["identity"]["profiles"] == 2
    assert out["rfm"] == {"buyers": 7}
    assert out["publish"] == {"published": 1, "tables": ["gold.rfm"]}
