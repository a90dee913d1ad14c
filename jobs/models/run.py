"""Models main: train the propensity and lifetime value models (weekly DAG ``cdp_models``,
`cdp models train`) and score tonight's profiles (nightly DAG task ``models``) into
gold.propensity_scores and gold.clv_scores.

Training reads the published gold tables; the nightly scoring reads what tonight's build
staged and stages the scores for the quality gate. A new installation has no champion: the
first nightly run trains one from the history it has, then scores (CONTRACTS.md).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from cdp.core import catalog
from cdp.core.errors import CdpError
from jobs.governance import purposes
from jobs.models import clv_training, registry
from jobs.models import features as feats
from jobs.models.clv_training import ClvFit, ClvResult
from jobs.models.training import (
    MODELS,
    Inputs,
    NotTrainable,
    TrainingResult,
    score,
    time_split,
    train,
)
from schemas.gold import CLV_SCORES, PROPENSITY_SCORES
from schemas.xdm import SCHEMAS

if TYPE_CHECKING:
    from cdp.core.settings import Settings

log = logging.getLogger(__name__)

# Every model a training run can train: the propensity models, then lifetime value.
TRAINED = (*MODELS, clv_training.MODEL)


def _table(spark: SparkSession, name: str, wh: str, staged: bool) -> DataFrame:
    if staged and catalog.exists_staged(spark, name, wh):
        return catalog.read_staged(spark, name, wh)
    if catalog.exists(spark, name, wh):
        return catalog.read(spark, name, wh)
    where = "staged or published" if staged else "published"
    raise CdpError(f"models need {name} ({where}) under {wh}; run the nightly build first")


def load_inputs(spark: SparkSession, settings: Settings, as_of: dt.date, staged: bool) -> Inputs:
    """The models' inputs as of ``as_of``: tonight's staged gold when ``staged``, else the
    published tables. Only profiles allowed for the models' purpose take part."""
    wh, gov = settings.paths.warehouse, settings.governance
    purpose = settings.propensity.purpose
    purposes.check(gov)
    profiles = _table(spark, "gold.profiles", wh, staged)
    if f"is_{purpose}_allowed" not in profiles.columns:
        raise CdpError(f"propensity.purpose: unknown purpose '{purpose}'")
    allowed = profiles.where(F.col(f"is_{purpose}_allowed"))
    if catalog.exists(spark, "silver.experience_events", wh):
        events = catalog.read(spark, "silver.experience_events", wh).where(
            F.col("batch_date") <= F.lit(as_of)
        )
    else:
        events = spark.createDataFrame([], SCHEMAS["silver.experience_events"].struct())
    activity = feats.web_activity(events, _table(spark, "gold.record_profiles", wh, staged))
    bought, browsed = feats.permitted_behaviour(
        allowed, _table(spark, "gold.purchases", wh, staged), activity, gov.source_purposes
    )
    return Inputs(
        population=allowed.select("profile_id", "first_seen"),
        purchases=bought,
        activity=browsed,
        windows=tuple(settings.propensity.windows),
    )


def history_start(inputs: Inputs) -> dt.date | None:
    """The first day the models' behaviour data covers."""
    first = inputs.purchases.agg(F.min("order_date")).first()[0]
    seen = inputs.activity.agg(F.min("event_date")).first()[0]
    days = [d for d in (first, seen) if d is not None]
    return min(days) if days else None


def train_models(
    spark: SparkSession,
    settings: Settings,
    batch_date: str,
    models: tuple[str, ...] = MODELS,
    staged: bool = False,
    inputs: Inputs | None = None,
) -> list[TrainingResult]:
    """Train every model on the history up to ``batch_date``; each is promoted only when it
    beats the champion on the holdout. ``inputs``: already loaded for that date (the nightly
    scoring has them), else read here."""
    from jobs.models.training import horizon

    as_of = dt.date.fromisoformat(batch_date)
    if inputs is None:
        inputs = load_inputs(spark, settings, as_of, staged)
    start = history_start(inputs)
    results = []
    for model in models:
        split = time_split(start, as_of, horizon(settings, model)) if start else None
        if split is None:
            raise NotTrainable(
                f"{model}: not enough history to train (needs 3 days of purchases or web "
                f"events up to {batch_date})"
            )
        results.append(train(inputs, settings, model, split, data_label=settings.paths.warehouse))
    return results


