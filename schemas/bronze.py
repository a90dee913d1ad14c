"""Bronze: each source's extract rows as landed (every value verbatim as text, plus lineage),
and the log of every landed file.

A landed table's columns are its source's contract columns (schemas/landing.py, CONTRACTS.md
section 1), each labelled by what the contract says it holds, then the lineage columns bronze
adds. A file may carry more columns than its contract; bronze keeps them too, and
schemas/comments.py and schemas/labels.py describe such a column as unknown and identifying.
"""

from __future__ import annotations

from schemas.fields import ID_DIRECT, ID_INDIRECT, ID_SENSITIVE, Field, Schema
from schemas.landing import LINEAGE_COLUMNS, SOURCES, LandingSpec

# What each landed column holds (CONTRACTS.md section 1); others carry no personal data.
LANDED_LABELS: dict[str, frozenset[str]] = {
    "first_name": ID_DIRECT,
    "last_name": ID_DIRECT,
    "email": ID_DIRECT,
    "phone": ID_DIRECT,
    "street": ID_DIRECT,
    "postal_code": ID_INDIRECT,
    "city": ID_INDIRECT,
    "region": ID_INDIRECT,
    "birth_date": ID_SENSITIVE,
    "crm_id": ID_INDIRECT,
    "user_id": ID_INDIRECT,
    "loyalty_id": ID_INDIRECT,
    "card_token": ID_INDIRECT,
    "anonymous_id": ID_INDIRECT,
    "device_id": ID_INDIRECT,
    "ip": ID_INDIRECT,
}

LINEAGE: tuple[Field, ...] = (
    Field("_source_file", "string", "Landed file the row came from (its URI)."),
    Field(
        "_file_sha256",
        "string",
        "SHA-256 of that file's content: a file landed twice is recognised by it.",
    ),
    Field("_batch_date", "date", "Business day of the extract (the landing folder's date)."),
    Field("_ingested_at", "timestamp", "When the row was landed into bronze (UTC)."),
    Field("_row_number", "long", "Row number (1-based) within its file."),
    Field(
        "_malformed_reason",
        "string",
        "Why the parser could not read the row (malformed_csv_row, invalid_utf8, "
        "malformed_json); null for a readable row.",
    ),
    Field(
        "_raw_record",
        "string",
        "The row as it stood in the file, for rows that could not be parsed.",
        labels=ID_DIRECT,
    ),
)
assert tuple(f.name for f in LINEAGE) == LINEAGE_COLUMNS

_LINEAGE_NOTE = (
    "Lineage columns _source_file, _file_sha256, _batch_date, _ingested_at, _row_number."
)
_LANDED = {
    "crm": ("CRM customer extract rows as landed, every value verbatim as text.",
            "one row per landed CRM file row"),
    "loyalty": ("Loyalty member extract rows as landed, verbatim.",
                "one row per landed loyalty file row"),
    "pos": ("Point-of-sale receipt lines as landed, verbatim.", "one row per landed receipt line"),
    "web": ("Web and app events (JSON Lines) as landed; _raw_record keeps the line.",
            "one row per landed web/app event line"),
}  # fmt: skip


def landed(spec: LandingSpec) -> Schema:
    """The bronze table of one source: its contract's columns as text, then lineage."""
    description, grain = _LANDED[spec.source]
    return Schema(
        name=spec.bronze_table,
        description=f"{description} {_LINEAGE_NOTE}",
        grain=grain,
        partition_by=("_batch_date",),
        fields=(
            *(
                Field(
                    c,
                    "string",
                    f"`{c}` as landed in the {spec.source} extract, verbatim text "
                    "(CONTRACTS.md section 1).",
                    labels=LANDED_LABELS.get(c, frozenset()),
                )
                for c in spec.columns
            ),
            *LINEAGE,
        ),
        raw=True,
    )


FILE_LOG = Schema(
    name="bronze.file_log",
    description="Every landed file the bronze job saw: content hash, rows, outcome and error.",
    grain="one row per (landed file, ingestion attempt)",
    fields=(
        Field("source", "string", "crm, loyalty, pos or web.", accepted=tuple(SOURCES)),
        Field("batch_date", "date", "Business day the file was landed for."),
        Field("file_path", "string", "Where the file was found (URI)."),
        Field("file_name", "string", "The file's name."),
        Field("file_sha256", "string", "SHA-256 of the file's content."),
        Field("file_bytes", "long", "Size of the file in bytes."),
        Field("rows", "long", "Rows landed from the file into bronze."),
        Field(
            "malformed_rows",
            "long",
            "Of those, rows the parser could not read (kept with _malformed_reason).",
        ),
        Field(
            "suppressed_rows",
            "long",
            "Rows not landed because they carry an erased person's identifier "
            "(audit.suppression_list); rows in the file = rows + suppressed_rows.",
        ),
        Field(
            "status",
            "string",
            "ingested, duplicate (same content landed before) or failed.",
            accepted=("ingested", "duplicate", "failed"),
        ),
        Field("error", "string", "Why a failed file failed (one line)."),
        Field("logged_at", "timestamp", "When this attempt was logged (UTC)."),
    ),
)

BRONZE_SCHEMAS: dict[str, Schema] = {
    s.name: s for s in (*(landed(SOURCES[n]) for n in ("crm", "loyalty", "pos", "web")), FILE_LOG)
}
