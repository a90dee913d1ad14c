"""Segment definitions: YAML files, loaded and checked into typed, frozen definitions.

A file holds one segment (a mapping) or several (a list of mappings):

    name: win_back                  # lower-case letters, digits, _; unique across files
    description: Bought before, nothing for 90 days.
    purpose: email                  # one of schemas.xdm.PURPOSES
    rule: lifetime_orders > 0 and days_since_last_purchase > 90

or, instead of ``rule``, a look-alike of another segment:

    lookalike:
      seed: champions               # any defined segment; no cycles
      size: 200                     # how many profiles to publish

Everything is checked at load, before Spark starts: unknown or missing keys, a purpose we do
not know, duplicate names, an unknown or cyclic seed, and every rule
(jobs/segments/rules.py) against the audience's columns. Each problem is one line naming
the file and the segment or key (CdpError).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from cdp.core.errors import CdpError
from jobs.segments.audience import AUDIENCE_TYPES
from jobs.segments.rules import CheckedRule, check_rule
from schemas.xdm import PURPOSES

BUNDLED = Path(__file__).parent / "definitions"

_KEYS = ("name", "description", "purpose", "rule", "lookalike")
_REQUIRED = ("name", "description", "purpose")
_LOOKALIKE_KEYS = ("seed", "size")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class SegmentDefinition:
    """One segment as defined in YAML: a rule segment (``rule``) or a look-alike (``seed``
    and ``size``)."""

    name: str
    description: str
    purpose: str
    rule: str | None
    seed: str | None
    size: int | None
    source_file: str

    @property
    def kind(self) -> str:
        """``rule`` or ``lookalike`` (gold.segments.kind)."""
        return "rule" if self.rule is not None else "lookalike"

    def where(self) -> str:
        """Where the definition comes from, for messages."""
        return f"{self.source_file}: segment '{self.name}'"

    def checked_rule(self, columns: Mapping[str, str] = AUDIENCE_TYPES) -> CheckedRule:
        """The rule, parsed and checked (CdpError naming file and segment when refused)."""
        if self.rule is None:
            raise CdpError(f"{self.where()}: is a look-alike, it has no rule")
        return check_rule(self.rule, columns, self.where())


def _fail(where: str, problem: str) -> CdpError:
    return CdpError(f"{where}: {problem}")


def _text(entry: Mapping, key: str, where: str) -> str:
    value = entry[key]
    if not isinstance(value, str) or not value.strip():
        raise _fail(where, f"'{key}' must be non-empty text")
    return value.strip()


def _parse_entry(entry: object, file: str, index: int | None) -> SegmentDefinition:
    at = file if index is None else f"{file}[{index}]"
    if not isinstance(entry, dict):
        raise _fail(at, "a segment must be a mapping of name, description, purpose, rule|lookalike")
    name = entry.get("name")
    where = f"{file}: segment '{name}'" if isinstance(name, str) and name else at
    unknown = [str(k) for k in entry if k not in _KEYS]
    if unknown:
        raise _fail(where, f"unknown key '{unknown[0]}' (known: {', '.join(_KEYS)})")
    for key in _REQUIRED:
        if key not in entry or entry[key] is None:
            raise _fail(where, f"missing key '{key}'")
    name = _text(entry, "name", where)
    if not _NAME.match(name):
        raise _fail(where, "'name' must be lower-case letters, digits and _ (at most 63)")
    purpose = _text(entry, "purpose", where)
    if purpose not in PURPOSES:
        raise _fail(where, f"unknown purpose '{purpose}' (known: {', '.join(PURPOSES)})")
    description = _text(entry, "description", where)
    has_rule = entry.get("rule") is not None
    has_lookalike = entry.get("lookalike") is not None
    if has_rule == has_lookalike:
        raise _fail(where, "needs exactly one of 'rule' or 'lookalike'")
    if has_rule:
        rule = entry["rule"]
        if not isinstance(rule, str) or not rule.strip():
            raise _fail(where, "'rule' must be non-empty text")
        return SegmentDefinition(name, description, purpose, rule.strip(), None, None, file)
    spec = entry["lookalike"]
    if not isinstance(spec, dict):
        raise _fail(where, "'lookalike' must be a mapping of seed and size")
    unknown = [str(k) for k in spec if k not in _LOOKALIKE_KEYS]
    if unknown:
        raise _fail(where, f"unknown key 'lookalike.{unknown[0]}' (known: seed, size)")
    for key in _LOOKALIKE_KEYS:
        if spec.get(key) is None:
            raise _fail(where, f"missing key 'lookalike.{key}'")
    seed = spec["seed"]
    if not isinstance(seed, str) or not seed.strip():
        raise _fail(where, "'lookalike.seed' must be a segment name")
    size = spec["size"]
    # bool is an int in Python; `size: yes` is a typo, not 1.
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise _fail(where, "'lookalike.size' must be a positive whole number")
    return SegmentDefinition(name, description, purpose, None, seed.strip(), size, file)


def parse_file(path: Path, label: str | None = None) -> list[SegmentDefinition]:
    """The definitions in one YAML file (not yet checked against each other)."""
    file = label or str(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or "not valid YAML"
        raise _fail(file, f"{problem}{at}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise _fail(file, f"cannot be read ({type(e).__name__})") from None
    if doc is None:
        raise _fail(file, "is empty")
    if isinstance(doc, list):
        return [_parse_entry(entry, file, i) for i, entry in enumerate(doc)]
    return [_parse_entry(doc, file, None)]


def evaluation_order(definitions: list[SegmentDefinition]) -> list[SegmentDefinition]:
    """Rule segments first (by name), then look-alikes each after its seed; an unknown or
    cyclic seed is a CdpError naming the file and segment."""
    by_name = {d.name: d for d in definitions}
    ordered = sorted((d for d in definitions if d.kind == "rule"), key=lambda d: d.name)
    done = {d.name for d in ordered}
    for d in sorted(definitions, key=lambda d: d.name):
        if d.kind != "lookalike" or d.name in done:
            continue
        chain: list[SegmentDefinition] = []
        current = d
        while current.name not in done:
            if current in chain:
                cycle = " -> ".join(
                    [c.name for c in chain[chain.index(current) :]] + [current.name]
                )
                raise _fail(current.where(), f"look-alike seeds form a cycle: {cycle}")
            chain.append(current)
            seed = by_name.get(current.seed or "")
            if seed is None:
                raise _fail(current.where(), f"unknown seed segment '{current.seed}'")
            current = seed
        for c in reversed(chain):
            ordered.append(c)
            done.add(c.name)
    return ordered


def load_definitions(
    folder: str | Path = "", columns: Mapping[str, str] = AUDIENCE_TYPES
) -> list[SegmentDefinition]:
    """Every segment under ``folder`` (``*.yaml``/``*.yml``; empty = the bundled
    definitions), checked, in evaluation order. Raises CdpError on the first problem."""
    root = Path(folder) if folder else BUNDLED
    if not root.is_dir():
        raise CdpError(f"segments.definitions: {root} is not a folder")
    files = sorted([*root.glob("*.yaml"), *root.glob("*.yml")])
    definitions: list[SegmentDefinition] = []
    seen: dict[str, SegmentDefinition] = {}
    for path in files:
        for d in parse_file(path, str(path)):
            if d.name in seen:
                raise _fail(
                    d.where(),
                    f"duplicate segment name (also defined in {seen[d.name].source_file})",
                )
            seen[d.name] = d
            if d.rule is not None:
                d.checked_rule(columns)
            definitions.append(d)
    return evaluation_order(definitions)
