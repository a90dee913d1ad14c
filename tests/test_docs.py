"""The manual: README and docs/. The generated pages match the code, every setting says what
it means, every link points at a file that exists, and README's `cdp sql` examples answer on a
built warehouse (docs/analysts.md's SQL runs in tests/test_notebooks.py)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from cdp_dev import docs

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def test_generated_pages_match_the_code():
    for name, page in docs.PAGES.items():
        committed = (docs.DOCS / name).read_text(encoding="utf-8")
        assert committed == page(), f"docs/{name} is stale: run make docs"
    assert docs.main(["--check"]) == 0


def test_every_setting_says_what_it_means():
    text = docs.settings_page()
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert len(rows) > 60
    assert [r for r in rows if r.rstrip().endswith("|  |")] == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_links_point_at_files_that_exist(page):
    text = page.read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
    for link in links:
        if "://" in link:
            continue
        assert (page.parent / link).exists(), f"{page.name}: {link}"


def readme_sql() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    lines = [
        line.strip() for line in text.splitlines() if line.strip().startswith(".venv/bin/cdp sql ")
    ]
    return [shlex.split(line)[2] for line in lines]


def test_readme_sql_examples_answer_on_the_built_warehouse(spark, built):
    from cdp.core import catalog

    settings, _ = built
    catalog.register_all(spark, settings.paths.warehouse)
    queries = readme_sql()
    assert len(queries) >= 3
    for sql in queries:
        assert spark.sql(sql).collect(), sql
