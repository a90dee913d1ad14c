"""Train, compare and score the propensity models (Spark ML, tracked in MLflow).

The split is by time, never by row: with ``h`` label days and the batch date ``D``,

    training set:  features as of D - 2h, label from (D - 2h, D - h]
    holdout set:   features as of D - h,  label from (D - h, D]

so the model is judged on a later window than it learnt from, as it will be used. ``h`` is
the configured horizon, shortened to a third of the history when a new installation has less
(the run logs the horizon it used and the scores carry it). The candidate is a
gradient-boosted tree ensemble over the windowed behaviour features; a plain logistic
regression on recency, frequency and monetary value is trained on the same split as the
baseline it must beat. The candidate becomes the ``champion`` only when its holdout ROC AUC
beats the current champion's on the very same holdout.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import GBTClassifier, LogisticRegression
from pyspark.ml.feature import StandardScaler, VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from cdp.core.errors import CdpError
from jobs.models import features as feats
from jobs.models import registry
from jobs.models.metrics import Metrics, evaluate

if TYPE_CHECKING:
    from cdp.core.settings import Settings

log = logging.getLogger(__name__)

MODELS = ("purchase_propensity", "churn")


class NotTrainable(CdpError):
    """The history cannot train the model: too short, or a training window of one class."""


@dataclass(frozen=True)
class Split:
    """Cutoffs of one time split."""

    history_start: dt.date
    as_of: dt.date
    label_days: int
    train_cutoff: dt.date
    holdout_cutoff: dt.date

    def as_params(self) -> dict[str, str]:
        return {k: str(v) for k, v in dataclasses.asdict(self).items()}


def time_split(history_start: dt.date, as_of: dt.date, horizon_days: int) -> Split | None:
    """The split for a model looking ``horizon_days`` ahead, or None when the history is
    too short to hold a training and a holdout label window (under three days)."""
    history = (as_of - history_start).days + 1
    label_days = min(horizon_days, history // 3)
    if label_days < 1:
        return None
    holdout_cutoff = as_of - dt.timedelta(days=label_days)
    train_cutoff = holdout_cutoff - dt.timedelta(days=label_days)
    return Split(history_start, as_of, label_days, train_cutoff, holdout_cutoff)


@dataclass(frozen=True)
class Inputs:
    """What the models read: the profiles they may process (profile_id, first_seen) and the
    behaviour consent lets feed them."""

    population: DataFrame
    purchases: DataFrame
    activity: DataFrame
    windows: tuple[int, ...]

    def features(self, cutoff: dt.date) -> DataFrame:
        return feats.features_as_of(
            self.population, self.purchases, self.activity, cutoff, self.windows
        )


def horizon(settings: Settings, model: str) -> int:
    p = settings.propensity
    return p.horizon_days if model == "purchase_propensity" else p.churn_horizon_days


def labelled_set(inputs: Inputs, settings: Settings, model: str, cutoff: dt.date,
                 label_days: int) -> DataFrame:  # fmt: skip
    """Features as of ``cutoff`` with the label from the ``label_days`` after it."""
    x = inputs.features(cutoff)
    if model == "churn":
        x = feats.churn_population(x, settings.propensity.churn_lookback_days)
    return feats.labelled(x, feats.purchase_label(inputs.purchases, cutoff, label_days), model)


def candidate_pipeline(columns: list[str], settings: Settings) -> Pipeline:
    p = settings.propensity
    return Pipeline(
        stages=[
            VectorAssembler(inputCols=columns, outputCol="features"),
            GBTClassifier(
                featuresCol="features",
                labelCol="label",
                maxIter=p.max_iter,
                maxDepth=p.max_depth,
                stepSize=p.step_size,
                minInstancesPerNode=p.min_instances_per_node,
                subsamplingRate=p.subsampling_rate,
                seed=p.seed,
            ),
        ]
    )


def baseline_pipeline() -> Pipeline:
    """Logistic regression on recency, frequency and monetary value."""
    return Pipeline(
        stages=[
            VectorAssembler(inputCols=list(feats.RFM_FEATURES), outputCol="rfm"),
            StandardScaler(inputCol="rfm", outputCol="features", withMean=True),
            LogisticRegression(featuresCol="features", labelCol="label", maxIter=100),
        ]
    )


def scored(model: PipelineModel, df: DataFrame) -> DataFrame:
    """``df`` with ``score``: the model's probability of the positive class."""
    out = model.transform(df)
    return out.withColumn("score", vector_to_array("probability")[1])


