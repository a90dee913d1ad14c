"""The secret key and keyed hash (HMAC-SHA256) that pseudonymise people.

Masked analyst views (jobs/governance/masking.py) and GDPR subject handling hash identifiers
with one warehouse-wide key, so the same email hashes to the same value in every table and
run, but nobody without the key can recompute (or dictionary-attack) a hash.

``keyed_hash_col`` computes the HMAC with Spark's own expressions (RFC 2104:
``H((K ^ opad) || H((K ^ ipad) || m))``, with ``sha2`` and ``unhex``) instead of a Python UDF,
so it stays in the JVM and gives exactly the hex digest of Python's ``hmac`` module.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import TYPE_CHECKING

from pyspark.sql import Column
from pyspark.sql import functions as F

from cdp.core import storage

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from cdp.core.settings import Settings

KEY_FOLDER = "_keys"
KEY_FILE = "subject.key"
_BLOCK = 64  # SHA-256 block size in bytes (RFC 2104's B)


def key_path(settings: Settings) -> str:
    """Where the generated key lives when the settings give none."""
    return f"{settings.paths.warehouse.rstrip('/')}/{KEY_FOLDER}/{KEY_FILE}"


def subject_key(spark: SparkSession, settings: Settings) -> bytes:
    """The keyed-hash secret: ``governance.subject_hash_key`` (UTF-8), else the warehouse key.

    The warehouse key is 32 random bytes, created once at ``<warehouse>/_keys/subject.key``
    (stored as hex) and read back on every later run, so hashes stay stable across nights.
    """
    configured = settings.governance.subject_hash_key
    if configured:
        return configured.encode("utf-8")
    uri = key_path(settings)
    folder = uri.rsplit("/", 1)[0]
    if KEY_FILE not in storage.list_names(folder):
        storage.write_text(uri, secrets.token_hex(32) + "\n")
    return bytes.fromhex(storage.read_text(uri).strip())


def keyed_hash(key: bytes, text: str) -> str:
    """Hex HMAC-SHA256 of ``text`` (UTF-8) under ``key``."""
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


def _pads(key: bytes) -> tuple[bytes, bytes]:
    block = hashlib.sha256(key).digest() if len(key) > _BLOCK else key
    block = block.ljust(_BLOCK, b"\x00")
    return bytes(b ^ 0x36 for b in block), bytes(b ^ 0x5C for b in block)


def keyed_hash_col(key: bytes, col: Column | str) -> Column:
    """Spark column with the same hex HMAC-SHA256 as :func:`keyed_hash`; null stays null."""
    inner_pad, outer_pad = _pads(key)
    value = F.col(col) if isinstance(col, str) else col
    message = value.cast("string").cast("binary")
    inner = F.unhex(F.sha2(F.concat(F.lit(inner_pad), message), 256))
    return F.sha2(F.concat(F.lit(outer_pad), inner), 256)


def keyed_hash_sql(key: bytes, expression: str) -> str:
    """The same hash as :func:`keyed_hash_col`, as Spark SQL text over ``expression``
    (for view definitions and ``selectExpr``)."""
    inner_pad, outer_pad = _pads(key)
    message = f"CAST(CAST({expression} AS STRING) AS BINARY)"
    inner = f"unhex(sha2(concat(X'{inner_pad.hex()}', {message}), 256))"
    return f"sha2(concat(X'{outer_pad.hex()}', {inner}), 256)"
