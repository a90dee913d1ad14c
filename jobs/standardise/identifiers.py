"""Identifiers as the identity graph knows them, from a request or from a landed row.

A GDPR request names a person by one identifier in any spelling ("  Jane.Doe@X.com",
"070-123 45 67"); bronze keeps rows verbatim. Both are normalised here exactly as silver
normalises them (jobs/standardise/values.py: canonical email key, E.164 phone, trimmed ids),
so a request finds the person in the graph and an erased person's identifiers are recognised
in tomorrow's extracts before they land.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from cdp.core.errors import CdpError
from jobs.standardise import udfs
from jobs.standardise import values as std
from jobs.standardise.columns import identities, trimmed
from schemas.xdm import NAMESPACES

if TYPE_CHECKING:
    from cdp.core.settings import StandardiseSettings

# Identifiers a request may name the person by (`cdp gdpr --email X`, a DAG request file).
REQUEST_NAMESPACES = NAMESPACES

# Which landed column holds which namespace, per source (CONTRACTS.md section 1).
LANDED_IDENTIFIERS: dict[str, tuple[tuple[str, str], ...]] = {
    "crm": (
        ("crm_id", "crm_id"),
        ("loyalty_id", "loyalty_id"),
        ("email", "email"),
        ("phone", "phone"),
    ),
    "loyalty": (("loyalty_id", "loyalty_id"), ("email", "email"), ("phone", "phone")),
    "pos": (("loyalty_id", "loyalty_id"), ("card_token", "card_token")),
    "web": (
        ("anonymous_id", "anonymous_id"),
        ("device_id", "device_id"),
        ("crm_id", "user_id"),
        ("email", "email"),
    ),
}


def normalise(namespace: str, raw: str, settings: StandardiseSettings) -> str:
    """The identifier as the identity graph stores it; a one-line error when unusable."""
    if namespace not in NAMESPACES:
        raise CdpError(
            f"unknown identifier namespace '{namespace}' (known: {', '.join(NAMESPACES)})"
        )
    text = udfs.tidy_text(raw)
    if not text:
        raise CdpError(f"--{namespace.replace('_', '-')}: empty identifier")
    if namespace == "email":
        email, valid = std.normalise_email(text)
        key = std.email_match_key(email) if valid else None
        if not key:
            # The value is not repeated: a failed DAG task's message lands in its logs.
            raise CdpError("--email: not a valid email address")
        return key
    if namespace == "phone":
        phone, issue = std.normalise_phone(text, settings.default_phone_region)
        if not phone:
            raise CdpError(f"--phone: not a phone number ({issue})")
        return phone
    return text


def landed_identities(bronze: DataFrame, source: str, settings: StandardiseSettings) -> Column:
    """(namespace, value) identifiers of bronze rows, normalised as silver does."""
    pairs = []
    country = udfs.country_udf(trimmed(bronze, "country")) if "country" in bronze.columns else None
    for namespace, column in LANDED_IDENTIFIERS[source]:
        if column not in bronze.columns:
            continue
        raw = trimmed(bronze, column)
        if namespace == "email":
            value = udfs.email_udf(raw)["key"]
        elif namespace == "phone":
            region = F.lit(settings.default_phone_region)
            if country is not None:
                region = F.coalesce(country["value"], region)
            value = udfs.phone_udf(raw, region)["value"]
        else:
            value = raw
        pairs.append((namespace, value))
    return identities(pairs)
