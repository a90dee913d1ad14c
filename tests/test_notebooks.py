"""Analysts' SQL and notebooks, run against a built warehouse so neither rots.

The analysts' questions (docs/analysts.md) run in the test session; the walkthrough notebook
runs in its own Jupyter kernel (its own JVM), pointed at the same Delta tables on disk by the
CDP_PATHS__WAREHOUSE environment variable, as an analyst would run it.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from cdp_dev.docs import ANALYSTS, analysts_questions
from tests.conftest import cdp_env

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "profiles_walkthrough.ipynb"
QUESTIONS = 5


def readme_queries() -> list[str]:
    """The ```sql blocks of docs/analysts.md, in order."""
    return analysts_questions()


def notebook_queries(nb) -> list[str]:
    """The SQL of the notebook's question cells (tagged ``question``), in order."""
    return [
        q.strip()
        for cell in nb.cells
        if "question" in cell.metadata.get("tags", [])
        for q in re.findall(r'"""(.*?)"""', cell.source, re.S)
    ]


def _normalised(sql: str) -> str:
    return " ".join(sql.split())


def test_readme_answers_five_questions():
    queries = readme_queries()
    assert len(queries) == QUESTIONS, f"expected {QUESTIONS} ```sql blocks in {ANALYSTS.name}"


@pytest.mark.parametrize("index", range(QUESTIONS), ids=lambda i: f"q{i + 1}")
def test_readme_sql_answers_on_the_built_warehouse(spark, built, index):
    from cdp.core import catalog

    settings, _ = built
    # Other tests write to other warehouses; names must point at this one.
    catalog.register_all(spark, settings.paths.warehouse)
    queries = readme_queries()
    assert index < len(queries), f"{ANALYSTS.name} has only {len(queries)} ```sql blocks"
    df = spark.sql(queries[index])
    rows = df.collect()
    assert df.columns
    assert rows, "the demo warehouse has data for every question; an empty answer means a bug"


def test_notebook_is_committed_without_outputs_and_asks_the_readme_questions():
    import nbformat

    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, cell.source[:60]
    assert [_normalised(q) for q in notebook_queries(nb)] == [
        _normalised(q) for q in readme_queries()
    ]


def test_notebook_runs_in_its_own_kernel_against_the_built_warehouse(spark, built):
    import nbformat
    from nbclient import NotebookClient

    from cdp.core import catalog

    settings, _ = built
    warehouse = settings.paths.warehouse
    nb = nbformat.read(NOTEBOOK, as_version=4)
    # Appended in memory only: which interpreter the kernel ran.
    nb.cells.append(nbformat.v4.new_code_cell("import sys\nprint('kernel prefix:', sys.prefix)"))
    env = cdp_env(PATHS__WAREHOUSE=warehouse)
    # "python3" is ipykernel's spec; jupyter_client starts it with this process's interpreter
    # (the venv's), which the appended cell checks.
    client = NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute(env=env)

    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    printed = "".join(o.text for o in outputs if o.output_type == "stream" and o.name == "stdout")

    assert f"kernel prefix: {sys.prefix}" in printed
    assert f"warehouse: {warehouse}" in printed
    profiles = catalog.read(spark, "gold.profiles", warehouse).count()
    assert re.search(r"^profiles: (\d+)$", printed, re.M), printed
    assert int(re.search(r"^profiles: (\d+)$", printed, re.M).group(1)) == profiles

    # The table listing names every gold table the build wrote.
    listing = "".join(
        o.data.get("text/plain", "")
        for cell in nb.cells
        if "tables" in cell.metadata.get("tags", [])
        for o in cell.outputs
        if o.output_type == "execute_result"
    )
    written = [
        n for n in catalog.TABLES if n.startswith("gold.") and catalog.exists(spark, n, warehouse)
    ]
    assert written and all(name in listing for name in written)

    # Every question shows a non-empty table.
    questions = [c for c in nb.cells if "question" in c.metadata.get("tags", [])]
    assert len(questions) == QUESTIONS
    for cell in questions:
        results = [o for o in cell.outputs if o.output_type == "execute_result"]
        assert results, cell.source[:60]
        assert "Empty DataFrame" not in results[0].data["text/plain"], cell.source[:60]
