"""Golden attributes by survivorship rules, and consent per purpose.

Every source record version attributed to a profile offers candidate values; a rule per
attribute picks one (the merge policies of Adobe's Real-Time Customer Profile and the merge
strategies of Apache Unomi):

- ``source_priority``: the first source in ``profiles.source_priority`` that has a value;
  between records of that source, the most recent;
- ``most_recent``: the value of the most recently changed record;
- ``most_frequent``: the value most records agree on; ties go to the most recent;
- ``oldest``: the value of the record changed longest ago.

Empty values never win. Attributes that belong together (first and last name; street,
postal code, city, region and country) are chosen together from one record, so an address
is never stitched from two. Each golden value keeps its source, record and time.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

RULES = ("source_priority", "most_recent", "most_frequent", "oldest")

# Golden attribute -> the columns chosen together, and the condition for a usable candidate.
ATTRIBUTES: dict[str, tuple[tuple[str, ...], str]] = {
    "name": (("first_name", "last_name"), "first_name IS NOT NULL OR last_name IS NOT NULL"),
    "email": (("email",), "email IS NOT NULL"),
    "phone": (("phone",), "phone IS NOT NULL"),
    "address": (
        ("street", "postal_code", "city", "region", "country"),
        "street IS NOT NULL OR postal_code IS NOT NULL",
    ),
    "birth_date": (("birth_date",), "birth_date IS NOT NULL"),
}

# On equal capture times the more protective consent value wins.
_CONSENT_STRICTNESS = {"denied": 0, "unknown": 1, "granted": 2}


def _order(rule: str, source_priority: tuple[str, ...]) -> list[Column]:
    """Candidate order for ``rule``, best first (most_frequent adds a count first)."""
    rank = F.create_map(*[x for i, s in enumerate(source_priority) for x in (F.lit(s), F.lit(i))])
    recent = [F.col("ts").desc_nulls_last(), F.col("record_id").desc()]
    if rule in ("most_recent", "most_frequent"):
        return recent
    if rule == "oldest":
        return [F.col("ts").asc_nulls_last(), F.col("record_id").asc()]
    if rule == "source_priority":
        return [F.coalesce(rank[F.col("source")], F.lit(len(source_priority))).asc(), *recent]
    raise ValueError(f"unknown survivorship rule {rule!r} (known: {', '.join(RULES)})")


def survive(
    candidates: DataFrame, attribute: str, rule: str, source_priority: tuple[str, ...]
) -> DataFrame:
    """One row per profile: the winning values of ``attribute`` with source, record and time.

    ``candidates``: profile_id, source, record_id, ts and the attribute's columns.
    """
    values, usable = ATTRIBUTES[attribute]
    usable_rows = candidates.where(F.expr(usable))
    order = _order(rule, source_priority)
    if rule == "most_frequent":
        # How many candidate rows agree on the whole value, counted before ranking.
        agree = Window.partitionBy("profile_id", *values)
        usable_rows = usable_rows.withColumn("_agree", F.count(F.lit(1)).over(agree))
        order = [F.col("_agree").desc(), *order]
    best = Window.partitionBy("profile_id").orderBy(*order)
    return (
        usable_rows.withColumn("_pos", F.row_number().over(best))
        .where("_pos = 1")
        .select(
            "profile_id",
            *values,
            F.col("source").alias(f"{attribute}_source"),
            F.col("record_id").alias(f"{attribute}_record_id"),
            F.col("ts").alias(f"{attribute}_updated_at"),
        )
    )


def golden_attributes(
    candidates: DataFrame, rules: dict[str, str], source_priority: tuple[str, ...]
) -> DataFrame:
    """All golden attributes per profile (profiles without any candidate are absent)."""
    unknown = set(rules) - set(ATTRIBUTES)
    if unknown:
        raise ValueError(f"survivorship for unknown attributes: {', '.join(sorted(unknown))}")
    result = None
    for attribute in ATTRIBUTES:
        rule = rules.get(attribute, "most_recent")
        chosen = survive(candidates, attribute, rule, source_priority)
        result = chosen if result is None else result.join(chosen, "profile_id", "full")
    return result


def latest_consent(consent: DataFrame, purposes: tuple[str, ...]) -> DataFrame:
    """Per profile and purpose the latest capture (value, time, source), one row per profile.

    ``consent``: profile_id, purpose, value, captured_at, source and optionally record_id
    (then kept as consent_<p>_record_id). The latest capture wins across sources and merged
    identities; a capture without a time loses to any timed one; on a tie the more
    protective value wins (denied, then unknown, then granted). A purpose never captured is
    unknown: unknown never counts as granted.
    """
    strict = F.create_map(
        *[x for v, i in _CONSENT_STRICTNESS.items() for x in (F.lit(v), F.lit(i))]
    )
    with_record = "record_id" in consent.columns
    record = F.col("record_id") if with_record else F.lit(None).cast("string")
    captures = consent.select(
        "profile_id",
        "purpose",
        # A value outside granted/denied/unknown is read as unknown, never as granted.
        F.when(F.col("value").isin(*_CONSENT_STRICTNESS), F.col("value"))
        .otherwise(F.lit("unknown"))
        .alias("value"),
        "captured_at",
        "source",
        record.alias("record_id"),
    ).where(F.col("purpose").isin(*purposes))
    latest = Window.partitionBy("profile_id", "purpose").orderBy(
        F.col("captured_at").desc_nulls_last(),
        strict[F.col("value")].asc(),
        F.col("source").asc_nulls_last(),
        F.col("record_id").desc_nulls_last(),
    )
    chosen = captures.withColumn("_pos", F.row_number().over(latest)).where("_pos = 1")
    kept = ("value", "captured_at", "source", "record_id")
    wide = chosen.groupBy("profile_id").agg(
        *[F.max(F.when(F.col("purpose") == p, F.struct(*kept))).alias(p) for p in purposes]
    )
    return wide.select(
        "profile_id",
        *[
            col
            for p in purposes
            for col in (
                F.coalesce(F.col(f"{p}.value"), F.lit("unknown")).alias(f"consent_{p}"),
                F.col(f"{p}.captured_at").alias(f"consent_{p}_at"),
                F.col(f"{p}.source").alias(f"consent_{p}_source"),
                *([F.col(f"{p}.record_id").alias(f"consent_{p}_record_id")] if with_record else []),
            )
        ],
    )
