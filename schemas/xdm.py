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
    description="Person record class: one row per usable CRM or loyalty record version.",
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
    description="Experience-event class: one row per usable web or app event.",
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
    description="Commerce line class: one row per purchase or return line, in store or online.",
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
    description="Consent event class: one row per (record version, purpose) consent capture.",
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
    description="Bronze rows that could not be used, with the reason; nothing is dropped silently.",
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

SCHEMAS = {
    s.name: s for s in (PERSON_RECORD, EXPERIENCE_EVENT, COMMERCE_LINE, CONSENT_EVENT, QUARANTINE)
}
