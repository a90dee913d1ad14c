"""gold.profiles: one row per person, from the identity map, golden attributes and behaviour.

Everything is recomputed from silver through gold.record_profiles each night, so a merged-in
identity's purchases and events count for the surviving profile, and each only once: every
source record belongs to exactly one profile (``jobs/identity/attribution.py``).

Processing is purpose-bound (``governance.source_purposes``): a source's rows feed a profile's
behaviour only where every purpose listed for that source is allowed for the profile
(``jobs/governance/purposes.py``), so with the defaults web behaviour needs personalisation
and receipts need analytics.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from cdp.core.settings import GovernanceSettings
from jobs.governance.purposes import (
    check,
    keep_permitted,
    source_allowed_col,
    with_permissions,
)
from jobs.profiles.golden import golden_attributes, latest_consent
from jobs.profiles.purchases import record_of_line, to_reporting
from schemas.gold import NO_PURCHASE_SEGMENT, PROFILE
from schemas.xdm import PURPOSES


def person_candidates(
    person_records: DataFrame,
    experience_events: DataFrame,
    record_profiles: DataFrame,
    identity_map: DataFrame,
) -> DataFrame:
    """Candidate golden values: every person-record version, and web-typed emails.

    A web-typed email is a candidate only for the profile that email identifier belongs to:
    a logged-in user signing a friend up for the newsletter does not get the friend's email.
    """
    owner = record_profiles.select("record_id", "profile_id")
    people = person_records.join(owner, "record_id").select(
        "profile_id",
        "source",
        "record_id",
        F.col("record_ts").alias("ts"),
        "first_name",
        "last_name",
        F.when(F.col("email_is_valid"), F.col("email")).alias("email"),
        "phone",
        "street",
        "postal_code",
        "city",
        "region",
        "country",
        "birth_date",
    )
    emails = identity_map.where(F.col("namespace") == "email").select(
        F.col("identifier").alias("email_key"), "profile_id"
    )
    typed = experience_events.where(F.col("email_is_valid") & F.col("email_key").isNotNull())
    web = typed.join(emails, "email_key").select(
        "profile_id",
        F.lit("web").alias("source"),
        F.concat(F.lit("web:"), "event_id").alias("record_id"),
        F.col("event_ts").alias("ts"),
        *[F.lit(None).cast("string").alias(c) for c in ("first_name", "last_name")],
        "email",
        *[
            F.lit(None).cast("string").alias(c)
            for c in ("phone", "street", "postal_code", "city", "region", "country")
        ],
        F.lit(None).cast("date").alias("birth_date"),
    )
    return people.unionByName(web)


def identity_summary(identity_map: DataFrame) -> DataFrame:
    """Per profile: first/last seen, identifiers, CRM ids, loyalty cards, anonymity."""
    return identity_map.groupBy("profile_id").agg(
        F.min("first_seen").alias("first_seen"),
        F.max("last_seen").alias("last_seen"),
        F.count(F.lit(1)).alias("identifiers"),
        F.array_sort(
            F.collect_list(F.when(F.col("namespace") == "crm_id", F.col("identifier")))
        ).alias("crm_ids"),
        F.array_sort(
            F.collect_list(F.when(F.col("namespace") == "loyalty_id", F.col("identifier")))
        ).alias("loyalty_ids"),
        (~F.max(F.col("namespace").isin("crm_id", "email", "phone"))).alias("_no_known_id"),
    )


def loyalty_status(person_records: DataFrame, record_profiles: DataFrame) -> DataFrame:
    """Tier and points of each profile's most recently updated loyalty record."""
    loyalty = person_records.where(F.col("source") == "loyalty").join(
        record_profiles.select("record_id", "profile_id"), "record_id"
    )
    latest = Window.partitionBy("profile_id").orderBy(
        (F.col("loyalty_status") == "active").desc_nulls_last(),
        F.col("record_ts").desc(),
        F.col("record_id").desc(),
    )
    return (
        loyalty.withColumn("_pos", F.row_number().over(latest))
        .where("_pos = 1")
        .select("profile_id", "loyalty_tier", "points_balance")
    )


def behaviour(
    purchases: DataFrame,
    commerce_lines: DataFrame,
    experience_events: DataFrame,
    record_profiles: DataFrame,
    rates: dict[str, float],
    permitted: Callable[[DataFrame], DataFrame] | None = None,
) -> DataFrame:
    """Lifetime orders and revenue, first/last purchase, favourite category, channels, visits.

    ``permitted`` keeps the rows (profile_id, source) a profile's consent lets feed it.
    """
    keep = permitted or (lambda rows: rows)
    bought = (
        keep(purchases.where(F.col("profile_id").isNotNull()))
        .groupBy("profile_id")
        .agg(
            F.count_distinct(F.when(F.col("is_purchase"), F.col("order_id"))).alias(
                "lifetime_orders"
            ),
            F.sum("amount_reporting").alias("lifetime_revenue"),
            F.min(F.when(F.col("is_purchase"), F.col("ordered_at"))).alias("first_purchase_at"),
            F.max(F.when(F.col("is_purchase"), F.col("ordered_at"))).alias("last_purchase_at"),
            F.collect_set("channel").alias("_buy_channels"),
        )
    )
    owner = record_profiles.select("record_id", "profile_id")
    lines = keep(commerce_lines.withColumn("record_id", record_of_line()).join(owner, "record_id"))
    spend = lines.groupBy("profile_id", "category").agg(
        F.sum(to_reporting(F.col("amount"), F.col("currency"), rates)).alias("_spend")
    )
    top = Window.partitionBy("profile_id").orderBy(F.col("_spend").desc_nulls_last(), "category")
    favourite = (
        spend.where(F.col("category").isNotNull() & (F.col("_spend") > 0))
        .withColumn("_pos", F.row_number().over(top))
        .where("_pos = 1")
        .select("profile_id", F.col("category").alias("favourite_category"))
    )
    events = keep(
        experience_events.select(
            F.concat(F.lit("web:"), "event_id").alias("record_id"),
            F.lit("web").alias("source"),
            "channel",
            "event_ts",
        ).join(owner, "record_id")
    )
    visits = events.groupBy("profile_id").agg(
        F.max(F.when(F.col("channel") == "web", F.col("event_ts"))).alias("last_web_visit_at"),
        F.max(F.when(F.col("channel") == "app", F.col("event_ts"))).alias("last_app_visit_at"),
        F.count(F.lit(1)).alias("web_events"),
        F.collect_set("channel").alias("_visit_channels"),
    )
    joined = bought.join(favourite, "profile_id", "full").join(visits, "profile_id", "full")
    return joined.select(
        "*",
        F.array_sort(
            F.array_distinct(
                F.concat(
                    F.coalesce("_buy_channels", F.array().cast("array<string>")),
                    F.coalesce("_visit_channels", F.array().cast("array<string>")),
                )
            )
        ).alias("channels"),
    ).drop("_buy_channels", "_visit_channels")


