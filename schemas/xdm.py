"""Silver schemas: XDM-like classes every source is standardised to.

Like Adobe's Experience Data Model, a few classes cover all sources: a person record (CRM and
loyalty), an experience event (web and app), a commerce line (POS receipt lines and web
purchases) and a consent event. Every class keeps lineage back to its bronze row, the
identities it carries for the identity graph, and the per-field problems found.
The checks for these tables live beside them in expectations/.
"""

from __future__ import annotations

from schemas.fields import (
    ID_DIRECT,
    ID_INDIRECT,
    ID_SENSITIVE,
    Field,
    Schema,
)

# Identity namespaces (CONTRACTS.md gold.identity_map). Persistent ones identify a person on
# their own; linked ones tie behaviour to a person when seen together with another identifier.
PERSISTENT_NAMESPACES = ("email", "phone")
LINKED_NAMESPACES = ("crm_id", "loyalty_id", "anonymous_id", "device_id", "card_token")
NAMESPACES = PERSISTENT_NAMESPACES + LINKED_NAMESPACES

IDENTITIES_TYPE = "array<struct<namespace:string,value:string>>"
CONSENT_VALUES = ("granted", "denied", "unknown")
CONSENT_PURPOSES = ("email", "sms", "personalization", "ad_sharing")
# Every processing purpose a profile holds consent for (gold.profiles). CONSENT_PURPOSES are
# the ones a source captures today (silver); analytics stays unknown until one does.
PURPOSES = (*CONSENT_PURPOSES, "analytics")
# GDPR article 6: the lawful basis a purpose is processed on (governance.purposes).
LAWFUL_BASES = (
    "consent",
    "contract",
    "legitimate_interest",
    "legal_obligation",
    "public_interest",
    "vital_interest",
)
# Accepted values of the source, channel columns (CONTRACTS.md section 1).
SOURCE_NAMES = ("crm", "loyalty", "pos", "web")
PERSON_SOURCES = ("crm", "loyalty")
CHANNELS = ("store", "web", "app")

LINEAGE = (
    Field("batch_date", "date", "Business day of the extract the row came from.", False),
    Field("source_file", "string", "Landed file the row came from."),
    Field("file_sha256", "string", "SHA-256 of that file's content."),
    Field("row_number", "bigint", "Row number (1-based) within that file."),
)
IDENTITIES = Field(
    "identities",
    IDENTITIES_TYPE,
    "Normalised identifiers this row carries, as (namespace, value) pairs for the identity graph.",
    labels=ID_DIRECT,
)
ISSUES = Field(
    "issues",
    "array<string>",
    "Fields that could not be parsed and were nulled, as 'field:issue_code'. Empty when clean.",
)
EXTRA = Field(
    "extra",
    "map<string,string>",
    "Columns the source sent beyond the contract, kept verbatim.",
    # Nobody described them: they may hold anything, so they are treated as identifying.
    labels=ID_DIRECT,
)


def _name_fields() -> tuple[Field, ...]:
    return (
        Field("first_name", "string", "Given name, Unicode NFC, tidy case.", labels=ID_DIRECT),
        Field("last_name", "string", "Family name, Unicode NFC, tidy case.", labels=ID_DIRECT),
        Field(
            "first_name_key",
            "string",
            "Given name folded for matching (no accents, lower case).",
            labels=ID_DIRECT,
        ),
        Field("last_name_key", "string", "Family name folded for matching.", labels=ID_DIRECT),
        Field("email", "string", "Email, trimmed and lower-cased.", labels=ID_DIRECT),
        Field("email_is_valid", "boolean", "Whether the email is syntactically valid."),
        Field(
            "email_key",
            "string",
            "Canonical email for identity (no +tag; gmail without dots). Null when invalid.",
            labels=ID_DIRECT,
        ),
        Field(
            "phone",
            "string",
            "Phone number in E.164; null when it could not be parsed.",
            labels=ID_DIRECT,
        ),
        Field("street", "string", "Street address as given, tidied.", labels=ID_DIRECT),
        Field(
            "postal_code",
            "string",
            "Postal code in the country's usual format.",
            labels=ID_INDIRECT,
        ),
        Field("city", "string", "City.", labels=ID_INDIRECT),
        Field("region", "string", "Region or state.", labels=ID_INDIRECT),
        Field("country", "string", "ISO 3166-1 alpha-2 country code."),
        Field(
            "birth_date",
            "date",
            "Date of birth; null when invalid (see issues).",
            labels=ID_SENSITIVE,
        ),
    )


