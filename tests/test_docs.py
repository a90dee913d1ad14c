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


def command_lines() -> list[tuple[str, str]]:
    """(page, line) of every `cdp ...` command shown in a code block of README or docs/."""
    found = []
    for page in PAGES:
        for line in page.read_text(encoding="utf-8").splitlines():
            text = line.strip()
            if line.startswith("    ") and re.match(r"(\.venv/bin/)?cdp \w", text):
                found.append((page.name, text))
    return found


def test_every_documented_command_and_option_is_one_the_cli_accepts():
    """The synopses in the manual name real subcommands and real options (their use on data
    is tested where each command is: test_cli, test_dag, test_gdpr, test_models, ...)."""
    from cdp.app.cli import build_parser

    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.choices and "run" in a.choices).choices
    lines = command_lines()
    assert len(lines) >= 15
    for page, line in lines:
        words = line.split()
        words = words[1:] if words[0].endswith("cdp") else words
        command = subparsers.get(words[0])
        assert command is not None, f"{page}: no command {words[0]!r}: {line}"
        options = {s for a in command._actions for s in a.option_strings}
        for flag in re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", line.split("#", 1)[0]):
            assert flag in options, f"{page}: `cdp {words[0]}` has no {flag}: {line}"
