"""What each source system lands every night (CONTRACTS.md section 1).

Bronze keeps every landed column verbatim as text; these specs say which columns a file must
have (a missing one fails that file) and which are expected (extra ones are kept too).
"""

from __future__ import annotations

from dataclasses import dataclass

# The columns bronze adds to every landed row: where it came from and how it parsed. Silver
# reads them as lineage and never as data.
LINEAGE_COLUMNS = (
    "_source_file",
    "_file_sha256",
    "_batch_date",
    "_ingested_at",
    "_row_number",
    "_malformed_reason",
    "_raw_record",
)


@dataclass(frozen=True)
class LandingSpec:
    """One source's extract format."""

    source: str
    file_format: str  # "csv" or "jsonl"
    key: tuple[str, ...]  # required: a file without these columns fails
    columns: tuple[str, ...]  # the contract's columns, in contract order
    description: str

    @property
    def bronze_table(self) -> str:
        return f"bronze.{self.source}"


CRM = LandingSpec(
    source="crm",
    file_format="csv",
    key=("crm_id",),
    columns=(
        "crm_id",
        "first_name",
        "last_name",
        "email",
        "phone",
        "street",
        "postal_code",
        "city",
        "region",
        "country",
        "birth_date",
        "loyalty_id",
        "consent_email",
        "consent_sms",
        "consent_personalization",
        "consent_ad_sharing",
        "consent_updated_at",
        "created_at",
        "updated_at",
    ),
    description="One row per customer record as the CRM knows it (new or changed that day).",
)

LOYALTY = LandingSpec(
    source="loyalty",
    file_format="csv",
    key=("loyalty_id",),
    columns=(
        "loyalty_id",
        "first_name",
        "last_name",
        "email",
        "phone",
        "street",
        "postal_code",
        "city",
        "region",
        "country",
        "birth_date",
        "tier",
        "points_balance",
        "status",
        "enrolled_at",
        "updated_at",
        "consent_email",
        "consent_sms",
        "consent_updated_at",
    ),
    description="One row per loyalty member.",
)

POS = LandingSpec(
    source="pos",
    file_format="csv",
    key=("transaction_id", "line_no"),
    columns=(
        "transaction_id",
        "line_no",
        "store_id",
        "transaction_ts",
        "loyalty_id",
        "card_token",
        "sku",
        "product_name",
        "category",
        "quantity",
        "unit_price",
        "currency",
    ),
    description="One row per receipt line; negative quantity is a return.",
)

WEB = LandingSpec(
    source="web",
    file_format="jsonl",
    key=("event_id",),
    columns=(
        "event_id",
        "event_ts",
        "channel",
        "event_type",
        "anonymous_id",
        "device_id",
        "user_id",
        "email",
        "page_url",
        "sku",
        "order_id",
        "revenue",
        "currency",
        "ip",
        "user_agent",
    ),
    description="One object per web or app event.",
)

SOURCES: dict[str, LandingSpec] = {s.source: s for s in (CRM, POS, WEB, LOYALTY)}
