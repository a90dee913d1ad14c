"""Audit schemas for GDPR requests: what was asked, what was done, who must never come back.

Neither table holds a raw identifier: subjects are referred to by a keyed hash
(HMAC-SHA256 under the warehouse's subject key, jobs/governance/keys.py), so the audit trail
itself does not undo an erasure.
"""

from __future__ import annotations

from schemas.fields import Field, Schema

GDPR_REQUEST_KINDS = ("access", "erase")
GDPR_OUTCOMES = ("completed", "not_found")

GDPR_REQUEST = Schema(
    name="audit.gdpr_requests",
    description="One row per GDPR request (access or erasure) and what it did.",
    key=("request_id",),
    fields=(
        Field("request_id", "string", "Request id (UUID), also in the access export.", False),
        Field(
            "kind",
            "string",
            "access (Articles 15 and 20) or erase (Article 17).",
            False,
            accepted=GDPR_REQUEST_KINDS,
        ),
        Field(
            "subject_ref",
            "string",
            "Keyed hash (HMAC-SHA256) of the identifier the request named, as "
            "'<namespace>:<normalised value>'; never the identifier itself.",
            False,
        ),
        Field("namespace", "string", "Namespace of the identifier the request named.", False),
        Field("received_at", "timestamp", "When the request was received (UTC).", False),
        Field("completed_at", "timestamp", "When it was completed (UTC)."),
        Field(
            "outcome",
            "string",
            "completed, or not_found when no table held the subject.",
            False,
            accepted=GDPR_OUTCOMES,
        ),
        Field("profiles", "bigint", "Profiles the subject resolved to."),
        Field("identifiers", "bigint", "Identifiers of the subject found in the identity graph."),
        Field(
            "rows_affected",
            "map<string,bigint>",
            "Rows exported (access) or deleted (erase) per table.",
        ),
        Field("files_removed", "bigint", "Data files physically removed by VACUUM (erase)."),
    ),
)

SUPPRESSION = Schema(
    name="audit.suppression_list",
    description="Identifiers of erased subjects, as keyed hashes: landed rows carrying one "
    "are not ingested again.",
    key=("namespace", "identifier_hash"),
    fields=(
        Field("namespace", "string", "Identifier namespace (email, phone, crm_id, ...).", False),
        Field(
            "identifier_hash",
            "string",
            "Keyed hash (HMAC-SHA256) of the normalised identifier.",
            False,
        ),
        Field("request_id", "string", "The erasure request that added it.", False),
        Field("suppressed_at", "timestamp", "When it was added (UTC).", False),
    ),
)

EXPORT_FORMATS = ("csv", "parquet")

ACTIVATION_EXPORTS = Schema(
    name="audit.activation_exports",
    description="One row per (destination, batch date) export of a segment to a channel.",
    key=("destination", "batch_date"),
    fields=(
        Field("destination", "string", "Destination name (activation.destinations).", False),
        Field("segment", "string", "The segment exported.", False),
        Field("purpose", "string", "The purpose the destination serves.", False),
        Field("format", "string", "csv or parquet.", False, accepted=EXPORT_FORMATS),
        Field("third_party", "boolean", "Whether the destination is a third party.", False),
        Field("fields", "array<string>", "The fields exported, in order.", False),
        Field("rows", "bigint", "Profiles in the export.", False),
        Field("added", "bigint", "Profiles added since the previous export.", False),
        Field("removed", "bigint", "Profiles removed since the previous export.", False),
        Field(
            "withheld",
            "bigint",
            "Segment members not exported because their consent does not allow the "
            "destination's purpose.",
            False,
        ),
        Field("path", "string", "Folder of the export (data file, changes, manifest).", False),
        Field("checksum", "string", "SHA-256 of the data file (also in the manifest).", False),
        Field("batch_date", "date", "The batch date exported.", False),
        Field("generated_at", "timestamp", "When the export was written (UTC).", False),
    ),
)

AUDIT_SCHEMAS = {s.name: s for s in (GDPR_REQUEST, SUPPRESSION, ACTIVATION_EXPORTS)}
