"""Column comments of every table (what `DESCRIBE TABLE` shows), read from each table's one
description (schemas/tables.py).

``cdp/core/catalog.py`` attaches these to any column that has no comment yet when it writes
a table, so a table is created with every column described; a bronze column the extract
carried beyond its contract gets a generic comment.
"""

from __future__ import annotations

from schemas.tables import TABLES


def column_comments(table: str) -> dict[str, str]:
    """Column name -> comment for a registered table (empty for an unknown one)."""
    schema = TABLES.get(table)
    return {f.name: f.description for f in schema.fields} if schema is not None else {}


def column_comment(table: str, column: str) -> str | None:
    """The comment of one column; bronze's extra landed columns get a generic one."""
    comment = column_comments(table).get(column)
    if comment is None and table.startswith("bronze.") and table != "bronze.file_log":
        return f"`{column}`: a column the extract carried beyond its contract, kept verbatim."
    return comment
