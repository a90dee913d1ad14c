"""The landing contract in schemas/landing.py matches ../shared/CONTRACTS.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from schemas.landing import SOURCES

CONTRACTS = Path(__file__).resolve().parents[2] / "shared" / "CONTRACTS.md"


def _section(text: str, source: str) -> str:
    match = re.search(rf"### {source} \(.*?\)(.*?)(?=\n### |\n## )", text, re.S)
    assert match, f"no section for {source} in CONTRACTS.md"
    return match.group(1)


@pytest.mark.skipif(not CONTRACTS.exists(), reason="shared/CONTRACTS.md is not beside the checkout")
@pytest.mark.parametrize("source", sorted(SOURCES))
def test_landing_columns_are_the_contracts(source):
    section = _section(CONTRACTS.read_text(encoding="utf-8"), source)
    named = set(re.findall(r"\b[a-z]+(?:_[a-z0-9]+)*\b", section))
    spec = SOURCES[source]
    missing = [c for c in spec.columns if c not in named]
    assert not missing, f"{source}: not in CONTRACTS.md: {missing}"
    for key in spec.key:
        assert re.search(rf"\b{key}\b(?: \| string, required| \(required\))", section), (
            f"{source}.{key} is not required there"
        )
    assert spec.file_format in ("csv", "jsonl")
    assert ("JSON Lines" in CONTRACTS.read_text().split(f"### {source}")[1].split("\n")[0]) == (
        spec.file_format == "jsonl"
    )
