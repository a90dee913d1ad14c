"""Train, compare and score the propensity models (Spark ML, tracked in MLflow).

The split is by time, never by row: with ``h`` label days and the batch date ``D``,

    training set:  features as of D - 2h, label from (D - 2h, D - h]
    holdout set:   features as of D - h,  label from (D - h, D]

so the model is judged on a later window than it learnt from, as it will be used. ``h`` is
the configured horizon, shortened to a third of the history when a new installation has less
(the run logs the horizon it used and the scores carry it).

Each run fits every candidate on the training set (``propensity.candidates``): the textbook
baseline, a logistic regression on log recency, frequency, monetary value and tenure; the
buy-till-you-die model BG/NBD (jobs/models/clv.py), whose probability of at least one
purchase in the label window is read from each customer's purchase days alone; and
gradient-boosted trees over every feature stacked on both baselines' margins. The one with the
best holdout ROC AUC goes forward, so the platform's model never loses to the textbook on the
window it is judged on; on a tie the simpler one. Its probabilities are then calibrated on the
holdout (Platt scaling: monotone, so the ranking stays its own), so that a score of 0.3 means
30 %. It becomes the ``champion`` only when its holdout ROC AUC beats the current champion's
on the very same holdout. Every candidate's holdout metrics are logged in MLflow.
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
from pyspark.ml.feature import SQLTransformer, StandardScaler, VectorAssembler, VectorSlicer
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from cdp.core.errors import CdpError
from jobs.models import clv, registry
from jobs.models import features as feats
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


# The textbook baseline's inputs, on a log scale: recency, frequency, monetary value, tenure.
RFM_LOGS = {
    "log_recency": "days_since_last_order",
    "log_frequency": "lifetime_orders",
    "log_monetary": "greatest(lifetime_revenue, 0)",
    "log_tenure": "tenure_days",
}


def _rfm_stages() -> list:
    """Logistic regression on the log RFM features and tenure, its margin in ``rfm_raw``."""
    logs = ", ".join(f"ln(1 + {column}) AS {name}" for name, column in RFM_LOGS.items())
    return [
        SQLTransformer(statement=f"SELECT *, {logs} FROM __THIS__"),
        VectorAssembler(inputCols=list(RFM_LOGS), outputCol="rfm_vector"),
        StandardScaler(inputCol="rfm_vector", outputCol="rfm_scaled", withMean=True),
        LogisticRegression(
            featuresCol="rfm_scaled",
            labelCol="label",
            maxIter=100,
            probabilityCol="rfm_probability",
            rawPredictionCol="rfm_raw",
            predictionCol="rfm_prediction",
        ),
    ]


# BG/NBD's summary of a buyer, from the features: purchase days after the first, days from
# the first purchase day to the last, and from the first to the cutoff. (Zeros for a profile
# with no purchase yet, which the model does not describe: see _bgnbd_stages.)
BGNBD_SUMMARY = {
    "bgnbd_frequency": "greatest(purchase_days - 1, 0)",
    "bgnbd_recency": "CASE WHEN purchase_days > 0 "
    "THEN days_since_first_order - days_since_last_order ELSE 0 END",
    "bgnbd_T": "CASE WHEN purchase_days > 0 THEN days_since_first_order ELSE 0 END",
}


def bgnbd_summary(features: DataFrame) -> DataFrame:
    """The buyers' (frequency, recency, T) BG/NBD is fitted on (the first purchase starts a
    customer's clock, as the model has it)."""
    return features.where(F.col("purchase_days") > 0).select(
        *[F.expr(expr).cast("double").alias(name.removeprefix("bgnbd_"))
          for name, expr in BGNBD_SUMMARY.items()]
    )  # fmt: skip


