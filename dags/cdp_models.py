"""Model training on a schedule of its own (weekly by default).

One task trains every model (purchase propensity, churn, lifetime value) on the published
gold tables up to the batch date, logs each run to MLflow and registers the model; a new version becomes the
``champion`` only when it beats the current champion on the same later holdout window
(jobs/models/training.py). The nightly DAG only scores with the champion, so a bad training
week never reaches the scores. A model the history cannot train yet (too few days, one
outcome only) is reported as skipped, with the reason, rather than failed and retried; the
task is skipped when no chosen model could train.

Parameters: ``batch_date`` (default: the day before the run's logical date), ``warehouse``,
``config`` and ``model`` (train one model only). Run embedded with `cdp models train --date D`, or on a deployment with
`airflow dags trigger cdp_models`. The schedule is ``propensity.training_schedule``.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowSkipException

from cdp.core.settings import load_settings

# Read when the scheduler parses the file: settings from the environment (CDP_PROPENSITY__
# TRAINING_SCHEDULE) or defaults.
SCHEDULE = load_settings().propensity.training_schedule


@dag(
    dag_id="cdp_models",
    description="Train the propensity and lifetime value models, track them in MLflow, "
    "promote champions.",
    doc_md=__doc__,
    schedule=SCHEDULE,
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "cdp", "retries": 1, "retry_delay": dt.timedelta(minutes=10)},
    tags=["cdp", "models"],
    params={
        "batch_date": Param(None, type=["null", "string"], description="YYYY-MM-DD"),
        "warehouse": Param(None, type=["null", "string"]),
        "config": Param(None, type=["null", "string"]),
        "model": Param(
            None,
            type=["null", "string"],
            description="purchase_propensity, churn or clv; default: every model",
        ),
    },
)
def cdp_models():
    @task
    def train() -> list[dict]:
        """Train, evaluate on the holdout window, register, promote when better."""
        from cdp.app.orchestration import (
            batch_date_from_context,
            settings_for_task,
            with_own_driver,
        )
        from cdp.core.spark import get_spark
        from jobs.models import run as models_job
        from jobs.models.training import NotTrainable

        context = get_current_context()
        params = context["params"]
        # Training logs the model with MLflow's Spark flavour: a driver of its own.
        settings = with_own_driver(settings_for_task(context))
        batch_date = batch_date_from_context(context)

        chosen = (params["model"],) if params.get("model") else models_job.TRAINED
        spark = get_spark(settings)
        briefs = []
        for model in chosen:
            try:
                brief = models_job.train_one(spark, settings, batch_date, model)
            except NotTrainable as exc:
                # Too little history (a new installation's first weeks): nothing to learn is
                # not a failure to retry; the run says why and the next one tries again.
                briefs.append({"model": model, "skipped": str(exc)})
                continue
            briefs.append(brief)
        skipped = [b["skipped"] for b in briefs if "skipped" in b]
        if len(skipped) == len(briefs):
            # Skipped, not failed: the briefs stay readable beside the task's state.
            context["ti"].xcom_push(key="return_value", value=briefs)
            raise AirflowSkipException("; ".join(skipped))
        return briefs

    train()


cdp_models()
