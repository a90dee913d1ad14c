"""Gold schemas: the entities users query, one row per thing the grain names.

Analysts read these by name (``cdp sql "select ... from gold.profiles"``); every column's
description becomes its comment in the catalog. The checks for these tables live beside
them in expectations/.
"""

from __future__ import annotations

from schemas.fields import (
    ID_DIRECT,
    ID_INDIRECT,
    ID_SENSITIVE,
    Field,
    Schema,
)
from schemas.xdm import CHANNELS, CONSENT_VALUES, LAWFUL_BASES, NAMESPACES, PURPOSES, SOURCE_NAMES

# Named RFM segments, best first; the rule for each is in cdp/core/settings.py (ProfileSettings)
# and in docs/profiles.md.
NO_PURCHASE_SEGMENT = "No purchases"


def _provenance(attribute: str) -> tuple[Field, ...]:
    return (
        Field(
            f"{attribute}_source",
            "string",
            f"Source system the golden {attribute.replace('_', ' ')} came from (crm, loyalty, web).",
            accepted=("crm", "loyalty", "web"),
        ),
        Field(
            f"{attribute}_record_id",
            "string",
            f"Source record the golden {attribute.replace('_', ' ')} came from.",
            labels=ID_INDIRECT,
        ),
        Field(
            f"{attribute}_updated_at",
            "timestamp",
            f"When that record last changed (UTC): the age of the golden {attribute}.",
        ),
    )


IDENTITY_MAP = Schema(
    name="gold.identity_map",
    description="Every known identifier (normalised) and the profile it belongs to, with first and last seen. Namespaces: crm_id, loyalty_id, email, phone, anonymous_id, device_id, card_token.",
    grain="one row per (namespace, identifier)",
    key=("namespace", "identifier"),
    fields=(
        Field(
            "namespace",
            "string",
            "crm_id, loyalty_id, email, phone, anonymous_id, device_id or card_token.",
            False,
            accepted=NAMESPACES,
        ),
        Field(
            "identifier",
            "string",
            "The identifier, normalised (email canonical, phone E.164).",
            False,
            ID_DIRECT,
        ),
        Field("profile_id", "string", "The profile (person) it belongs to.", False),
        Field("first_seen", "timestamp", "First time any record carried it (UTC)."),
        Field("last_seen", "timestamp", "Last time any record carried it (UTC)."),
        Field("records", "bigint", "Source records that carried it."),
        Field("vertex_id", "bigint", "Its 64-bit vertex id in the identity graph.", False),
        Field("profile_created_at", "timestamp", "When its profile id was first issued (UTC)."),
    ),
)

PROFILE_MERGES = Schema(
    name="gold.profile_merges",
    description="Merge history: a retired profile_id and the surviving profile_id it resolves to.",
    grain="one row per retired profile id",
    key=("retired_profile_id",),
    fields=(
        Field("retired_profile_id", "string", "The profile id retired by a merge.", False),
        Field("profile_id", "string", "The surviving profile id it now resolves to.", False),
        Field("merged_at", "timestamp", "When the merge happened (the nightly run, UTC)."),
        Field("reason", "string", "Why the profiles merged."),
    ),
)

RECORD_PROFILES = Schema(
    name="gold.record_profiles",
    description="Which profile every source record (CRM, loyalty, receipt, web event) belongs to: the profile of its strongest identifier.",
    grain="one row per source record that resolved",
    key=("record_id",),
    fields=(
        Field(
            "record_id",
            "string",
            "'crm:<crm_id>', 'loyalty:<loyalty_id>', 'pos:<transaction_id>' or 'web:<event_id>'.",
            False,
            labels=ID_INDIRECT,
        ),
        Field("source", "string", "crm, loyalty, pos or web.", False, accepted=SOURCE_NAMES),
        Field("profile_id", "string", "The profile the record belongs to.", False),
    ),
)

PURCHASE = Schema(
    name="gold.purchases",
    description="Purchases and returns with the profile behind them, amounts in the original and the reporting currency.",
    grain="one row per purchase (POS receipt or web order)",
    key=("order_id",),
    fields=(
        Field(
            "order_id",
            "string",
            "'pos:<transaction_id>' or 'web:<order_id>': one purchase or return.",
            False,
        ),
        Field("profile_id", "string", "The profile that bought; null when unresolved."),
        Field("source", "string", "pos or web.", False, accepted=("pos", "web")),
        Field("channel", "string", "store, web or app.", accepted=CHANNELS),
        Field("store_id", "string", "Store of a POS receipt."),
        Field("ordered_at", "timestamp", "When it happened (UTC)."),
        Field("order_date", "date", "The day it happened (UTC)."),
        Field("lines", "int", "Receipt or order lines."),
        Field("items", "bigint", "Units bought minus units returned."),
        Field(
            "is_purchase",
            "boolean",
            "At least one line buys goods (a return-only receipt is not a purchase).",
        ),
        Field(
            "amount",
            "decimal(18,2)",
            "Sum of quantity x unit price, returns negative, in currency.",
        ),
        Field("currency", "string", "ISO 4217 currency of amount."),
        Field(
            "amount_reporting",
            "decimal(18,2)",
            "amount in the reporting currency (profiles.reporting_currency, default EUR); "
            "null when the currency has no rate in profiles.fx_rates.",
        ),
        Field("top_category", "string", "The category with the largest amount on the order."),
        Field("batch_date", "date", "Business day of the extract the order came with.", False),
    ),
)

