"""Silver person records: CRM and loyalty rows standardised to the XDM-like person class."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from cdp.core.settings import StandardiseSettings
from jobs.silver.common import extra_columns, lineage, split_quarantine
from jobs.standardise import udfs
from jobs.standardise import values as std
from jobs.standardise.columns import identities, trimmed
from schemas.landing import CRM, LOYALTY, LandingSpec
from schemas.xdm import CONSENT_EVENT, CONSENT_PURPOSES, PERSON_RECORD


def _without_placeholders(parsed: Column, placeholders: tuple[str, ...]) -> Column:
    """A parsed date struct with placeholder dates (1900-01-01) nulled and flagged."""
    is_placeholder = parsed["value"].isin([F.lit(d).cast("date") for d in placeholders])
    return F.struct(
        F.when(~is_placeholder | parsed["value"].isNull(), parsed["value"]).alias("value"),
        F.when(is_placeholder, F.lit(std.PLACEHOLDER_DATE))
        .otherwise(parsed["issue"])
        .alias("issue"),
    )


def _person_columns(bronze: DataFrame, settings: StandardiseSettings) -> dict[str, Column]:
    """Parsed structs for the fields CRM and loyalty share."""
    country = udfs.country_udf(trimmed(bronze, "country"))
    region = F.coalesce(country["value"], F.lit(settings.default_phone_region))
    return {
        "first": udfs.name_udf(trimmed(bronze, "first_name")),
        "last": udfs.name_udf(trimmed(bronze, "last_name")),
        "email": udfs.email_udf(trimmed(bronze, "email")),
        "phone": udfs.phone_udf(trimmed(bronze, "phone"), region),
        "country": country,
        "birth": _without_placeholders(
            udfs.make_date_udf(settings.date_formats, settings.min_birth_year)(
                trimmed(bronze, "birth_date")
            ),
            settings.placeholder_birth_dates,
        ),
        "updated": udfs.timestamp_udf(trimmed(bronze, "updated_at")),
        "consent_at": udfs.timestamp_udf(trimmed(bronze, "consent_updated_at")),
        **{
            f"consent_{p}": udfs.consent_udf(trimmed(bronze, f"consent_{p}"))
            for p in CONSENT_PURPOSES
        },
    }


def standardise_person_records(
    bronze: DataFrame, spec: LandingSpec, settings: StandardiseSettings
) -> tuple[DataFrame, DataFrame]:
    """Bronze CRM or loyalty rows -> (silver person records, quarantined rows)."""
    key_name = spec.key[0]
    good, quarantine = split_quarantine(bronze, spec.source, [trimmed(bronze, key_name)], key_name)

    p = _person_columns(good, settings)
    is_crm = spec.source == CRM.source
    created = udfs.timestamp_udf(trimmed(good, "created_at" if is_crm else "enrolled_at"))
    points = udfs.int_udf(trimmed(good, "points_balance"))
    source_key = trimmed(good, key_name)
    loyalty_id = trimmed(good, "loyalty_id")

    staged = good.select(
        "*",
        *[value.alias(f"_p_{name}") for name, value in p.items()],
        created.alias("_p_created"),
        points.alias("_p_points"),
    )
    pc = {name: F.col(f"_p_{name}") for name in [*p, "created", "points"]}

    record_ts = F.coalesce(
        pc["updated"]["value"], pc["created"]["value"], F.col("_batch_date").cast("timestamp")
    )
    issues = udfs.collect_issues(
        udfs.issue("phone", pc["phone"]),
        udfs.issue("country", pc["country"]),
        udfs.issue("birth_date", pc["birth"]),
        udfs.issue("updated_at", pc["updated"]),
        udfs.issue("created_at" if is_crm else "enrolled_at", pc["created"]),
        udfs.issue("consent_updated_at", pc["consent_at"]),
        udfs.issue("points_balance", pc["points"]),
        *[udfs.issue(f"consent_{c}", pc[f"consent_{c}"]) for c in CONSENT_PURPOSES],
        F.when(pc["email"]["is_valid"] == F.lit(False), F.lit("email:invalid_email")),
    )
    email_key = pc["email"]["key"]
    phone = pc["phone"]["value"]
    ids = identities(
        [
            ("crm_id" if is_crm else "loyalty_id", source_key),
            *([("loyalty_id", loyalty_id)] if is_crm else []),
            ("email", email_key),
            ("phone", phone),
        ]
    )
    loyalty_only = (lambda c: c) if not is_crm else (lambda c: F.lit(None).cast("string"))
    records = staged.select(
        F.concat(F.lit(f"{spec.source}:"), source_key).alias("record_id"),
        F.lit(spec.source).alias("source"),
        source_key.alias("source_key"),
        pc["first"]["value"].alias("first_name"),
        pc["last"]["value"].alias("last_name"),
        pc["first"]["key"].alias("first_name_key"),
        pc["last"]["key"].alias("last_name_key"),
        pc["email"]["value"].alias("email"),
        pc["email"]["is_valid"].alias("email_is_valid"),
        email_key.alias("email_key"),
        phone.alias("phone"),
        udfs.tidy_text_udf(trimmed(good, "street")).alias("street"),
        udfs.postal_code_udf(trimmed(good, "postal_code"), pc["country"]["value"]).alias(
            "postal_code"
        ),
        udfs.tidy_text_udf(trimmed(good, "city")).alias("city"),
        udfs.tidy_text_udf(trimmed(good, "region")).alias("region"),
        pc["country"]["value"].alias("country"),
        pc["birth"]["value"].alias("birth_date"),
        (loyalty_id if is_crm else source_key).alias("loyalty_id"),
        loyalty_only(F.lower(trimmed(good, "tier"))).alias("loyalty_tier"),
        (pc["points"]["value"] if not is_crm else F.lit(None)).alias("points_balance"),
        loyalty_only(F.lower(trimmed(good, "status"))).alias("loyalty_status"),
        (pc["created"]["value"] if not is_crm else F.lit(None)).alias("enrolled_at"),
        *[pc[f"consent_{c}"]["value"].alias(f"consent_{c}") for c in CONSENT_PURPOSES],
        pc["consent_at"]["value"].alias("consent_updated_at"),
        (pc["created"]["value"] if is_crm else F.lit(None)).alias("created_at"),
        pc["updated"]["value"].alias("updated_at"),
        record_ts.alias("record_ts"),
        ids.alias("identities"),
        issues.alias("issues"),
        extra_columns(good, spec).alias("extra"),
        *lineage(good),
    )
    return PERSON_RECORD.conform(records), quarantine


def standardise_crm(
    bronze: DataFrame, settings: StandardiseSettings
) -> tuple[DataFrame, DataFrame]:
    """Bronze CRM rows -> (person records, quarantine)."""
    return standardise_person_records(bronze, CRM, settings)


def standardise_loyalty(
    bronze: DataFrame, settings: StandardiseSettings
) -> tuple[DataFrame, DataFrame]:
    """Bronze loyalty rows -> (person records, quarantine)."""
    return standardise_person_records(bronze, LOYALTY, settings)


def consent_events(records: DataFrame) -> DataFrame:
    """One consent capture per (record version, purpose) the source stated a value for.

    Purposes a source does not ask about (loyalty has no personalisation consent) produce no
    event rather than an 'unknown' that would look like a withdrawal.
    """
    asked = {
        "crm": CONSENT_PURPOSES,
        "loyalty": ("email", "sms"),
    }
    per_purpose = F.explode(
        F.array(
            *[
                F.struct(
                    F.lit(p).alias("purpose"),
                    F.col(f"consent_{p}").alias("value"),
                    F.col("source").isin([s for s, ps in asked.items() if p in ps]).alias("asked"),
                )
                for p in CONSENT_PURPOSES
            ]
        )
    )
    exploded = records.select("*", per_purpose.alias("_c")).where(F.col("_c.asked"))
    events = exploded.select(
        "record_id",
        "source",
        F.col("_c.purpose").alias("purpose"),
        F.col("_c.value").alias("value"),
        F.coalesce("consent_updated_at", "record_ts").alias("captured_at"),
        "identities",
        "batch_date",
        "source_file",
        "file_sha256",
        "row_number",
    )
    return CONSENT_EVENT.conform(events)