def _bgnbd_stages(params: clv.BgNbd, model: str, days: int, never_bought: float) -> list:
    """The fitted BG/NBD model's probability of the label in ``bgnbd_p`` (a purchase in the
    ``days`` after the cutoff; none, for churn), its log-odds in ``bgnbd_margin`` and as the
    two-class vectors the other candidates have (``bgnbd_raw``, ``bgnbd_probability``).

    BG/NBD describes customers from their first purchase on; a profile with no purchase yet
    (a web sign-up) is no one-time buyer, so it gets ``never_bought``, the rate of the label
    among such profiles in the training set, rather than the model's guess."""
    summary = ", ".join(f"CAST({expr} AS double) AS {name}" for name, expr in BGNBD_SUMMARY.items())
    buys = params.probability_of_purchase("bgnbd_frequency", "bgnbd_recency", "bgnbd_T", days)
    label = buys if model == "purchase_propensity" else f"1 - {buys}"
    label = f"CASE WHEN purchase_days > 0 THEN {label} ELSE {float(never_bought)!r} END"
    # Clipped: a certain outcome has infinite log-odds, which no later stage can use. A null
    # or NaN stays one, for the VectorAssembler to refuse rather than hide.
    p = f"CASE WHEN isnan({label}) THEN NULL ELSE least(greatest({label}, 1e-9), 1 - 1e-9) END"
    return [
        SQLTransformer(statement=f"SELECT *, {summary} FROM __THIS__"),
        SQLTransformer(statement=f"SELECT *, {p} AS bgnbd_p FROM __THIS__"),
        SQLTransformer(
            statement="SELECT *, ln(bgnbd_p / (1 - bgnbd_p)) AS bgnbd_margin, "
            "-ln(bgnbd_p / (1 - bgnbd_p)) AS bgnbd_other, 1 - bgnbd_p AS bgnbd_q FROM __THIS__"
        ),
        VectorAssembler(inputCols=["bgnbd_other", "bgnbd_margin"], outputCol="bgnbd_raw"),
        VectorAssembler(inputCols=["bgnbd_q", "bgnbd_p"], outputCol="bgnbd_probability"),
    ]


def gbt_pipeline(columns: list[str], settings: Settings, bgnbd: list | None = None) -> Pipeline:
    """Gradient-boosted trees over every feature and the baselines' margins (stacked: the
    trees start from what the textbook models already know), its margin in ``gbt_raw``.
    ``bgnbd``: the fitted BG/NBD stages, when there is one."""
    p = settings.propensity
    bgnbd = bgnbd or []
    return Pipeline(
        stages=[
            *_rfm_stages(),
            *bgnbd,
            VectorSlicer(inputCol="rfm_raw", outputCol="rfm_margin", indices=[1]),
            VectorAssembler(
                inputCols=[*columns, *stacked_margins(bool(bgnbd))], outputCol="features"
            ),
            GBTClassifier(
                featuresCol="features",
                labelCol="label",
                maxIter=p.max_iter,
                maxDepth=p.max_depth,
                stepSize=p.step_size,
                minInstancesPerNode=p.min_instances_per_node,
                subsamplingRate=p.subsampling_rate,
                seed=p.seed,
            )
            # Not constructor arguments of GBTClassifier in PySpark, though it has them.
            .setProbabilityCol("gbt_probability")
            .setRawPredictionCol("gbt_raw")
            .setPredictionCol("gbt_prediction"),
        ]
    )


def stacked_margins(bgnbd: bool) -> list[str]:
    """The baselines' margins the trees are given besides the features."""
    return ["rfm_margin", *(["bgnbd_margin"] if bgnbd else [])]


def rfm_pipeline() -> Pipeline:
    """The textbook baseline: logistic regression on log recency, frequency, monetary value
    and tenure."""
    return Pipeline(stages=_rfm_stages())


@dataclass(frozen=True)
class Candidate:
    """One kind of model a training run fits; ``margin`` is its output column whose second
    element orders the profiles (the log-odds for both kinds)."""

    name: str
    margin: str
    probability: str


# Every training run fits each on the same split; the best on the holdout goes forward. In
# this order an exact tie goes to the simpler model.
CANDIDATES = (
    Candidate("rfm_logistic", "rfm_raw", "rfm_probability"),
    Candidate("bgnbd", "bgnbd_raw", "bgnbd_probability"),
    Candidate("gbt", "gbt_raw", "gbt_probability"),
)


def candidate_pipeline(
    candidate: Candidate, columns: list[str], settings: Settings, bgnbd: list | None
) -> Pipeline:
    if candidate.name == "rfm_logistic":
        return rfm_pipeline()
    if candidate.name == "bgnbd":
        # Nothing left to fit (its parameters are): a Pipeline, so that it is saved,
        # registered and loaded like the others.
        return Pipeline(stages=bgnbd)
    return gbt_pipeline(columns, settings, bgnbd)


