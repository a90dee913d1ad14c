"""The audience: what segment rules and look-alikes see, one row per profile.

Every column of gold.profiles (golden attributes, consent and ``is_<purpose>_allowed``,
behaviour, RFM), plus the champion models' scores pivoted from gold.propensity_scores
(``score_<model>`` and ``decile_<model>``, null where a profile has no score or the models
have not run), plus recency columns computed against the batch date:
``days_since_last_purchase``, ``days_since_last_web_visit``, ``days_since_last_app_visit``
and ``days_since_first_seen``. They count from the batch date, never from today, so
re-running an old night evaluates every rule exactly as it was evaluated then.

:data:`AUDIENCE_TYPES` names the columns and their types without Spark, so segment
definitions are checked before a session starts.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from schemas.gold import MODELS, PROFILE

# days_since_<name> = days from the timestamp column's date to the batch date.
DAYS_SINCE: dict[str, str] = {
    "days_since_last_purchase": "last_purchase_at",
    "days_since_last_web_visit": "last_web_visit_at",
    "days_since_last_app_visit": "last_app_visit_at",
    "days_since_first_seen": "first_seen",
}

SCORE_TYPES: dict[str, str] = {
    **{f"score_{m}": "double" for m in MODELS},
    **{f"decile_{m}": "int" for m in MODELS},
}

# Column -> Spark SQL type of the audience frame, in order.
AUDIENCE_TYPES: dict[str, str] = {
    **{f.name: f.dtype for f in PROFILE.fields},
    **SCORE_TYPES,
    **dict.fromkeys(DAYS_SINCE, "int"),
}


def pivot_scores(scores: DataFrame) -> DataFrame:
    """One row per scored profile: score_<model> and decile_<model> for every model."""
    return scores.groupBy("profile_id").agg(
        *[
            F.max(F.when(F.col("model") == m, F.col("score"))).cast("double").alias(f"score_{m}")
            for m in MODELS
        ],
        *[
            F.max(F.when(F.col("model") == m, F.col("decile"))).cast("int").alias(f"decile_{m}")
            for m in MODELS
        ],
    )


def audience(profiles: DataFrame, scores: DataFrame | None, batch_date: dt.date) -> DataFrame:
    """The audience frame (:data:`AUDIENCE_TYPES`) of ``profiles`` as of ``batch_date``;
    ``scores`` (gold.propensity_scores) may be None, leaving the score columns null."""
    base = profiles.select(*PROFILE.names)
    if scores is None:
        with_scores = base.select(
            "*", *[F.lit(None).cast(t).alias(c) for c, t in SCORE_TYPES.items()]
        )
    else:
        with_scores = base.join(pivot_scores(scores), "profile_id", "left")
    as_of = F.lit(batch_date).cast("date")
    derived = {
        name: F.datediff(as_of, F.to_date(F.col(source))).cast("int")
        for name, source in DAYS_SINCE.items()
    }
    return with_scores.withColumns(derived).select(
        *[F.col(c).cast(t).alias(c) for c, t in AUDIENCE_TYPES.items()]
    )
