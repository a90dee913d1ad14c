"""Reference pages generated from the code they describe, so they cannot drift from it:

- docs/settings.md from the settings dataclasses (cdp/core/settings.py): every key, its
  default and the comment written above the field;
- docs/tables.md from the table schemas (schemas/tables.py): every table's grain,
  partitioning, description and columns with types, data-usage labels and comments.

`make docs` rewrites both; tests/test_docs.py fails when a committed page differs from what
this module generates.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import re
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
ANALYSTS = REPO / "docs" / "analysts.md"


def analysts_questions() -> list[str]:
    """The ```sql blocks of docs/analysts.md, in order: the analysts' worked questions, which
    the tests run (also through the SQL endpoint) and `make bench-sql` times."""
    text = ANALYSTS.read_text(encoding="utf-8")
    return [q.strip() for q in re.findall(r"^```sql\n(.*?)^```", text, re.S | re.M)]


DOCS = REPO / "docs"


# -- settings ---------------------------------------------------------------------------------


def _field_comments(cls: type) -> dict[str, str]:
    """Field name -> the ``#`` comment lines right above it in ``cls``'s source, or its
    trailing comment."""
    source = inspect.getsource(cls)
    lines = source.splitlines()
    tree = ast.parse(source)
    body = tree.body[0].body  # type: ignore[attr-defined]
    out: dict[str, str] = {}
    for node in body:
        if not isinstance(node, ast.AnnAssign) or not isinstance(node.target, ast.Name):
            continue
        name, first = node.target.id, node.lineno - 1
        comment = []
        i = first - 1
        while i >= 0 and lines[i].strip().startswith("#"):
            comment.insert(0, lines[i].strip().lstrip("#").strip())
            i -= 1
        trailing = lines[first].split("  # ", 1)[1].strip() if "  # " in lines[first] else ""
        if comment or trailing:
            out[name] = " ".join([*comment, trailing]).strip()
    return out


def _default(value: Any) -> str:
    if value == "" or value == () or value == {}:
        return "(empty)"
    if dataclasses.is_dataclass(value):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        if all(dataclasses.is_dataclass(v) for v in value.values()):
            return ", ".join(value)
        text = ", ".join(f"{k}: {_short(v)}" for k, v in value.items())
    elif isinstance(value, tuple):
        text = ", ".join(_short(v) for v in value)
    else:
        text = _short(value)
    return text


def _short(value: Any) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(_short(v) for v in value) + ")"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def settings_page() -> str:
    from cdp.core import settings as settings_module
    from cdp.core.settings import Settings

    defaults = Settings()
    out = [
        "# Settings reference",
        "",
        "Generated from `cdp/core/settings.py` by `make docs` (do not edit by hand).",
        "",
        inspect.cleandoc(settings_module.__doc__ or ""),
        "",
    ]
    for section in dataclasses.fields(Settings):
        value = getattr(defaults, section.name)
        if not dataclasses.is_dataclass(value):
            continue
        cls = type(value)
        out += [f"## `{section.name}`", "", _first_paragraph(cls.__doc__ or ""), ""]
        out += ["| key | default | meaning |", "|---|---|---|"]
        comments = _field_comments(cls)
        for f in dataclasses.fields(cls):
            key = f"{section.name}.{f.name}"
            default = _default(getattr(value, f.name))
            # Local paths differ from machine to machine: show where they point instead.
            if section.name == "paths" or key == "sql_endpoint.users_file":
                default = _relative(default)
            meaning = comments.get(f.name, "")
            out.append(f"| `{key}` | `{_cell(default)}` | {_cell(meaning)} |")
        out.append("")
        nested = [v for v in vars(value).values() if isinstance(v, dict)]
        for d in nested:
            items = list(d.values())
            if items and dataclasses.is_dataclass(items[0]):
                sub = type(items[0])
                out += [
                    f"Each entry of `{section.name}` names a `{sub.__name__}`: "
                    + _first_paragraph(sub.__doc__ or ""),
                    "",
                    "| field | default | meaning |",
                    "|---|---|---|",
                ]
                sub_comments = _field_comments(sub)
                for f in dataclasses.fields(sub):
                    default = _default(getattr(sub(), f.name))
                    meaning = sub_comments.get(f.name, "")
                    out.append(f"| `{f.name}` | `{_cell(default)}` | {_cell(meaning)} |")
                out.append("")
    return "\n".join(out).rstrip() + "\n"


def _relative(path: str) -> str:
    try:
        return str(Path(path).relative_to(REPO))
    except ValueError:
        return path


def _first_paragraph(doc: str) -> str:
    return " ".join(inspect.cleandoc(doc).split("\n\n", 1)[0].split())


# -- tables -----------------------------------------------------------------------------------


def tables_page() -> str:
    from schemas.tables import TABLES

    out = [
        "# Tables",
        "",
        "Generated from the table schemas (`schemas/tables.py`) by `make docs` (do not edit by",
        "hand). Every table is stored as Delta at `<warehouse>/<layer>/<entity>` and answers by",
        "name in `cdp sql`. Labels: I1 identifies a person on its own, I2 in combination, S1",
        "sensitive, C2 never exported to a third party, C9 never used by models. Raw tables hold",
        "identifiers in every row: analysts do not see them unless granted full access",
        "(docs/governance.md).",
        "",
        "| table | grain | partitioned by |",
        "|---|---|---|",
    ]
    for name, schema in TABLES.items():
        parts = ", ".join(schema.partition_by) or "-"
        out.append(f"| [`{name}`](#{_anchor(name)}) | {schema.grain} | {parts} |")
    out.append("")
    for name, schema in TABLES.items():
        out += _table_section(name, schema)
    return "\n".join(out).rstrip() + "\n"


def _anchor(name: str) -> str:
    return name.replace(".", "")


def _table_section(name: str, schema: Any) -> list[str]:
    facts = [f"Grain: {schema.grain}."]
    if schema.key:
        facts.append(f"Key: {', '.join(schema.key)}.")
    if schema.partition_by:
        facts.append(f"Partitioned by {', '.join(schema.partition_by)}.")
    if schema.raw:
        facts.append("Raw: no masked view.")
    out = [f"## {name}", "", schema.description, "", " ".join(facts), ""]
    out += ["| column | type | labels | meaning |", "|---|---|---|---|"]
    for f in schema.fields:
        meaning = f.description
        if f.accepted:
            meaning += " Accepted: " + ", ".join(f.accepted) + "."
        if not f.nullable:
            meaning += " Never null."
        labels = " ".join(sorted(f.labels)) or "-"
        out.append(f"| `{f.name}` | `{_cell(f.dtype)}` | {labels} | {_cell(meaning)} |")
    out.append("")
    return out


PAGES = {"settings.md": settings_page, "tables.md": tables_page}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cdp_dev.docs", description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail when a page is stale")
    args = parser.parse_args(argv)
    stale = []
    for name, page in PAGES.items():
        path, text = DOCS / name, page()
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(REPO)}")
    if stale:
        print(f"stale: {', '.join(stale)}; run make docs", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