def _metrics(model: PipelineModel, holdout: DataFrame) -> Metrics:
    return evaluate(scored(model, holdout).select("score", "label"))


@dataclass(frozen=True)
class TrainingResult:
    model: str
    version: str
    run_id: str
    promoted: bool
    reason: str
    label_days: int
    metrics: dict[str, float]

    def brief(self) -> dict:
        return dataclasses.asdict(self)


def _finite(value: float) -> bool:
    return not (value is None or math.isnan(value))


def train(
    inputs: Inputs, settings: Settings, model: str, split: Split, data_label: str = ""
) -> TrainingResult:
    """Train ``model`` on ``split``, log it to MLflow, register it and promote it when it
    beats the champion on the holdout."""
    import mlflow
    import mlflow.spark
    import pyspark
    from mlflow.models import infer_signature

    client, experiment_id = registry.connect(settings)
    columns = feats.all_feature_names(inputs.windows)
    # Sorted by profile, so the same data gives the same model (the trees' row sampling
    # follows the rows' order, which a shuffle would otherwise leave to chance).
    train_set = labelled_set(inputs, settings, model, split.train_cutoff, split.label_days)
    holdout = labelled_set(inputs, settings, model, split.holdout_cutoff, split.label_days)
    train_set = train_set.orderBy("profile_id").persist()
    holdout = holdout.orderBy("profile_id").persist()
    try:
        classes = train_set.select("label").distinct().count()
        if classes < 2:
            raise NotTrainable(
                f"{model}: the training window after {split.train_cutoff} has "
                f"{'no profiles' if classes == 0 else 'a single outcome'}; nothing to learn"
            )
        candidate = candidate_pipeline(columns, settings).fit(train_set)
        baseline = baseline_pipeline().fit(train_set)
        m_candidate = _metrics(candidate, holdout)
        m_baseline = _metrics(baseline, holdout)
        m_train = _metrics(candidate, train_set)

        current = registry.champion(client, settings, model)
        m_champion = None
        if current is not None:
            try:
                m_champion = _metrics(registry.load(current), holdout)
            except Exception as exc:  # a champion built on other features cannot score it
                log.warning("%s: champion v%s cannot score the holdout: %s", model,
                            current.version, str(exc).splitlines()[0])  # fmt: skip

        importances = dict(
            zip(columns, candidate.stages[-1].featureImportances.toArray().tolist(), strict=True)
        )
        metrics = {
            **m_candidate.as_dict("holdout_"),
            **m_baseline.as_dict("baseline_holdout_"),
            "train_roc_auc": m_train.roc_auc,
            **(m_champion.as_dict("champion_holdout_") if m_champion else {}),
        }
        with mlflow.start_run(
            experiment_id=experiment_id, run_name=f"{model} {split.as_of}"
        ) as run:
            mlflow.set_tags({"model": model, "as_of": str(split.as_of), "data": data_label})
            params = {
                k: (",".join(map(str, v)) if isinstance(v, tuple) else v)
                for k, v in dataclasses.asdict(settings.propensity).items()
            }
            mlflow.log_params({**params, **split.as_params(), "features": len(columns),
                               "train_rows": m_train.rows, "holdout_rows": m_candidate.rows,
                               "train_positives": m_train.positives,
                               "holdout_positives": m_candidate.positives})  # fmt: skip
            mlflow.log_metrics({k: v for k, v in metrics.items() if _finite(v)})
            mlflow.log_dict(
                dict(sorted(importances.items(), key=lambda kv: -kv[1])),
                "feature_importances.json",
            )
            # The signature: column names and types only, never an example row of data.
            sample = train_set.select(*columns).limit(50).toPandas()
            signature = infer_signature(sample, sample[columns[0]].rename("score"))
            info = mlflow.spark.log_model(
                candidate,
                artifact_path="model",
                registered_model_name=registry.registered_name(settings, model),
                signature=signature,
                pip_requirements=[f"pyspark=={pyspark.__version__}"],
            )
        version = str(info.registered_model_version)
        promoted, reason = decide(m_candidate, m_champion, settings.propensity.min_improvement)
        name = registry.registered_name(settings, model)
        client.set_model_version_tag(name, version, "promotion", reason)
        client.set_model_version_tag(name, version, "holdout_roc_auc", f"{m_candidate.roc_auc:.6f}")
        if promoted:
            registry.promote(client, settings, model, version)
        log.info("%s v%s: holdout ROC AUC %.4f (baseline %.4f): %s", model, version,
                 m_candidate.roc_auc, m_baseline.roc_auc, reason)  # fmt: skip
        return TrainingResult(model, version, run.info.run_id, promoted, reason,
                              split.label_days, metrics)  # fmt: skip
    finally:
        train_set.unpersist()
        holdout.unpersist()


