"""Column comments of every published table, in one place (what `DESCRIBE TABLE` shows).

Silver and gold columns take the description of their schema field (schemas/xdm.py,
schemas/gold.py). The tables without a conformed schema are described here: bronze (the
landed columns verbatim, plus lineage), the file log, the identity graph's edges and the
guard rails' cuts. ``cdp/core/catalog.py`` attaches these to any column that has no comment yet
when it writes a table, so a table is created with every column described.
"""

from __future__ import annotations

from schemas.audit import AUDIT_SCHEMAS
from schemas.gold import GOLD_SCHEMAS
from schemas.landing import SOURCES
from schemas.xdm import SCHEMAS as SILVER_SCHEMAS

BRONZE_LINEAGE = {
    "_source_file": "Landed file the row came from (its URI).",
    "_file_sha256": "SHA-256 of that file's content: a file landed twice is recognised by it.",
    "_batch_date": "Business day of the extract (the landing folder's date).",
    "_ingested_at": "When the row was landed into bronze (UTC).",
    "_row_number": "Row number (1-based) within its file.",
    "_malformed_reason": "Why the parser could not read the row (malformed_csv_row, "
    "invalid_utf8, malformed_json); null for a readable row.",
    "_raw_record": "The row as it stood in the file, for rows that could not be parsed.",
}

FILE_LOG = {
    "source": "crm, loyalty, pos or web.",
    "batch_date": "Business day the file was landed for.",
    "file_path": "Where the file was found (URI).",
    "file_name": "The file's name.",
    "file_sha256": "SHA-256 of the file's content.",
    "file_bytes": "Size of the file in bytes.",
    "rows": "Rows landed from the file into bronze.",
    "malformed_rows": "Of those, rows the parser could not read (kept with _malformed_reason).",
    "suppressed_rows": "Rows not landed because they carry an erased person's identifier "
    "(audit.suppression_list); rows in the file = rows + suppressed_rows.",
    "status": "ingested, duplicate (same content landed before) or failed.",
    "error": "Why a failed file failed (one line).",
    "logged_at": "When this attempt was logged (UTC).",
}

IDENTITY_EDGES = {
    "src": "Vertex id (64-bit) of one identifier.",
    "dst": "Vertex id (64-bit) of the other identifier.",
    "method": "deterministic (seen together in a record) or probabilistic (matched by the "
    "person model).",
    "kind": "What linked them: the record kind they were seen in, or person_match.",
    "src_namespace": "Namespace of the src identifier.",
    "src_value": "The src identifier, normalised.",
    "dst_namespace": "Namespace of the dst identifier.",
    "dst_value": "The dst identifier, normalised.",
    "source": "Source system whose records linked them (crm, loyalty, pos, web).",
    "first_seen": "First time a record linked them (UTC).",
    "last_seen": "Last time a record linked them (UTC).",
    "records": "Records that linked them.",
    "strength_rank": "Edge strength for profile limits: lower is stronger (probabilistic "
    "edges and weaker namespaces are dropped first).",
    "match_probability": "The person model's match probability (probabilistic edges).",
    "match_weight": "The person model's match weight, log2 Bayes factor (probabilistic edges).",
}

IDENTITY_CUTS = {
    "namespace": "Namespace of the identifier kept out of linking.",
    "value": "The identifier, normalised.",
    "reason": "blocked_value, shared_identifier, household_identifier, weak_link, "
    "links_several_persons, event_joins_persons or profile_limit (README: identity).",
    "detail": "Readable detail of the cut.",
    "records": "Records that carried the identifier.",
    "batch_date": "The nightly run that made the cut.",
    "cut_at": "When the cut was made (the run's time, UTC).",
}


def column_comments(table: str) -> dict[str, str]:
    """Column name -> comment for a registered table (empty for an unknown one)."""
    if table in GOLD_SCHEMAS:
        return {f.name: f.description for f in GOLD_SCHEMAS[table].fields}
    if table in SILVER_SCHEMAS:
        return {f.name: f.description for f in SILVER_SCHEMAS[table].fields}
    if table in AUDIT_SCHEMAS:
        return {f.name: f.description for f in AUDIT_SCHEMAS[table].fields}
    if table == "bronze.file_log":
        return FILE_LOG
    if table == "silver.identity_edges":
        return IDENTITY_EDGES
    if table == "audit.identity_cuts":
        return IDENTITY_CUTS
    for spec in SOURCES.values():
        if spec.bronze_table == table:
            landed = {
                c: f"`{c}` as landed in the {spec.source} extract, verbatim text "
                "(CONTRACTS.md section 1)."
                for c in spec.columns
            }
            return {**landed, **BRONZE_LINEAGE}
    return {}


def column_comment(table: str, column: str) -> str | None:
    """The comment of one column; bronze's extra landed columns get a generic one."""
    comment = column_comments(table).get(column)
    if comment is None and table.startswith("bronze.") and table != "bronze.file_log":
        return f"`{column}`: a column the extract carried beyond its contract, kept verbatim."
    return comment
