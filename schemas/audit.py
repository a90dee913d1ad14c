"""Audit schemas for GDPR requests: what was asked, what was done, who must never come back.

Neither table holds a raw identifier: subjects are referred to by a keyed hash
(HMAC-SHA256 under the warehouse's subject key, jobs/governance/keys.py), so the audit trail
itself does not undo an erasure.
"""

from __future__ import annotations

from schemas.fields import ID_DIRECT, Field, Schema

GDPR_REQUEST_KINDS = ("access", "erase")
GDPR_OUTCOMES = ("completed", "not_found")

GDPR_REQUEST = Schema(
    name="audit.gdpr_requests",
    description="GDPR access and erasure requests: kind, subject as a keyed hash (never the raw identifiers), when received and completed, outcome, rows affected per table.",
    grain="one row per GDPR request",
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
    description="Keyed hashes of erased subjects' identifiers; bronze does not land rows that carry one, so tomorrow's extracts do not bring the person back.",
    grain="one row per (namespace, identifier hash) of an erased subject",
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
    description="Every activation export: destination, segment, purpose, fields, rows, changes since the previous export, withheld for consent, checksum and path.",
    grain="one row per (destination, batch date)",
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

# The guard rails' cuts, written by the identity job; like the graph's edges, not a conformed
# class (no entry in AUDIT_SCHEMAS) and no masked view.
IDENTITY_CUTS = Schema(
    name="audit.identity_cuts",
    description="Identifiers and edges the guard rails refused to link on, with reason: "
    "blocked_value, shared_identifier, household_identifier, bridging_record, weak_link, "
    "links_several_persons, event_joins_persons, profile_limit.",
    grain="one row per (identifier, reason, batch date) kept out of linking",
    partition_by=("batch_date",),
    fields=(
        Field("namespace", "string", "Namespace of the identifier kept out of linking."),
        Field("value", "string", "The identifier, normalised.", labels=ID_DIRECT),
        Field(
            "reason",
            "string",
            "blocked_value, shared_identifier, household_identifier, bridging_record, "
            "weak_link, links_several_persons, event_joins_persons or profile_limit "
            "(docs/identity.md).",
        ),
        # A cut's detail names what the identifier was seen with ("seen with crm_id:X").
        Field("detail", "string", "Readable detail of the cut.", labels=ID_DIRECT),
        Field("records", "long", "Records that carried the identifier."),
        Field("batch_date", "date", "The nightly run that made the cut."),
        Field("cut_at", "timestamp", "When the cut was made (the run's time, UTC)."),
    ),
    raw=True,
)

AUDIT_SCHEMAS = {s.name: s for s in (GDPR_REQUEST, SUPPRESSION, ACTIVATION_EXPORTS)}
