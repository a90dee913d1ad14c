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

AUDIT_SCHEMAS = {s.name: s for s in (GDPR_REQUEST, SUPPRESSION)}