def profile_consents(
    profile_ids: DataFrame,
    consent_events: DataFrame,
    record_profiles: DataFrame,
    lawful_basis: dict[str, str],
) -> DataFrame:
    """Per profile and purpose: consent value, capture time, source, record, lawful basis and
    whether processing is allowed. Every profile in ``profile_ids`` gets a row."""
    consent = consent_events.join(record_profiles.select("record_id", "profile_id"), "record_id")
    latest = latest_consent(consent, PURPOSES)
    return with_permissions(profile_ids.join(latest, "profile_id", "left"), lawful_basis)


def rfm_permitted(
    rfm: DataFrame,
    purchases: DataFrame,
    permissions: DataFrame,
    source_purposes: dict[str, tuple[str, ...]],
) -> DataFrame:
    """The RFM rows whose profile may use every source its purchases came from: RFM scores
    a profile's purchases together, so one withheld source withholds it all."""
    flags = [f"is_{p}_allowed" for p in PURPOSES]
    judged = (
        purchases.where(F.col("profile_id").isNotNull())
        .select("profile_id", "source")
        .distinct()
        .join(permissions.select("profile_id", *flags), "profile_id", "left")
        .groupBy("profile_id")
        .agg(F.bool_and(source_allowed_col(F.col("source"), source_purposes)).alias("_ok"))
    )
    return rfm.join(judged, "profile_id", "left").where(F.coalesce("_ok", F.lit(True))).drop("_ok")


def build_profiles(
    identity_map: DataFrame,
    record_profiles: DataFrame,
    person_records: DataFrame,
    experience_events: DataFrame,
    commerce_lines: DataFrame,
    consent_events: DataFrame,
    purchases: DataFrame,
    rfm: DataFrame,
    survivorship: dict[str, str],
    source_priority: tuple[str, ...],
    rates: dict[str, float],
    as_of: dt.date,
    governance: GovernanceSettings | None = None,
) -> DataFrame:
    """gold.profiles rows: one per profile in the identity map.

    ``governance`` (default: the defaults of GovernanceSettings) gives each purpose's lawful
    basis and the purposes each source's data may serve.
    """
    governance = governance or GovernanceSettings()
    check(governance)
    summary = identity_summary(identity_map)
    candidates = person_candidates(person_records, experience_events, record_profiles, identity_map)
    golden = golden_attributes(candidates, survivorship, source_priority)
    consents = profile_consents(
        summary.select("profile_id"), consent_events, record_profiles, governance.lawful_basis
    )
    people = (
        person_records.join(record_profiles.select("record_id", "profile_id"), "record_id")
        .groupBy("profile_id")
        .agg(F.count_distinct("record_id").alias("person_records"))
    )

    def permitted(rows: DataFrame) -> DataFrame:
        return keep_permitted(rows, consents, governance.source_purposes)

    doing = behaviour(
        purchases, commerce_lines, experience_events, record_profiles, rates, permitted
    )
    scored = rfm_permitted(rfm.drop("as_of"), purchases, consents, governance.source_purposes)
    joined = (
        summary.join(golden, "profile_id", "left")
        .join(consents, "profile_id", "left")
        .join(people, "profile_id", "left")
        .join(loyalty_status(person_records, record_profiles), "profile_id", "left")
        .join(doing, "profile_id", "left")
        .join(scored.withColumn("_scored", F.lit(True)), "profile_id", "left")
        .join(rfm.select("profile_id", F.lit(True).alias("_had_rfm")), "profile_id", "left")
    )
    no_person = F.coalesce(F.col("person_records"), F.lit(0)) == 0
    # A profile whose RFM is withheld keeps a null segment rather than "No purchases", so no
    # campaign for non-buyers picks up someone who did buy.
    withheld = F.col("_had_rfm").isNotNull() & F.col("_scored").isNull()
    rows = joined.withColumns(
        {
            "is_anonymous": F.col("_no_known_id") & no_person,
            "lifetime_revenue": F.coalesce("lifetime_revenue", F.lit(0).cast("decimal(18,2)")),
            "rfm_segment": F.when(~withheld, F.coalesce("rfm_segment", F.lit(NO_PURCHASE_SEGMENT))),
            "as_of": F.lit(as_of),
        }
    ).fillna({"person_records": 0, "lifetime_orders": 0, "web_events": 0})
    return PROFILE.conform(rows)