def decide(
    candidate: Metrics, champion: Metrics | None, min_improvement: float
) -> tuple[bool, str]:
    """Whether the candidate replaces the champion, and why (same holdout, ROC AUC)."""
    if champion is None:
        # A new installation scores with its first model, however short its history.
        return True, f"promoted: first model (holdout ROC AUC {candidate.roc_auc:.4f})"
    if not _finite(candidate.roc_auc):
        return False, "refused: the holdout has a single class, so the model cannot be judged"
    if not _finite(champion.roc_auc):
        return True, "promoted: the champion cannot be judged on this holdout"
    if candidate.roc_auc > champion.roc_auc + min_improvement:
        return True, (
            f"promoted: holdout ROC AUC {candidate.roc_auc:.4f} beats the champion's "
            f"{champion.roc_auc:.4f}"
        )
    return False, (
        f"refused: holdout ROC AUC {candidate.roc_auc:.4f} does not beat the champion's "
        f"{champion.roc_auc:.4f} by more than {min_improvement}"
    )


def deciles(scores: DataFrame) -> DataFrame:
    """``decile`` 1-10 from approximate quantiles of ``score`` (no global sort)."""
    cuts = scores.approxQuantile("score", [i / 10 for i in range(1, 10)], 0.001)
    decile = F.lit(1)
    for cut in cuts:
        decile = decile + F.when(F.col("score") > F.lit(cut), 1).otherwise(0)
    return scores.withColumn("decile", decile.cast("int"))


def score(
    pipeline: PipelineModel,
    features: DataFrame,
    model: str,
    champ: registry.Champion,
    as_of: dt.date,
    scored_at: dt.datetime,
) -> DataFrame:
    """gold.propensity_scores rows of ``model`` for ``features`` (as of ``as_of``)."""
    out = scored(pipeline, features).select("profile_id", "score")
    rows = deciles(out).select(
        "profile_id",
        F.lit(model).alias("model"),
        F.lit(champ.horizon_days).cast("int").alias("horizon_days"),
        F.col("score").cast("double").alias("score"),
        "decile",
        F.lit(champ.version).alias("model_version"),
        F.lit(champ.run_id).alias("model_run_id"),
        F.lit(as_of).alias("as_of"),
        F.lit(scored_at).cast("timestamp").alias("scored_at"),
    )
    return rows


def describe(results: list[TrainingResult]) -> str:
    return json.dumps([r.brief() for r in results], indent=2, default=str)