def train_lifetime_value(
    spark: SparkSession,
    settings: Settings,
    batch_date: str,
    staged: bool = False,
    inputs: Inputs | None = None,
) -> ClvResult:
    """Train the lifetime value model on the purchases up to ``batch_date``
    (jobs/models/clv_training.py); promoted when it holds its own against the champion."""
    as_of = dt.date.fromisoformat(batch_date)
    if inputs is None:
        inputs = load_inputs(spark, settings, as_of, staged)
    start = inputs.purchases.agg(F.min("order_date")).first()[0]
    if start is None:
        raise NotTrainable(f"{clv_training.MODEL}: no purchases up to {batch_date}")
    return clv_training.train_clv(inputs.purchases, settings, as_of, start)


def train_one(spark: SparkSession, settings: Settings, batch_date: str, model: str) -> dict:
    """Train one model of TRAINED; its brief (for XCom and `cdp models train`)."""
    if model == clv_training.MODEL:
        return train_lifetime_value(spark, settings, batch_date).brief()
    (result,) = train_models(spark, settings, batch_date, (model,))
    return result.brief()


def _score_lifetime_value(
    spark: SparkSession, settings: Settings, batch_date: str, inputs: Inputs,
    scored_at: dt.datetime,
) -> dict:  # fmt: skip
    """Stage gold.clv_scores with the champion (training the first one on a new
    installation); an empty table while the history cannot train one."""
    wh, as_of = settings.paths.warehouse, dt.date.fromisoformat(batch_date)
    client, _ = registry.connect(settings)
    name = clv_training.MODEL
    champ, out = registry.champion(client, settings, name), {}
    if champ is None:
        log.info("%s: no champion yet, training one first", name)
        try:
            trained = train_lifetime_value(spark, settings, batch_date, inputs=inputs)
            out["trained"] = True
        except NotTrainable as exc:
            log.warning("%s", exc)
            out["skipped"] = str(exc)
        champ = registry.champion(client, settings, name)
        if champ is None and "skipped" not in out:
            raise CdpError(f"{name}: the first model could not be promoted ({trained.reason})")
    if champ is None:
        rows = spark.createDataFrame([], CLV_SCORES.struct())
    else:
        fitted = ClvFit.from_params(client.get_run(champ.run_id).data.params)
        rows = clv_training.score(inputs.purchases, fitted, champ, as_of, scored_at)
        out.update(version=champ.version, trained=out.get("trained", False))
    catalog.write_staged(rows.select(*CLV_SCORES.names), "gold.clv_scores", wh)
    out["scored"] = catalog.read_staged(spark, "gold.clv_scores", wh).count()
    return out


def run_scoring(spark: SparkSession, settings: Settings, batch_date: str) -> dict:
    """Score tonight's profiles with each champion (training one first where none exists)
    and stage gold.propensity_scores and gold.clv_scores. Returns counts for XCom."""
    wh, as_of = settings.paths.warehouse, dt.date.fromisoformat(batch_date)
    client, _ = registry.connect(settings)
    inputs = load_inputs(spark, settings, as_of, staged=True)
    features = inputs.features(as_of).persist()
    scored_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    parts, out = [], {}
    try:
        for model in MODELS:
            champ = registry.champion(client, settings, model)
            trained = None
            if champ is None:
                log.info("%s: no champion yet, training one first", model)
                try:
                    (trained,) = train_models(
                        spark, settings, batch_date, (model,), staged=True, inputs=inputs
                    )
                except NotTrainable as exc:
                    # The first nights of a new installation: nothing to learn from yet.
                    log.warning("%s", exc)
                    out[model] = {"skipped": str(exc)}
                    continue
                champ = registry.champion(client, settings, model)
                if champ is None:
                    raise CdpError(f"{model}: the first model could not be promoted "
                                   f"({trained.reason})")  # fmt: skip
            population = features
            if model == "churn":
                population = feats.churn_population(
                    features, settings.propensity.churn_lookback_days
                )
            parts.append(score(registry.load(champ), population, model, champ, as_of, scored_at))
            out[model] = {"version": champ.version, "trained": trained is not None}
        scores = spark.createDataFrame([], PROPENSITY_SCORES.struct())
        for part in parts:
            scores = scores.unionByName(part)
        catalog.write_staged(scores.select(*PROPENSITY_SCORES.names), "gold.propensity_scores", wh)
        out[clv_training.MODEL] = _score_lifetime_value(
            spark, settings, batch_date, inputs, scored_at
        )
    finally:
        features.unpersist()
    counts = (
        catalog.read_staged(spark, "gold.propensity_scores", wh).groupBy("model").count().collect()
    )
    for row in counts:
        out[row["model"]]["scored"] = row["count"]
    for model in MODELS:
        out[model].setdefault("scored", 0)
    log.info("model scores %s: %s", batch_date, out)
    return out
