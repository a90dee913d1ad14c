"""Fit, judge and register the customer lifetime value model: BG/NBD purchases with
Gamma-Gamma spend (jobs/models/clv.py), tracked in MLflow like the propensity models.

The split is by time, as for propensity: with ``h`` holdout days (``clv.holdout_days``, a
third of a shorter history) and the batch date ``D``, both models are fitted on the
customers' summaries as of ``D - h`` and judged on their purchases in ``(D - h, D]``: per
customer, the mean absolute error and correlation of predicted against actual purchases and
spend, beside the naive prediction (each customer's own repeat rate so far, extrapolated),
and the predicted against the actual purchases week by week. Then both are fitted again on
everything up to ``D``; that is the version registered as ``<registry_prefix>clv``, which
scores. It becomes the ``champion`` when it is the first, or when its calibration fit's
purchase error on the holdout is no worse than the champion's calibration fit's on the same
holdout from the same summaries. Whether it beats the naive prediction is tagged
(``beats_naive``) and said in the promotion reason.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import mlflow
import mlflow.pyfunc
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.models import clv, registry
from jobs.models.training import NotTrainable, time_split

if TYPE_CHECKING:
    from cdp.core.settings import Settings

log = logging.getLogger(__name__)

MODEL = "clv"
# How far ahead the registered model's value looks (gold.clv_scores' *_365d columns).
HORIZON_DAYS = 365


@dataclass(frozen=True)
class ClvFit:
    """The two fitted models of one summary."""

    bgnbd: clv.BgNbd
    spend: clv.GammaGamma

    def as_params(self, prefix: str = "") -> dict[str, float]:
        return {
            **self.bgnbd.as_params(f"{prefix}bgnbd_"),
            **self.spend.as_params(f"{prefix}gamma_gamma_"),
        }

    @classmethod
    def from_params(cls, params: dict[str, str], prefix: str = "") -> ClvFit:
        """The fit logged by :meth:`as_params` with ``prefix`` (an MLflow run's params)."""

        def read(kind, name):
            names = [f.name for f in dataclasses.fields(kind)]
            return kind(**{n: float(params[f"{prefix}{name}{n}"]) for n in names})

        return cls(read(clv.BgNbd, "bgnbd_"), read(clv.GammaGamma, "gamma_gamma_"))


def fit(summary: DataFrame, settings: Settings) -> ClvFit:
    """BG/NBD and Gamma-Gamma on a sample of ``summary`` (repeat_purchase_summary)."""
    rows, seed = settings.clv.fit_rows, settings.propensity.seed
    local = clv.sampled(summary, rows, seed)
    return ClvFit(clv.fit_bgnbd(local, rows, seed), clv.fit_gamma_gamma(local, rows, seed))


def holdout_days(history_start: dt.date, as_of: dt.date, wanted: int) -> int:
    """The holdout: ``wanted`` days, or a third of a shorter history (0: none possible), the
    label window the propensity models' time split would take."""
    split = time_split(history_start, as_of, wanted)
    return split.label_days if split else 0


@dataclass(frozen=True)
class ClvResult:
    version: str
    run_id: str
    promoted: bool
    reason: str
    holdout_days: int
    metrics: dict[str, float]

    def brief(self) -> dict:
        return {"model": MODEL, **dataclasses.asdict(self)}


class LifetimeValueModel(mlflow.pyfunc.PythonModel):
    """The registered model (MLflow pyfunc): ``predict`` takes a pandas frame of summaries
    (frequency, recency, T, monetary_value) and gives probability_alive, predicted_purchases,
    expected_spend and predicted_clv over the horizon it was logged with."""

    def __init__(self, fitted: ClvFit, days: int):
        self.fitted, self.days = fitted, days

    def predict(self, context, model_input, params=None):
        return clv.lifetime_value_frame(
            model_input, self.fitted.bgnbd, self.fitted.spend, self.days
        )


def _finite(metrics: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in metrics.items() if not math.isnan(v)}


def decide(mae: float, champion_mae: float | None) -> tuple[bool, str]:
    """Whether the new version replaces the champion, and why (holdout purchases MAE of the
    two calibration fits, on the same holdout)."""
    if champion_mae is None:
        return True, f"promoted: first model (holdout purchases MAE {mae:.4f})"
    verdict = "promoted" if mae <= champion_mae else "refused"
    relation = "no worse than" if mae <= champion_mae else "worse than"
    return mae <= champion_mae, (
        f"{verdict}: holdout purchases MAE {mae:.4f} {relation} the champion's {champion_mae:.4f}"
    )


def _requirements() -> list[str]:
    """What the registered model needs where it is loaded, pinned as installed here (and the
    cdp package itself, whose jobs.models.clv it calls)."""
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in ("mlflow", "pandas", "numpy", "scipy")]