RFM = Schema(
    name="gold.rfm",
    description="Recency, frequency, monetary value, their 1-5 scores and the named RFM segment, as of the batch date.",
    grain="one row per profile that bought",
    key=("profile_id",),
    fields=(
        Field("profile_id", "string", "The profile.", False),
        Field("as_of", "date", "The batch date RFM is computed as of.", False),
        Field(
            "recency_days",
            "int",
            "Days from the last purchase's date to the batch date.",
        ),
        Field(
            "frequency",
            "bigint",
            "Distinct purchases (POS transaction_id, web order_id) within the lookback.",
        ),
        Field(
            "monetary",
            "decimal(18,2)",
            "Sum of quantity x unit price over those orders, returns subtracting, in the "
            "reporting currency.",
        ),
        Field("r_score", "int", "1-5: 1 + floor(5 x share of buyers with an older last purchase)."),
        Field("f_score", "int", "1-5: 1 + floor(5 x share of buyers with fewer purchases)."),
        Field("m_score", "int", "1-5: 1 + floor(5 x share of buyers who spent less)."),
        Field("rfm_segment", "string", "Named segment (docs/profiles.md)."),
    ),
)


def _consent_fields() -> tuple[Field, ...]:
    out: list[Field] = []
    for p in PURPOSES:
        what = p.replace("_", " ")
        out += [
            Field(
                f"consent_{p}",
                "string",
                f"Consent for {what}: granted, denied or unknown (latest capture wins; "
                "unknown is never granted).",
                False,
                accepted=CONSENT_VALUES,
            ),
            Field(f"consent_{p}_at", "timestamp", f"When the {what} consent was captured (UTC)."),
            Field(
                f"consent_{p}_source",
                "string",
                f"Source of the {what} consent (crm, loyalty); null when never captured.",
            ),
            Field(
                f"consent_{p}_record_id",
                "string",
                f"Source record whose capture set the {what} consent.",
                labels=ID_INDIRECT,
            ),
            Field(
                f"consent_{p}_basis",
                "string",
                f"GDPR lawful basis for {what} (governance.lawful_basis).",
                False,
                accepted=LAWFUL_BASES,
            ),
            Field(
                f"is_{p}_allowed",
                "boolean",
                f"Whether the profile may be processed for {what}: consent granted, or a basis "
                "other than consent and consent not denied (jobs/governance/purposes.py).",
                False,
            ),
        ]
    return tuple(out)


