"""Look-alike segments: the profiles that most resemble a seed segment's members.

A logistic regression (Spark ML) learns seed (1) against everyone else (0) from the
audience's numeric columns, and every profile's predicted probability is its similarity to
the seed. This is positive-unlabelled learning in its simplest form (Elkan and Noto, 2008:
a classifier of labelled vs unlabelled ranks the unlabelled like one of positive vs
negative), which is what a look-alike needs: an order, not a calibrated probability.

- Features: the audience's numeric columns that may feed models (jobs/governance/usage.py
  ``feature_columns`` drops anything labelled no-data-science, C9), including the scores
  and the ``days_since_*`` columns. A missing value is imputed with the median and flagged
  by a ``<column>_missing`` indicator (a profile that never visited the web differs from
  one that visited yesterday); a column with no value at all is left out. Everything is
  standardised so coefficients compare.
- Classes are weighted to balance (a seed is usually tiny next to everyone else).
- The model is trained on profiles allowed for ``training_purpose`` (analytics: building a
  model is analysing the data), and it publishes only profiles allowed for the look-alike's
  own purpose that are not seed members: the ``size`` most similar, ranked by similarity,
  ties by profile_id.
- ``top_factors`` names, per profile, the three features with the largest positive
  coefficient x standardised value: what made it look like the seed.

Everything runs in Spark; only the model's coefficients and a few counts reach the driver.
"""

from __future__ import annotations

import logging

from pyspark.ml import Pipeline
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.feature import Imputer, StandardScaler, VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import NumericType

from jobs.governance.usage import feature_columns

log = logging.getLogger(__name__)

TOP_FACTORS = 3
# Light L2 keeps coefficients finite when a tiny seed separates perfectly from the rest.
REG_PARAM = 0.01
MAX_ITER = 100
TRAINING_PURPOSE = "analytics"

_LABEL, _WEIGHT, _RAW, _FEATURES = "_label", "_weight", "_raw", "_features"


def candidate_features(audience: DataFrame) -> list[str]:
    """The audience's numeric columns a model may use (no C9 label on gold.profiles)."""
    numeric = [f.name for f in audience.schema.fields if isinstance(f.dataType, NumericType)]
    return feature_columns("gold.profiles", numeric)


def _empty(audience: DataFrame) -> DataFrame:
    return audience.select(
        "profile_id",
        F.lit(None).cast("double").alias("similarity"),
        F.lit(None).cast("int").alias("rank"),
        F.lit(None).cast("array<string>").alias("top_factors"),
    ).limit(0)


def lookalike(
    audience: DataFrame,
    seed: DataFrame,
    purpose: str,
    size: int,
    training_purpose: str = TRAINING_PURPOSE,
    name: str = "lookalike",
) -> DataFrame:
    """The ``size`` non-seed profiles allowed for ``purpose`` most similar to ``seed``
    (profile_id): profile_id, similarity (0..1), rank (1 = most similar), top_factors.

    A seed with fewer than two trainable members, or nobody to tell it from, gives an empty
    segment and a warning (a new segment should not fail the night).
    """
    seeds = seed.select("profile_id").distinct().withColumn(_LABEL, F.lit(1.0))
    features = candidate_features(audience)
    frame = audience.select(
        "profile_id",
        F.col(f"is_{training_purpose}_allowed").alias("_train"),
        F.col(f"is_{purpose}_allowed").alias("_target"),
        *[F.col(c).cast("double").alias(c) for c in features],
    ).join(seeds, "profile_id", "left")
    frame = frame.withColumn(_LABEL, F.coalesce(F.col(_LABEL), F.lit(0.0)))
    train = frame.where(F.col("_train"))

    # One pass for everything the driver must decide on: class sizes, which columns have
    # any value to learn from, and which have gaps that need an indicator.
    stats = frame.agg(
        F.count_if(F.col("_train") & (F.col(_LABEL) == 1.0)).alias("_pos"),
        F.count_if(F.col("_train") & (F.col(_LABEL) == 0.0)).alias("_neg"),
        F.count(F.lit(1)).alias("_all"),
        *[F.count_if(F.col("_train") & F.col(c).isNotNull()).alias(f"t_{c}") for c in features],
        *[F.count(c).alias(f"a_{c}") for c in features],
    ).first()
    positives, negatives = stats["_pos"], stats["_neg"]
    if positives < 2 or negatives < 1:
        log.warning(
            "segment %s: seed has %d trainable members and %d non-members; publishing none",
            name,
            positives,
            negatives,
        )
        return _empty(audience)
    usable = [c for c in features if stats[f"t_{c}"] > 0]
    if not usable:
        log.warning("segment %s: no feature has any value; publishing none", name)
        return _empty(audience)
    gappy = [c for c in usable if stats[f"a_{c}"] < stats["_all"]]

    indicators = {f"{c}_missing": F.col(c).isNull().cast("double") for c in gappy}
    imputed = [f"{c}_imputed" for c in usable]
    inputs = imputed + list(indicators)
    names = usable + list(indicators)
    total = positives + negatives
    # Balanced class weights: each class carries half the total weight.
    weight = F.when(F.col(_LABEL) == 1.0, F.lit(total / (2.0 * positives))).otherwise(
        F.lit(total / (2.0 * negatives))
    )
    pipeline = Pipeline(
        stages=[
            Imputer(inputCols=usable, outputCols=imputed, strategy="median"),
            VectorAssembler(inputCols=inputs, outputCol=_RAW),
            StandardScaler(inputCol=_RAW, outputCol=_FEATURES, withMean=True, withStd=True),
            LogisticRegression(
                featuresCol=_FEATURES,
                labelCol=_LABEL,
                weightCol=_WEIGHT,
                regParam=REG_PARAM,
                maxIter=MAX_ITER,
                # Already standardised above, and the coefficients must be on that scale
                # for coefficient x value to compare features.
                standardization=False,
            ),
        ]
    )
    model = pipeline.fit(train.withColumns(indicators).withColumn(_WEIGHT, weight))
    coefficients = model.stages[-1].coefficients.toArray().tolist()

    candidates = frame.where(F.col("_target") & (F.col(_LABEL) == 0.0)).withColumns(indicators)
    scored = model.transform(candidates)
    x = vector_to_array(F.col(_FEATURES))
    contributions = F.array(
        *[
            F.struct((F.lit(c) * x[i]).alias("v"), F.lit(n).alias("n"))
            for i, (c, n) in enumerate(zip(coefficients, names, strict=True))
        ]
    )
    top = F.slice(
        F.sort_array(F.filter(contributions, lambda s: s["v"] > 0), asc=False), 1, TOP_FACTORS
    )
    ranked = (
        scored.select(
            "profile_id",
            vector_to_array(F.col("probability"))[1].alias("similarity"),
            F.transform(top, lambda s: s["n"]).alias("top_factors"),
        )
        # A top-N sort (TakeOrderedAndProject): only `size` rows reach one partition.
        .orderBy(F.col("similarity").desc(), F.col("profile_id"))
        .limit(size)
    )
    order = Window.orderBy(F.col("similarity").desc(), F.col("profile_id"))
    return ranked.select(
        "profile_id",
        "similarity",
        F.row_number().over(order).cast("int").alias("rank"),
        "top_factors",
    )