def train_clv(
    purchases: DataFrame, settings: Settings, as_of: dt.date, history_start: dt.date
) -> ClvResult:
    """Fit and judge the model on the holdout, fit it on the whole history, log both to
    MLflow and register the latter; promote it when it holds its own against the champion."""
    days = holdout_days(history_start, as_of, settings.clv.holdout_days)
    if days < 7:
        raise NotTrainable(f"{MODEL}: {days} holdout days from the history up to {as_of}; "
                           "needs a week")  # fmt: skip
    calibration_end = as_of - dt.timedelta(days=days)
    # Each summary is read several times (the fit's sample, the comparisons, the weeks).
    before = clv.repeat_purchase_summary(purchases, calibration_end).persist()
    everything = clv.repeat_purchase_summary(purchases, as_of).persist()
    try:
        try:
            calibrated, final = fit(before, settings), fit(everything, settings)
        except clv.NotFittable as exc:
            raise NotTrainable(f"{MODEL}: {exc}") from exc

        def judged(f: ClvFit) -> dict[str, float]:
            return clv.comparison_metrics(
                clv.holdout_comparison(before, purchases, calibration_end, as_of, f.bgnbd, f.spend)
            )

        metrics = judged(calibrated)
        weekly = clv.weekly_repeat_purchases(
            before, purchases, calibration_end, as_of, calibrated.bgnbd
        )
        metrics["weekly_purchases_mae"] = float(
            (weekly["predicted"] - weekly["actual"]).abs().mean()
        )
        client, experiment_id = registry.connect(settings)
        current = registry.champion(client, settings, MODEL)
        champion_mae = None
        if current is not None:
            # The champion's own calibration fit: like the new one, it has not seen this
            # holdout (its final fit may have).
            params = client.get_run(current.run_id).data.params
            champion_mae = judged(ClvFit.from_params(params, "calibration_"))["purchases_mae"]
            metrics["champion_purchases_mae"] = champion_mae
    finally:
        before.unpersist()
        everything.unpersist()
    mae = metrics["purchases_mae"]
    beats_naive = mae <= metrics["naive_purchases_mae"]
    name = registry.registered_name(settings, MODEL)
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"{MODEL} {as_of}") as run:
        mlflow.set_tags({"model": MODEL, "as_of": str(as_of), "algorithm": "bgnbd_gamma_gamma",
                         "beats_naive": str(beats_naive).lower()})  # fmt: skip
        mlflow.log_params(
            {
                **final.as_params(),
                **calibrated.as_params("calibration_"),
                "as_of": str(as_of),
                "calibration_end": str(calibration_end),
                "holdout_days": days,
                "horizon_days": HORIZON_DAYS,
            }
        )
        mlflow.log_metrics({f"holdout_{k}": v for k, v in _finite(metrics).items()})
        mlflow.log_dict(weekly.to_dict(orient="list"), "holdout_weekly_purchases.json")
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=LifetimeValueModel(final, HORIZON_DAYS),
            registered_model_name=name,
            pip_requirements=_requirements(),
        )
    version = str(info.registered_model_version)
    promoted, reason = decide(mae, champion_mae)
    if not beats_naive:
        # Logged and said, not refused: a first installation needs a model to score with,
        # and the figures tell the data scientist this one has not earned its keep yet.
        reason += f"; worse than the naive rate's {metrics['naive_purchases_mae']:.4f}"
    client.set_model_version_tag(name, version, "promotion", reason)
    client.set_model_version_tag(name, version, "beats_naive", str(beats_naive).lower())
    if promoted:
        registry.promote(client, settings, MODEL, version)
    log.info("%s v%s: holdout purchases MAE %.4f (naive %.4f): %s", MODEL, version, mae,
             metrics["naive_purchases_mae"], reason)  # fmt: skip
    return ClvResult(version, run.info.run_id, promoted, reason, days, metrics)


def score(
    purchases: DataFrame, fitted: ClvFit, champ: registry.Champion, as_of: dt.date,
    scored_at: dt.datetime,
) -> DataFrame:  # fmt: skip
    """gold.clv_scores rows: every profile with a purchase by ``as_of``, valued by ``fitted``
    (the champion's parameters) over the next HORIZON_DAYS."""
    summary = clv.repeat_purchase_summary(purchases, as_of)
    valued = clv.lifetime_value(summary, fitted.bgnbd, fitted.spend, HORIZON_DAYS)
    return valued.select(
        "profile_id",
        "probability_alive",
        F.col("predicted_purchases").alias(f"predicted_purchases_{HORIZON_DAYS}d"),
        "expected_spend",
        F.col("predicted_clv").alias(f"predicted_clv_{HORIZON_DAYS}d"),
        F.lit(champ.version).alias("model_version"),
        F.lit(champ.run_id).alias("model_run_id"),
        F.lit(as_of).alias("as_of"),
        F.lit(scored_at).cast("timestamp").alias("scored_at"),
    )