PERSON_RECORD = Schema(
    name="silver.person_records",
    description="CRM and loyalty person records standardised to the XDM-like person class.",
    grain="one row per usable CRM or loyalty record version",
    partition_by=("source",),
    key=("record_id", "file_sha256", "row_number"),
    fields=(
        Field(
            "record_id",
            "string",
            "Source record id: '<source>:<source key>'.",
            False,
            labels=ID_INDIRECT,
        ),
        Field("source", "string", "crm or loyalty.", False, accepted=PERSON_SOURCES),
        Field(
            "source_key",
            "string",
            "The source's own key (crm_id or loyalty_id).",
            False,
            ID_INDIRECT,
        ),
        *_name_fields(),
        Field(
            "loyalty_id",
            "string",
            "Loyalty card the person registered (CRM) or holds (loyalty).",
            labels=ID_INDIRECT,
        ),
        Field("loyalty_tier", "string", "Loyalty tier (loyalty records)."),
        Field("points_balance", "bigint", "Loyalty points balance (loyalty records)."),
        Field(
            "loyalty_status",
            "string",
            "active or closed (loyalty records).",
            accepted=("active", "closed"),
        ),
        Field("enrolled_at", "timestamp", "When the member enrolled (loyalty records)."),
        *[
            Field(
                f"consent_{p}",
                "string",
                f"Consent for {p.replace('_', ' ')}: granted, denied or unknown.",
                accepted=CONSENT_VALUES,
            )
            for p in CONSENT_PURPOSES
        ],
        Field("consent_updated_at", "timestamp", "When the consent values were captured (UTC)."),
        Field("created_at", "timestamp", "When the source created the record (UTC)."),
        Field("updated_at", "timestamp", "When the source last changed the record (UTC)."),
        Field(
            "record_ts",
            "timestamp",
            "Effective time of this version: updated_at, else created_at, else the batch date.",
            False,
        ),
        IDENTITIES,
        ISSUES,
        EXTRA,
        *LINEAGE,
    ),
)

EXPERIENCE_EVENT = Schema(
    name="silver.experience_events",
    description="Web and app behaviour standardised to the XDM-like experience-event class.",
    grain="one row per usable web or app event",
    partition_by=("batch_date",),
    key=("event_id",),
    fields=(
        Field("event_id", "string", "The event's id from the source.", False),
        Field("event_ts", "timestamp", "When the event happened (UTC)."),
        Field("channel", "string", "web or app.", accepted=("web", "app")),
        Field("event_type", "string", "page_view, product_view, add_to_cart, purchase, login, ..."),
        Field("anonymous_id", "string", "Browser cookie id.", labels=ID_INDIRECT),
        Field("device_id", "string", "App device id.", labels=ID_INDIRECT),
        Field(
            "crm_id",
            "string",
            "The CRM id of a logged-in user (source field user_id).",
            labels=ID_INDIRECT,
        ),
        Field(
            "email", "string", "Email typed into a form, trimmed and lower-cased.", labels=ID_DIRECT
        ),
        Field("email_is_valid", "boolean", "Whether that email is syntactically valid."),
        Field(
            "email_key",
            "string",
            "Canonical email for identity; null when invalid.",
            labels=ID_DIRECT,
        ),
        Field("page_url", "string", "Page or screen."),
        Field("sku", "string", "Product SKU for product events."),
        Field("order_id", "string", "Order id of a purchase event."),
        Field("revenue", "decimal(18,2)", "Order revenue of a purchase event, in currency."),
        Field("currency", "string", "ISO 4217 currency of revenue."),
        Field("ip", "string", "Client IP address.", labels=ID_INDIRECT),
        Field("user_agent", "string", "Client user agent."),
        IDENTITIES,
        ISSUES,
        EXTRA,
        *LINEAGE,
    ),
)

COMMERCE_LINE = Schema(
    name="silver.commerce_lines",
    description="Commerce lines from POS receipts and web purchase events, typed, signed amounts.",
    grain="one row per purchase or return line (POS receipt line or web purchase)",
    partition_by=("batch_date",),
    key=("line_id",),
    fields=(
        Field(
            "line_id",
            "string",
            "'pos:<transaction_id>:<line_no>' or 'web:<order_id>:<event_id>'.",
            False,
        ),
        Field("source", "string", "pos or web.", False, accepted=("pos", "web")),
        Field("order_id", "string", "POS transaction_id or web order_id: one purchase.", False),
        Field("line_no", "int", "Line number within the receipt (web: 1)."),
        Field("ordered_at", "timestamp", "When the purchase happened (UTC)."),
        Field("channel", "string", "store, web or app.", accepted=CHANNELS),
        Field("store_id", "string", "Store of a POS receipt."),
        Field("loyalty_id", "string", "Loyalty card swiped at the till.", labels=ID_INDIRECT),
        Field("card_token", "string", "Tokenised payment card.", labels=ID_INDIRECT),
        Field("crm_id", "string", "CRM id of the logged-in web buyer.", labels=ID_INDIRECT),
        Field("anonymous_id", "string", "Cookie of the web buyer.", labels=ID_INDIRECT),
        Field("device_id", "string", "App device of the buyer.", labels=ID_INDIRECT),
        Field("sku", "string", "Product SKU."),
        Field("product_name", "string", "Product name."),
        Field("category", "string", "Product category."),
        Field("quantity", "int", "Units; negative for a return."),
        Field("unit_price", "decimal(18,2)", "Price per unit, in currency."),
        Field(
            "amount", "decimal(18,2)", "quantity x unit_price (negative for returns), in currency."
        ),
        Field("currency", "string", "ISO 4217 currency."),
        Field("is_return", "boolean", "Whether the line returns goods (quantity < 0)."),
        IDENTITIES,
        ISSUES,
        *LINEAGE,
    ),
)