PROFILE = Schema(
    name="gold.profiles",
    description="Unified customer profiles: golden name, email, phone, address and birth date with their source, consent per purpose, behaviour, and RFM.",
    grain="one row per person (profile)",
    key=("profile_id",),
    fields=(
        Field("profile_id", "string", "Stable profile id (gold.identity_map).", False),
        Field(
            "is_anonymous",
            "boolean",
            "Known only from behaviour (a cookie, a device, a card at the till): no CRM or "
            "loyalty record, no email, no phone.",
            False,
        ),
        Field("first_name", "string", "Golden given name.", labels=ID_DIRECT),
        Field("last_name", "string", "Golden family name.", labels=ID_DIRECT),
        *_provenance("name"),
        Field("email", "string", "Golden email.", labels=ID_DIRECT),
        *_provenance("email"),
        Field("phone", "string", "Golden phone number, E.164.", labels=ID_DIRECT),
        *_provenance("phone"),
        Field("street", "string", "Golden street address.", labels=ID_DIRECT),
        Field("postal_code", "string", "Golden postal code.", labels=ID_INDIRECT),
        Field("city", "string", "Golden city.", labels=ID_INDIRECT),
        Field("region", "string", "Golden region or state.", labels=ID_INDIRECT),
        Field("country", "string", "Golden country, ISO 3166-1 alpha-2."),
        *_provenance("address"),
        Field(
            "birth_date",
            "date",
            "Golden date of birth.",
            labels=ID_SENSITIVE,
        ),
        *_provenance("birth_date"),
        *_consent_fields(),
        Field("first_seen", "timestamp", "First time any of its identifiers was seen (UTC)."),
        Field("last_seen", "timestamp", "Last time any of its identifiers was seen (UTC)."),
        Field("identifiers", "bigint", "Identifiers in the profile (gold.identity_map)."),
        Field("person_records", "bigint", "CRM and loyalty records behind the profile."),
        Field("crm_ids", "array<string>", "CRM ids of the profile.", labels=ID_INDIRECT),
        Field("loyalty_ids", "array<string>", "Loyalty cards of the profile.", labels=ID_INDIRECT),
        Field("loyalty_tier", "string", "Tier of the most recently updated loyalty record."),
        Field("points_balance", "bigint", "Points balance of that loyalty record."),
        Field("lifetime_orders", "bigint", "Purchases ever (POS receipts and web orders)."),
        Field(
            "lifetime_revenue",
            "decimal(18,2)",
            "Net spend ever, returns subtracting, in the reporting currency.",
        ),
        Field("first_purchase_at", "timestamp", "First purchase (UTC)."),
        Field("last_purchase_at", "timestamp", "Last purchase (UTC)."),
        Field("favourite_category", "string", "Product category with the largest net spend."),
        Field(
            "channels",
            "array<string>",
            "Channels the person bought or browsed in: store, web, app (only sources the "
            "profile's consent lets feed it, governance.source_purposes).",
        ),
        Field(
            "last_web_visit_at",
            "timestamp",
            "Last web event (UTC); null where web behaviour may not be used.",
        ),
        Field(
            "last_app_visit_at",
            "timestamp",
            "Last app event (UTC); null where web behaviour may not be used.",
        ),
        Field(
            "web_events",
            "bigint",
            "Web and app events attributed to the profile; 0 where web behaviour may not be used.",
        ),
        *[f for f in RFM.fields if f.name not in ("profile_id", "as_of")],
        Field("as_of", "date", "The batch date the profile was built for.", False),
    ),
)

CONSENT_HISTORY = Schema(
    name="audit.consent_history",
    description="Append-only consent history: each change of a profile's consent value or lawful basis per purpose, with the previous value, the capture (time, source, record) that set it and the nightly build that saw it.",
    grain="one row per (profile, purpose, batch date) whose effective consent changed",
    key=("profile_id", "purpose", "batch_date"),
    fields=(
        Field("profile_id", "string", "The profile whose consent changed.", False),
        Field(
            "purpose",
            "string",
            "email, sms, personalization, ad_sharing or analytics.",
            False,
            accepted=PURPOSES,
        ),
        Field(
            "value",
            "string",
            "The consent from this change on: granted, denied or unknown.",
            False,
            accepted=CONSENT_VALUES,
        ),
        Field(
            "previous_value",
            "string",
            "The consent before the change; null on the profile and purpose's first row.",
            accepted=CONSENT_VALUES,
        ),
        Field("captured_at", "timestamp", "When the capture that set the value was made (UTC)."),
        Field("source", "string", "Source of that capture (crm, loyalty); null when none."),
        Field(
            "lawful_basis",
            "string",
            "GDPR lawful basis of the purpose at the time (governance.lawful_basis).",
            False,
            accepted=LAWFUL_BASES,
        ),
        Field(
            "is_allowed",
            "boolean",
            "Whether processing for the purpose was allowed from this change on.",
            False,
        ),
        Field(
            "record_id",
            "string",
            "Source record whose capture set the value; null when none.",
            labels=ID_INDIRECT,
        ),
        Field("batch_date", "date", "The nightly build that saw the change.", False),
        Field("recorded_at", "timestamp", "When that build recorded it (UTC).", False),
    ),
)

MODELS = ("purchase_propensity", "churn")

PROPENSITY_SCORES = Schema(
    name="gold.propensity_scores",
    description="Purchase propensity and churn scores of the champion models (MLflow), with the model version that produced them and the horizon they look ahead.",
    grain="one row per (profile, model)",
    key=("profile_id", "model"),
    fields=(
        Field("profile_id", "string", "The profile scored.", False),
        Field(
            "model",
            "string",
            "purchase_propensity (buys within horizon_days) or churn (a recent buyer who "
            "buys nothing within horizon_days).",
            False,
            accepted=MODELS,
        ),
        Field(
            "horizon_days",
            "int",
            "How many days ahead the score looks (the label window the model was trained on).",
            False,
        ),
        Field("score", "double", "Probability (0..1) of the outcome within the horizon.", False),
        Field(
            "decile",
            "int",
            "1-10: the score's decile among tonight's scores of the model (10 = highest).",
            False,
        ),
        Field(
            "model_version",
            "string",
            "MLflow registered model version that produced the score (the champion).",
            False,
        ),
        Field("model_run_id", "string", "MLflow run that trained that version.", False),
        Field("as_of", "date", "The batch date: features as of the end of this day.", False),
        Field("scored_at", "timestamp", "When the score was computed (UTC).", False),
    ),
)

