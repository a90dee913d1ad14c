"""Purpose-bound processing: when a profile may be processed for a purpose, and which
sources' data may feed it.

One rule decides every purpose (GDPR Article 6): under the lawful basis ``consent`` a purpose
is allowed only where consent is granted; under any other basis (contract, legitimate
interest, ...) it is allowed unless the person objected (denied). Unknown never counts as
granted. The basis per purpose and the purposes each source's data may serve are settings
(``governance.lawful_basis``, ``governance.source_purposes``), never code.

Later jobs (segments, exports, models) read ``is_<purpose>_allowed`` from gold.profiles or
call :func:`allowed_col` on a consent column.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from schemas.xdm import CONSENT_VALUES, LAWFUL_BASES, PURPOSES

if TYPE_CHECKING:
    from cdp.core.settings import GovernanceSettings

CONSENT = "consent"


def basis_of(purpose: str, lawful_basis: dict[str, str]) -> str:
    """The lawful basis of ``purpose``; consent (the strictest) when none is configured."""
    return lawful_basis.get(purpose, CONSENT)


def is_allowed(value: str | None, basis: str) -> bool:
    """Whether a profile whose consent is ``value`` may be processed under ``basis``."""
    value = value if value in CONSENT_VALUES else "unknown"
    return value == "granted" if basis == CONSENT else value != "denied"


def allowed_col(value: Column | str, basis: str) -> Column:
    """Column version of :func:`is_allowed`; a null consent counts as unknown."""
    value = F.coalesce(F.col(value) if isinstance(value, str) else value, F.lit("unknown"))
    if basis == CONSENT:
        return value == F.lit("granted")
    return value != F.lit("denied")


def check(governance: GovernanceSettings) -> None:
    """Fail with a readable message on a basis or purpose the settings name but we lack."""
    for purpose, basis in governance.lawful_basis.items():
        if purpose not in PURPOSES:
            raise ValueError(
                f"governance.lawful_basis: unknown purpose {purpose!r} (known: {', '.join(PURPOSES)})"
            )
        if basis not in LAWFUL_BASES:
            raise ValueError(
                f"governance.lawful_basis.{purpose}: unknown basis {basis!r} "
                f"(known: {', '.join(LAWFUL_BASES)})"
            )
    for source, purposes in governance.source_purposes.items():
        unknown = [p for p in purposes if p not in PURPOSES]
        if unknown:
            raise ValueError(
                f"governance.source_purposes.{source}: unknown purposes {', '.join(unknown)} "
                f"(known: {', '.join(PURPOSES)})"
            )


def with_permissions(consents: DataFrame, lawful_basis: dict[str, str]) -> DataFrame:
    """``consents`` (profile_id, consent_<p> per purpose) plus consent_<p>_basis and
    is_<p>_allowed for every purpose; a missing or null consent reads as unknown."""
    columns: dict[str, Column] = {}
    for p in PURPOSES:
        basis = basis_of(p, lawful_basis)
        value = F.col(f"consent_{p}") if f"consent_{p}" in consents.columns else F.lit(None)
        columns[f"consent_{p}"] = F.coalesce(value.cast("string"), F.lit("unknown"))
        columns[f"consent_{p}_basis"] = F.lit(basis)
        columns[f"is_{p}_allowed"] = allowed_col(columns[f"consent_{p}"], basis)
    return consents.withColumns(columns)


def source_allowed_col(
    source: Column, source_purposes: dict[str, tuple[str, ...]], prefix: str = ""
) -> Column:
    """Whether a row from ``source`` may feed its profile: every purpose listed for the source
    is allowed (needs ``<prefix>is_<p>_allowed`` columns; null counts as not allowed).
    Sources without a rule always may."""
    rule = None
    for name, purposes in source_purposes.items():
        ok = F.lit(True)
        for p in purposes:
            ok = ok & F.coalesce(F.col(f"{prefix}is_{p}_allowed"), F.lit(False))
        rule = F.when(source == F.lit(name), ok) if rule is None else rule.when(source == name, ok)
    return F.lit(True) if rule is None else rule.otherwise(F.lit(True))


def keep_permitted(
    rows: DataFrame,
    permissions: DataFrame,
    source_purposes: dict[str, tuple[str, ...]],
    source: Column | str = "source",
) -> DataFrame:
    """The ``rows`` (profile_id and a source) whose source's purposes are all allowed for their
    profile. ``permissions``: profile_id and is_<p>_allowed (:func:`with_permissions`). A row
    of a ruled source whose profile is missing from ``permissions`` is dropped."""
    if not source_purposes:
        return rows
    flags = [f"is_{p}_allowed" for p in PURPOSES]
    judged = rows.join(
        permissions.select("profile_id", *[F.col(c).alias(f"_perm_{c}") for c in flags]),
        "profile_id",
        "left",
    )
    src = F.col(source) if isinstance(source, str) else source
    return judged.where(source_allowed_col(src, source_purposes, "_perm_")).select(*rows.columns)