CONSENT_EVENT = Schema(
    name="silver.consent_events",
    description="Consent captures per purpose from CRM and loyalty records, with time and source.",
    grain="one row per (record, purpose) consent capture",
    key=("record_id", "purpose", "file_sha256", "row_number"),
    fields=(
        Field(
            "record_id",
            "string",
            "Person record the capture came with.",
            False,
            labels=ID_INDIRECT,
        ),
        Field("source", "string", "crm or loyalty.", False, accepted=PERSON_SOURCES),
        Field(
            "purpose",
            "string",
            "email, sms, personalization or ad_sharing.",
            False,
            accepted=CONSENT_PURPOSES,
        ),
        Field(
            "value",
            "string",
            "granted, denied or unknown (unknown is never granted).",
            False,
            accepted=CONSENT_VALUES,
        ),
        Field(
            "captured_at",
            "timestamp",
            "When the value was captured (consent_updated_at, else record time).",
        ),
        Field(
            "identities",
            IDENTITIES_TYPE,
            "Identifiers of the record, to resolve the person.",
            labels=ID_DIRECT,
        ),
        *LINEAGE,
    ),
)

QUARANTINE_REASONS = (
    "missing_key",
    "duplicate_key",
    "malformed_csv_row",
    "invalid_utf8",
    "malformed_json",
)

QUARANTINE = Schema(
    name="silver.quarantine",
    description="Bronze rows held back from silver, with a reason code and the raw record.",
    grain="one row per bronze row that could not be used",
    partition_by=("source",),
    key=("source", "file_sha256", "row_number"),
    fields=(
        Field("source", "string", "crm, loyalty, pos or web.", False, accepted=SOURCE_NAMES),
        Field(
            "reason_code",
            "string",
            "Why: missing_key, duplicate_key, malformed_csv_row, invalid_utf8, malformed_json.",
            False,
            accepted=QUARANTINE_REASONS,
        ),
        Field("reason_detail", "string", "Human-readable detail."),
        Field(
            "raw_record",
            "string",
            "The bronze row as JSON (or the unparsed text).",
            labels=ID_DIRECT,
        ),
        Field("quarantined_at", "timestamp", "When the row was quarantined."),
        *LINEAGE,
    ),
)

# The identity graph's edges, written whole each night by the identity job. Not a conformed
# class (no entry in SCHEMAS): its suite is the small one in expectations/suites.py.
IDENTITY_EDGES = Schema(
    name="silver.identity_edges",
    description="Identity graph edges: identifiers seen together in one record (method "
    "deterministic: kind, source, first/last seen, records behind them) or person records "
    "matched by the probabilistic model (method probabilistic, with match_probability and "
    "match_weight).",
    grain="one row per (identifier pair, source) that linked",
    fields=(
        Field("src", "long", "Vertex id (64-bit) of one identifier."),
        Field("dst", "long", "Vertex id (64-bit) of the other identifier."),
        Field(
            "method",
            "string",
            "deterministic (seen together in a record) or probabilistic (matched by the "
            "person model).",
        ),
        Field(
            "kind",
            "string",
            "What linked them: the record kind they were seen in, or person_match.",
        ),
        Field("src_namespace", "string", "Namespace of the src identifier."),
        Field("src_value", "string", "The src identifier, normalised.", labels=ID_DIRECT),
        Field("dst_namespace", "string", "Namespace of the dst identifier."),
        Field("dst_value", "string", "The dst identifier, normalised.", labels=ID_DIRECT),
        Field(
            "source", "string", "Source system whose records linked them (crm, loyalty, pos, web)."
        ),
        Field("first_seen", "timestamp", "First time a record linked them (UTC)."),
        Field("last_seen", "timestamp", "Last time a record linked them (UTC)."),
        Field("records", "long", "Records that linked them."),
        Field(
            "strength_rank",
            "int",
            "Edge strength for profile limits: lower is stronger (probabilistic edges and "
            "weaker namespaces are dropped first).",
        ),
        Field(
            "match_probability",
            "double",
            "The person model's match probability (probabilistic edges).",
        ),
        Field(
            "match_weight",
            "double",
            "The person model's match weight, log2 Bayes factor (probabilistic edges).",
        ),
    ),
    raw=True,
)

SCHEMAS = {
    s.name: s for s in (PERSON_RECORD, EXPERIENCE_EVENT, COMMERCE_LINE, CONSENT_EVENT, QUARANTINE)
}