CLV_SCORES = Schema(
    name="gold.clv_scores",
    description="Customer lifetime value of every buyer by the champion BG/NBD and Gamma-Gamma models (MLflow): expected purchases and spend over the next 365 days and the probability that the customer is still active.",
    grain="one row per profile with a purchase",
    key=("profile_id",),
    fields=(
        Field("profile_id", "string", "The profile scored (a buyer by the batch date).", False),
        Field(
            "probability_alive",
            "double",
            "Probability (0..1) that the customer has not lapsed (BG/NBD: 1 until a repeat "
            "purchase shows a rhythm to break).",
            False,
        ),
        Field(
            "predicted_purchases_365d",
            "double",
            "Expected purchase days in the 365 days after the batch date (BG/NBD).",
            False,
        ),
        Field(
            "expected_spend",
            "double",
            "Expected spend per purchase day, in the reporting currency (Gamma-Gamma: the "
            "customer's own repeat mean shrunk towards the population's).",
            False,
        ),
        Field(
            "predicted_clv_365d",
            "double",
            "predicted_purchases_365d x expected_spend: value of the next 365 days, reporting "
            "currency, undiscounted.",
            False,
        ),
        Field(
            "model_version",
            "string",
            "MLflow registered model version (cdp_clv champion) that produced the row.",
            False,
        ),
        Field("model_run_id", "string", "MLflow run that fitted that version.", False),
        Field("as_of", "date", "The batch date: purchases up to the end of this day.", False),
        Field("scored_at", "timestamp", "When the row was computed (UTC).", False),
    ),
)

SEGMENT_KINDS = ("rule", "lookalike")

SEGMENTS = Schema(
    name="gold.segments",
    description="Segments as defined in YAML (rule or look-alike), their purpose and tonight's members, entries and exits.",
    grain="one row per segment definition",
    key=("segment",),
    fields=(
        Field("segment", "string", "Segment name.", False),
        Field("description", "string", "What the segment is for."),
        Field(
            "purpose",
            "string",
            "Processing purpose the segment serves; members are only profiles allowed for it.",
            False,
            accepted=PURPOSES,
        ),
        Field(
            "kind",
            "string",
            "rule (an expression over profile columns) or lookalike (profiles most similar to "
            "a seed segment).",
            False,
            accepted=SEGMENT_KINDS,
        ),
        Field("rule", "string", "The rule as written (kind rule)."),
        Field("seed_segment", "string", "The seed segment (kind lookalike)."),
        Field("members", "bigint", "Current members.", False),
        Field("entered", "bigint", "Profiles that entered tonight.", False),
        Field("exited", "bigint", "Profiles that exited tonight.", False),
        Field("as_of", "date", "The batch date the segment was evaluated for.", False),
    ),
)

SEGMENT_MEMBERSHIP = Schema(
    name="gold.segment_membership",
    description="Segment members with entered and exited times; only profiles whose consent allows the segment's purpose (exited_at null = current member).",
    grain="one row per (segment, profile)",
    key=("segment", "profile_id"),
    fields=(
        Field("segment", "string", "Segment name (gold.segments).", False),
        Field("profile_id", "string", "The profile.", False),
        Field("purpose", "string", "The segment's purpose.", False, accepted=PURPOSES),
        Field(
            "is_member",
            "boolean",
            "Whether the profile is a member as of the batch date (exited_at is null).",
            False,
        ),
        Field(
            "entered_at",
            "timestamp",
            "When the profile entered: the end (UTC) of the batch date whose build first found "
            "it; a re-entry restarts it.",
            False,
        ),
        Field(
            "exited_at",
            "timestamp",
            "When it left: the end (UTC) of the batch date whose build no longer found it; "
            "null while a member.",
        ),
        Field(
            "similarity",
            "double",
            "Look-alike segments: similarity to the seed segment (0..1); null for rule segments.",
        ),
        Field("rank", "int", "Look-alike segments: rank by similarity (1 = most similar)."),
        Field(
            "top_factors",
            "array<string>",
            "Look-alike segments: the features that drove the similarity most.",
        ),
        Field("as_of", "date", "The batch date of the build.", False),
    ),
)

# audit.consent_history is derived from gold.profiles, so its schema lives here too.
GOLD_SCHEMAS = {
    s.name: s
    for s in (
        IDENTITY_MAP,
        PROFILE_MERGES,
        RECORD_PROFILES,
        PURCHASE,
        RFM,
        PROFILE,
        CONSENT_HISTORY,
        PROPENSITY_SCORES,
        CLV_SCORES,
        SEGMENTS,
        SEGMENT_MEMBERSHIP,
    )
}
