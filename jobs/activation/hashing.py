"""Hashed identifiers for ad platforms: SHA-256 of the normalised email or E.164 phone.

Customer-match uploads (Google Ads Customer Match, Meta custom audiences) take identifiers
hashed with SHA-256 as lower-case hex, after normalising them so that the platform's own
hash of its users' addresses meets ours. The normalisation is the pipeline's own
(jobs/standardise/identifiers.py ``normalise``): the canonical email key (trimmed, lower-case, no
``+tag``, Gmail without dots, placeholders such as test@test.com dropped) and the E.164
phone. Reusing it means a hashed export agrees with identity resolution about who a person
is, and a GDPR request naming an address can be matched to the hashes it produced.

Hashing runs in Spark (``F.sha2`` over the normalisers' vectorised UDFs), so an audience of
millions hashes on the executors; :func:`identifier_sha256` is the per-value reference.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from pyspark.sql import Column
from pyspark.sql import functions as F

from jobs.standardise import udfs
from jobs.standardise.identifiers import normalise

if TYPE_CHECKING:
    from cdp.core.settings import StandardiseSettings

# Derived export fields -> the gold.profiles column each is computed from. They carry no
# data-usage label of their own: a salt-free hash is still personal data under GDPR (the
# consent check covers that), but it is what ad platforms are built to receive.
HASHED_FIELDS: dict[str, str] = {"email_sha256": "email", "phone_sha256": "phone"}


def email_sha256(email: Column) -> Column:
    """SHA-256 (lower-case hex) of the canonical email key; null when the address is blank,
    invalid or a placeholder, so no row carries the hash of a non-address."""
    return F.sha2(udfs.email_udf(email)["key"], 256)


def phone_sha256(phone: Column, region: Column) -> Column:
    """SHA-256 (lower-case hex) of the E.164 phone (with its ``+``); national numbers are read
    in ``region`` (gold phones are already E.164, so it only matters for raw input)."""
    return F.sha2(udfs.phone_udf(phone, region)["value"], 256)


def hashed_column(field: str, default_phone_region: str) -> Column:
    """The Spark column of derived field ``field`` over a gold.profiles row."""
    if field == "email_sha256":
        return email_sha256(F.col("email"))
    if field == "phone_sha256":
        # The profile's own country first, as silver reads a landed phone.
        region = F.coalesce(F.col("country"), F.lit(default_phone_region))
        return phone_sha256(F.col("phone"), region)
    raise KeyError(field)


def identifier_sha256(namespace: str, raw: str, settings: StandardiseSettings) -> str:
    """The hash an export carries for identifier ``raw`` (email or phone): the reference
    for tests, and how a request naming an address finds it among hashed rows."""
    return hashlib.sha256(normalise(namespace, raw, settings).encode("utf-8")).hexdigest()