def never_bought_rate(train_set: DataFrame) -> float:
    """The label's rate among the training profiles with no purchase yet (among all of
    them when there is none such)."""
    never = F.col("purchase_days") == 0
    overall, among = train_set.agg(
        F.avg("label"), F.avg(F.when(never, F.col("label")))
    ).first()  # fmt: skip
    return float(among if among is not None else overall)


def fit_bgnbd(features: DataFrame, settings: Settings) -> clv.BgNbd | None:
    """BG/NBD fitted on the buyers among ``features`` (a sample of at most
    ``clv.fit_rows``, on the driver), or None when they cannot fit it."""
    rows, seed = settings.clv.fit_rows, settings.propensity.seed
    try:
        return clv.fit_bgnbd(clv.sampled(bgnbd_summary(features), rows, seed), rows, seed)
    except clv.NotFittable as exc:
        log.warning("BG/NBD left out of this training: %s", exc)
        return None


def calibration_pipeline(margin: str) -> Pipeline:
    """Platt scaling: a logistic regression of the label on the model's margin, fitted on the
    holdout, so that a score of 0.3 means 30 %. It is monotone, so the ranking (ROC AUC,
    lift) stays the model's own; it writes the ``probability`` column scores are read from."""
    return Pipeline(
        stages=[
            VectorSlicer(inputCol=margin, outputCol="calibration_margin", indices=[1]),
            LogisticRegression(featuresCol="calibration_margin", labelCol="label", maxIter=100),
        ]
    )


def scored(model: PipelineModel, df: DataFrame, probability: str = "probability") -> DataFrame:
    """``df`` with ``score``: the model's probability of the positive class."""
    out = model.transform(df)
    return out.withColumn("score", vector_to_array(probability)[1])


def select(results: dict[str, Metrics], eligible: tuple[str, ...]) -> str:
    """The eligible candidate with the best holdout ROC AUC: the first in CANDIDATES on a tie,
    and when none can be judged (a holdout of one class). The baseline when no eligible one
    could be fitted (BG/NBD alone, on a history without a repeat purchase)."""
    names = [c.name for c in CANDIDATES if c.name in eligible and c.name in results]
    names = names or ["rfm_logistic"]
    judged = [name for name in names if _finite(results[name].roc_auc)]
    if not judged:
        return names[0]
    return max(judged, key=lambda name: (results[name].roc_auc, -judged.index(name)))


def _metrics(model: PipelineModel, holdout: DataFrame, probability: str = "probability") -> Metrics:
    return evaluate(scored(model, holdout, probability).select("score", "label"))


@dataclass(frozen=True)
class TrainingResult:
    model: str
    version: str
    run_id: str
    promoted: bool
    reason: str
    label_days: int
    metrics: dict[str, float]
    # The candidate that went forward (CANDIDATES).
    algorithm: str = ""

    def brief(self) -> dict:
        return dataclasses.asdict(self)


