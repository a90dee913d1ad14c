"""Spark wrappers (Arrow pandas UDFs) around the pure normalisers in jobs.standardise.values.

Each returns a struct of (value, issue) so a job can null a bad field and record why in one
pass. Vectorised UDFs move data in Arrow batches; the normalisers themselves are per value
because phonenumbers and email-validator are.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable

import pandas as pd
from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.functions import pandas_udf
from pyspark.sql.utils import is_remote

from jobs.standardise import values as std


def _struct(**fields: T.DataType) -> T.StructType:
    # Type objects, not DDL strings: parsing DDL needs a live session at import time.
    return T.StructType([T.StructField(name, dtype) for name, dtype in fields.items()])


def _vectorised(return_type: T.DataType) -> Callable[[Callable], Callable[..., Column]]:
    """``pandas_udf(return_type)``, made when the UDF is first called rather than at import.
    PySpark makes a classic or a Spark Connect UDF depending on whether a Connect session
    exists when it is made, and a module imported before the session (a DAG task imports
    its job first) would hold a classic one, which a Connect session cannot call
    (SESSION_OR_CONTEXT_NOT_EXISTS: the GDPR DAG failed so on the stack)."""

    def decorate(fn: Callable) -> Callable[..., Column]:
        made: dict[bool, Callable[..., Column]] = {}

        @functools.wraps(fn)
        def call(*columns: Column | str) -> Column:
            remote = is_remote()
            if remote not in made:
                made[remote] = pandas_udf(fn, return_type)
            return made[remote](*columns)

        return call

    return decorate


def tidy_text(raw: str | None) -> str | None:
    """NFC, trimmed, inner whitespace collapsed; blank becomes None."""
    if raw is None:
        return None
    text = " ".join(unicodedata.normalize("NFC", raw).split())
    return text or None


def _pairs(values, fn) -> pd.DataFrame:
    out = [fn(v) for v in values]
    return pd.DataFrame({"value": [o[0] for o in out], "issue": [o[1] for o in out]})


def _text(v):
    return None if v is None or (isinstance(v, float) and pd.isna(v)) else str(v)


@_vectorised(_struct(value=T.StringType(), is_valid=T.BooleanType(), key=T.StringType()))
def email_udf(raw: pd.Series) -> pd.DataFrame:
    values, valid, keys = [], [], []
    for v in raw:
        email, ok = std.normalise_email(_text(v))
        values.append(email)
        valid.append(ok)
        keys.append(std.email_match_key(email) if ok else None)
    return pd.DataFrame({"value": values, "is_valid": valid, "key": keys})


@_vectorised(_struct(value=T.StringType(), issue=T.StringType()))
def phone_udf(raw: pd.Series, region: pd.Series) -> pd.DataFrame:
    out = [std.normalise_phone(_text(v), _text(r)) for v, r in zip(raw, region, strict=True)]
    return pd.DataFrame({"value": [o[0] for o in out], "issue": [o[1] for o in out]})


@_vectorised(_struct(value=T.StringType(), key=T.StringType()))
def name_udf(raw: pd.Series) -> pd.DataFrame:
    texts = [_text(v) for v in raw]
    return pd.DataFrame(
        {
            "value": [std.normalise_name(t) for t in texts],
            "key": [std.name_match_key(t) for t in texts],
        }
    )


def make_date_udf(formats: tuple[str, ...], min_year: int):
    """A date parser for the given formats; earlier years than ``min_year`` are implausible."""

    @_vectorised(_struct(value=T.DateType(), issue=T.StringType()))
    def date_udf(raw: pd.Series) -> pd.DataFrame:
        return _pairs(
            (_text(v) for v in raw),
            lambda t: std.parse_date(t, formats=tuple(formats), min_year=min_year),
        )

    return date_udf


@_vectorised(_struct(value=T.TimestampNTZType(), issue=T.StringType()))
def timestamp_udf(raw: pd.Series) -> pd.DataFrame:
    return _pairs((_text(v) for v in raw), std.parse_timestamp)


@_vectorised(_struct(value=T.StringType(), issue=T.StringType()))
def consent_udf(raw: pd.Series) -> pd.DataFrame:
    return _pairs((_text(v) for v in raw), std.parse_consent)


@_vectorised(_struct(value=T.StringType(), issue=T.StringType()))
def country_udf(raw: pd.Series) -> pd.DataFrame:
    return _pairs((_text(v) for v in raw), std.normalise_country)


@_vectorised(T.StringType())
def postal_code_udf(raw: pd.Series, country: pd.Series) -> pd.Series:
    return pd.Series(
        [std.normalise_postal_code(_text(v), _text(c)) for v, c in zip(raw, country, strict=True)],
        dtype=object,
    )


@_vectorised(T.StringType())
def tidy_text_udf(raw: pd.Series) -> pd.Series:
    """Free text (street, city, product name): NFC, trimmed, inner whitespace collapsed."""
    return pd.Series([tidy_text(_text(v)) for v in raw], dtype=object)


@_vectorised(_struct(value=T.StringType(), issue=T.StringType()))
def decimal_udf(raw: pd.Series) -> pd.DataFrame:
    out = [std.parse_decimal(_text(v)) for v in raw]
    # Decimals travel as text and are cast in Spark: Arrow decimal scale must be fixed.
    return pd.DataFrame(
        {
            "value": [None if o[0] is None else format(o[0], "f") for o in out],
            "issue": [o[1] for o in out],
        }
    )


@_vectorised(_struct(value=T.LongType(), issue=T.StringType()))
def int_udf(raw: pd.Series) -> pd.DataFrame:
    out = [std.parse_int(_text(v)) for v in raw]
    return pd.DataFrame(
        {"value": pd.array([o[0] for o in out], dtype="Int64"), "issue": [o[1] for o in out]}
    )


def issue(field_name: str, parsed: Column) -> Column:
    """'field:code' when the parsed struct reports a problem, else null."""
    return F.when(parsed["issue"].isNotNull(), F.concat(F.lit(f"{field_name}:"), parsed["issue"]))


def collect_issues(*issues: Column) -> Column:
    """The non-null issue strings as an array (empty when the row is clean)."""
    return F.filter(F.array(*issues), lambda x: x.isNotNull())