def _importances(
    chosen: PipelineModel, winner: Candidate, columns: list[str], bgnbd: clv.BgNbd | None
) -> dict:
    """What the chosen model leans on: the trees' feature importances, the baseline's
    coefficients on its standardised log features, or BG/NBD's four parameters."""
    last = chosen.stages[-1]
    if winner.name == "gbt":
        names = [*columns, *stacked_margins(bgnbd is not None)]
        return dict(zip(names, last.featureImportances.toArray().tolist(), strict=True))
    if winner.name == "bgnbd":
        return dataclasses.asdict(bgnbd)
    return dict(zip(RFM_LOGS, last.coefficients.toArray().tolist(), strict=True))


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

    eligible = settings.propensity.candidates
    unknown = sorted(set(eligible) - {c.name for c in CANDIDATES})
    if unknown or not eligible:
        raise CdpError(
            f"propensity.candidates: {', '.join(unknown) or 'none given'}; choose from "
            f"{', '.join(c.name for c in CANDIDATES)}"
        )
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
        # BG/NBD is fitted first: its parameters make a candidate and a feature of the trees.
        wanted = {"rfm_logistic", *eligible}
        # Fitted on every buyer of the training cutoff, also for churn (whose training set
        # keeps the recent ones only): the model describes the whole population.
        population = (
            train_set if model == "purchase_propensity" else inputs.features(split.train_cutoff)
        )
        bgnbd = fit_bgnbd(population, settings) if wanted & {"bgnbd", "gbt"} else None
        stages = (
            _bgnbd_stages(bgnbd, model, split.label_days, never_bought_rate(train_set))
            if bgnbd
            else None
        )
        # The baseline is always fitted: it is logged beside whatever wins.
        kinds = [c for c in CANDIDATES if c.name in wanted and (c.name != "bgnbd" or stages)]
        fitted = {
            c.name: candidate_pipeline(c, columns, settings, stages).fit(train_set) for c in kinds
        }
        judged = {c.name: _metrics(fitted[c.name], holdout, c.probability) for c in kinds}
        winner = next(c for c in CANDIDATES if c.name == select(judged, eligible))
        chosen = fitted[winner.name]
        # Both outcomes on the holdout (its counts are the candidate's metrics already).
        calibrated = 0 < judged[winner.name].positives < judged[winner.name].rows
        if calibrated:
            calibrator = calibration_pipeline(winner.margin).fit(chosen.transform(holdout))
            candidate = PipelineModel(stages=[*chosen.stages, *calibrator.stages])
        else:
            # Nothing to calibrate against: the model's own probabilities, as they are.
            candidate = PipelineModel(
                stages=[*chosen.stages, SQLTransformer(
                    statement=f"SELECT *, {winner.probability} AS probability FROM __THIS__"
                )]
            )  # fmt: skip
        m_candidate = _metrics(candidate, holdout)
        m_baseline = judged["rfm_logistic"]
        m_train = _metrics(candidate, train_set)

        current = registry.champion(client, settings, model)
        m_champion = None
        if current is not None:
            try:
                m_champion = _metrics(registry.load(current), holdout)
            except Exception as exc:  # a champion built on other features cannot score it
                log.warning("%s: champion v%s cannot score the holdout: %s", model,
                            current.version, str(exc).splitlines()[0])  # fmt: skip

        importances = _importances(chosen, winner, columns, bgnbd)
        metrics = {
            **m_candidate.as_dict("holdout_"),
            "holdout_brier_uncalibrated": judged[winner.name].brier,
            **m_baseline.as_dict("baseline_holdout_"),
            **{
                k: v
                for name, m in judged.items()
                for k, v in m.as_dict(f"candidate_{name}_holdout_").items()
            },
            "train_roc_auc": m_train.roc_auc,
            **(m_champion.as_dict("champion_holdout_") if m_champion else {}),
        }
        with mlflow.start_run(
            experiment_id=experiment_id, run_name=f"{model} {split.as_of}"
        ) as run:
            mlflow.set_tags({"model": model, "as_of": str(split.as_of), "data": data_label,
                             "algorithm": winner.name,
                             "calibrated": str(calibrated).lower()})  # fmt: skip
            params = {
                k: (",".join(map(str, v)) if isinstance(v, tuple) else v)
                for k, v in dataclasses.asdict(settings.propensity).items()
            }
            mlflow.log_params({**params, **split.as_params(), "features": len(columns),
                               "train_rows": m_train.rows, "holdout_rows": m_candidate.rows,
                               "train_positives": m_train.positives,
                               "holdout_positives": m_candidate.positives,
                               "bgnbd_fitted": bgnbd is not None,
                               **(bgnbd.as_params() if bgnbd else {})})  # fmt: skip
            mlflow.log_metrics({k: v for k, v in metrics.items() if _finite(v)})
            mlflow.log_dict(
                dict(sorted(importances.items(), key=lambda kv: -abs(kv[1]))),
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
        client.set_model_version_tag(name, version, "algorithm", winner.name)
        if promoted:
            registry.promote(client, settings, model, version)
        log.info("%s v%s (%s): holdout ROC AUC %.4f (%s): %s", model, version, winner.name,
                 m_candidate.roc_auc, ", ".join(f"{n} {m.roc_auc:.4f}" for n, m in judged.items()),
                 reason)  # fmt: skip
        return TrainingResult(model, version, run.info.run_id, promoted, reason,
                              split.label_days, metrics, winner.name)  # fmt: skip
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
