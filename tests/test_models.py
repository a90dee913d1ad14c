"""Propensity models: point-in-time features, metrics, MLflow champion promotion, scores.

The leakage and metric tests run on small hand-made frames; the training tests on a
generated landing with months of history (bronze and silver backfilled in one pass, then
one nightly build), tracked in an MLflow store of their own.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import statistics
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import functions as F

from cdp.core.errors import CdpError
from jobs.models import features as feats
from jobs.models.metrics import BINS, evaluate, from_bins
from jobs.models.training import decide, time_split
from schemas.gold import PURCHASE
from tests.conftest import cdp_env

CUTOFF = dt.date(2026, 9, 1)


def _purchases(spark, rows):
    """gold.purchases (the columns the features read) from (profile_id, order_id, order_date,
    amount, channel)."""
    schema = ", ".join(f"{c} {PURCHASE.field(c).dtype}" for c in feats.PURCHASE_INPUTS)
    return spark.createDataFrame(
        [
            (pid, oid, day, True, channel, 1, Decimal(str(amount)), "shoes")
            for pid, oid, day, amount, channel in rows
        ],
        schema,
    )


def _activity(spark, rows):
    return spark.createDataFrame(
        rows, "profile_id string, event_date date, channel string, event_type string"
    )


def _population(spark, ids, first_seen=dt.datetime(2026, 1, 1)):
    return spark.createDataFrame(
        [(i, first_seen) for i in ids], "profile_id string, first_seen timestamp"
    )


day_offsets = st.lists(st.integers(min_value=-400, max_value=400), min_size=0, max_size=12)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@pytest.mark.slow  # many Spark jobs on inline data; not in make test-fast
@given(before=day_offsets, after=st.lists(st.integers(min_value=1, max_value=400), max_size=12))
def test_features_never_read_past_the_cutoff(spark, before, after):
    """Adding any purchase or web event dated after the cutoff day changes no feature."""
    past = [(d, f"o{i}") for i, d in enumerate(before) if d <= 0]
    future = [(d, f"f{i}") for i, d in enumerate(after)]

    def frames(days):
        orders = [("p1", oid, CUTOFF + dt.timedelta(days=d), 10.0, "store") for d, oid in days]
        events = [("p1", CUTOFF + dt.timedelta(days=d), "web", "add_to_cart") for d, _ in days]
        return _purchases(spark, orders), _activity(spark, events)

    people = _population(spark, ["p1", "p2"])
    p_now, a_now = frames(past)
    p_all, a_all = frames(past + future)
    as_of = feats.features_as_of(people, p_now, a_now, CUTOFF).orderBy("profile_id").collect()
    with_future = feats.features_as_of(people, p_all, a_all, CUTOFF).orderBy("profile_id").collect()
    assert as_of == with_future
    # And the past does count: the features see every order up to and on the cutoff day.
    assert as_of[0]["lifetime_orders"] == len(past)


def test_windows_count_only_their_days(spark):
    orders = [
        ("p1", "a", CUTOFF, 10.0, "store"),  # the cutoff day itself counts
        ("p1", "b", CUTOFF - dt.timedelta(days=29), 10.0, "web"),
        ("p1", "c", CUTOFF - dt.timedelta(days=30), 10.0, "store"),
        ("p1", "d", CUTOFF - dt.timedelta(days=200), 10.0, "store"),
    ]
    row = feats.features_as_of(
        _population(spark, ["p1"]), _purchases(spark, orders), _activity(spark, []), CUTOFF
    ).first()
    assert (row["orders_30d"], row["orders_90d"], row["orders_365d"]) == (2, 3, 4)
    assert row["days_since_last_order"] == 0 and row["days_since_first_order"] == 200
    assert row["days_since_last_event"] == feats.NEVER
    assert row["store_share"] == pytest.approx(0.75)


def test_the_purchase_rhythm_comes_from_the_days_between_purchase_days(spark):
    back = [0, 20, 20, 60, 100, 300]  # days before the cutoff; two orders on one day
    orders = [
        ("p1", f"o{i}", CUTOFF - dt.timedelta(days=d), 10.0, "store") for i, d in enumerate(back)
    ]
    orders.append(("p2", "single", CUTOFF - dt.timedelta(days=5), 10.0, "store"))
    rows = {
        r["profile_id"]: r
        for r in feats.features_as_of(
            _population(spark, ["p1", "p2", "p3"]), _purchases(spark, orders),
            _activity(spark, []), CUTOFF,
        ).collect()
    }  # fmt: skip
    p1 = rows["p1"]
    # Purchase days 300, 100, 60, 20, 0 days back: gaps 200, 40, 40, 20.
    assert p1["purchase_days"] == 5 and rows["p2"]["purchase_days"] == 1
    assert rows["p3"]["purchase_days"] == 0
    assert p1["mean_days_between_orders"] == pytest.approx(75.0)
    assert p1["std_days_between_orders"] == pytest.approx(statistics.stdev([200, 40, 40, 20]))
    assert p1["days_overdue"] == pytest.approx(0 - 75.0)
    # Purchase days in the last 90 (0, 20, 60) minus the 90 before (100).
    assert p1["purchase_days_trend"] == 3 - 1
    # 300 days back lies in the 90 days that followed this date a year ago (275..364).
    assert p1["purchase_days_season_last_year"] == 1
    # One purchase day, or none: no rhythm ("never", and 0 overdue).
    for pid in ("p2", "p3"):
        assert rows[pid]["mean_days_between_orders"] == feats.NEVER
        assert rows[pid]["std_days_between_orders"] == 0 and rows[pid]["days_overdue"] == 0
    assert rows["p2"]["purchase_days_trend"] == 1 and rows["p3"]["purchase_days_trend"] == 0


def test_profiles_not_yet_seen_are_not_in_the_set(spark):
    people = spark.createDataFrame(
        [("old", dt.datetime(2026, 1, 1)), ("new", dt.datetime(2026, 9, 2))],
        "profile_id string, first_seen timestamp",
    )
    rows = feats.features_as_of(people, _purchases(spark, []), _activity(spark, []), CUTOFF)
    assert [r["profile_id"] for r in rows.collect()] == ["old"]


def test_labels_come_from_the_horizon_after_the_cutoff_only(spark):
    orders = [
        ("on_cutoff", "a", CUTOFF, 1.0, "store"),
        ("inside", "b", CUTOFF + dt.timedelta(days=30), 1.0, "store"),
        ("after", "c", CUTOFF + dt.timedelta(days=31), 1.0, "store"),
    ]
    bought = feats.purchase_label(_purchases(spark, orders), CUTOFF, 30)
    assert {r["profile_id"] for r in bought.collect()} == {"inside"}


def test_a_column_labelled_no_data_science_cannot_feed_a_model():
    with pytest.raises(CdpError, match=r"gold.profiles: column\(s\) email .*C9"):
        feats.checked_inputs("gold.profiles", ["lifetime_orders", "email"])
    assert feats.checked_inputs("gold.purchases", feats.PURCHASE_INPUTS)


def test_time_split_holds_two_label_windows_before_the_batch_date():
    s = time_split(dt.date(2026, 1, 1), dt.date(2026, 12, 31), 30)
    assert s.label_days == 30
    assert s.holdout_cutoff == dt.date(2026, 12, 1) and s.train_cutoff == dt.date(2026, 11, 1)
    # A short history shrinks the window to a third of it; under three days there is none.
    short = time_split(dt.date(2026, 12, 1), dt.date(2026, 12, 30), 30)
    assert short.label_days == 10 and short.train_cutoff == dt.date(2026, 12, 10)
    assert time_split(dt.date(2026, 12, 30), dt.date(2026, 12, 31), 30) is None


def test_metrics_match_scikit_learn(spark):
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    rng = np.random.default_rng(3)
    y = (rng.random(3000) < 0.25).astype(float)
    s = np.clip(rng.random(3000) * 0.6 + y * 0.25, 0, 1).round(3)  # ties on purpose
    df = spark.createDataFrame([(float(a), float(b)) for a, b in zip(s, y, strict=True)],
                               "score double, label double")  # fmt: skip
    m = evaluate(df)
    assert m.roc_auc == pytest.approx(roc_auc_score(y, s), abs=1e-9)
    assert m.average_precision == pytest.approx(average_precision_score(y, s), abs=1e-9)
    assert m.brier == pytest.approx(brier_score_loss(y, s), abs=1e-12)
    order = np.argsort(-s, kind="stable")
    top = order[: len(s) // 10]
    assert m.lift_top_decile == pytest.approx(y[top].mean() / y.mean(), rel=0.05)
    assert (m.rows, m.positives) == (3000, int(y.sum()))


def test_metrics_of_a_single_class_are_undefined():
    m = from_bins([(BINS - 1, 5, 0, 0.0)])
    assert math.isnan(m.roc_auc) and m.brier == 0.0


def test_the_best_candidate_on_the_holdout_is_chosen_and_a_tie_goes_to_the_simpler():
    from jobs.models.training import select

    strong = from_bins([(90000, 10, 1, 0.0), (10000, 1, 10, 0.0)])
    weak = from_bins([(90000, 6, 5, 0.0), (10000, 5, 6, 0.0)])
    undefined = from_bins([(90000, 5, 0, 0.0)])
    both = ("rfm_logistic", "gbt")
    assert select({"rfm_logistic": weak, "gbt": strong}, both) == "gbt"
    assert select({"rfm_logistic": strong, "gbt": weak}, both) == "rfm_logistic"
    assert select({"rfm_logistic": strong, "gbt": strong}, both) == "rfm_logistic"
    # Only the eligible compete; a holdout of one class judges none: the first eligible.
    assert select({"rfm_logistic": strong, "gbt": weak}, ("gbt",)) == "gbt"
    assert select({"rfm_logistic": undefined, "gbt": undefined}, both) == "rfm_logistic"


def test_an_unknown_candidate_is_a_one_line_error_naming_the_setting():
    import dataclasses

    from cdp.core.settings import PropensitySettings, Settings
    from jobs.models.training import train

    for wrong, named in ((("gbt", "xgboost"), "xgboost"), ((), "none given")):
        settings = dataclasses.replace(Settings(), propensity=PropensitySettings(candidates=wrong))
        with pytest.raises(CdpError) as failed:
            train(None, settings, "purchase_propensity", None)
        assert str(failed.value) == (
            f"propensity.candidates: {named}; choose from rfm_logistic, bgnbd, gbt"
        )


def test_promotion_rule():
    good = from_bins([(90000, 10, 1, 0.0), (10000, 1, 10, 0.0)])
    worse = from_bins([(90000, 6, 5, 0.0), (10000, 5, 6, 0.0)])
    assert decide(good, None, 0.0)[0]
    assert decide(good, worse, 0.0)[0]
    assert not decide(worse, good, 0.0)[0]
    # A tie is not a win, nor is a gain below the required improvement.
    assert not decide(good, good, 0.0)[0]
    assert not decide(good, worse, 0.5)[0]


# -- trained on months of generated history ----------------------------------------------

END = dt.date(2026, 11, 24)
NIGHTS = [(END - dt.timedelta(days=n)).isoformat() for n in (1, 0)]


@pytest.fixture(scope="module")
def history(spark, tmp_path_factory):
    """400 persons over 100 days: the first 99 delivered as one initial load, then a nightly
    extract; built night by night like the DAG (the first night trains the first models)."""
    from cdp.app import pipeline
    from cdp.core.settings import PropensitySettings
    from cdp_dev.synthetic import generate
    from tests.conftest import make_settings

    base = tmp_path_factory.mktemp("models")
    generate(base / "landing", persons=400, days=100, seed=5, end_date=END, initial_load_days=99)
    settings = make_settings(base / "landing", base / "warehouse")
    settings.propensity = PropensitySettings()  # the defaults, whose quality is measured
    results = [pipeline.run_batch(spark, settings, day) for day in NIGHTS]
    return settings, results


def _client(settings):
    from jobs.models import registry

    return registry.connect(settings)[0]


def test_first_night_trains_and_every_night_scores_with_the_champion(spark, history):
    from cdp.core import catalog
    from jobs.models import registry

    settings, results = history
    first = results[0].scores
    assert first["purchase_propensity"]["trained"] and first["churn"]["trained"]
    assert not results[-1].scores["purchase_propensity"]["trained"]
    client = _client(settings)
    scores = catalog.read(spark, "gold.propensity_scores", settings.paths.warehouse)
    profiles = catalog.read(spark, "gold.profiles", settings.paths.warehouse)
    for model in ("purchase_propensity", "churn"):
        champ = registry.champion(client, settings, model)
        rows = scores.where(F.col("model") == model)
        assert rows.count() == results[-1].scores[model]["scored"] > 0
        assert {r[0] for r in rows.select("model_version").distinct().collect()} == {champ.version}
        assert rows.where((F.col("score") < 0) | (F.col("score") > 1)).count() == 0
        assert {r[0] for r in rows.select("horizon_days").distinct().collect()} == {
            champ.horizon_days
        }
        assert {r[0] for r in rows.select("as_of").distinct().collect()} == {END}
    # Only profiles the models' purpose allows are scored; every allowed one is.
    allowed = profiles.where(F.col(f"is_{settings.propensity.purpose}_allowed"))
    scored = scores.where(F.col("model") == "purchase_propensity")
    assert scored.join(allowed, "profile_id", "left_anti").count() == 0
    assert allowed.join(scored, "profile_id", "left_anti").count() == 0


def test_training_logs_every_candidate_and_the_champion_is_the_best_calibrated(spark, history):
    import mlflow

    from jobs.models import registry
    from jobs.models.run import load_inputs, train_models
    from jobs.models.training import CANDIDATES, RFM_LOGS, labelled_set, scored, time_split

    settings, _ = history
    (result,) = train_models(spark, settings, END.isoformat(), ("purchase_propensity",))
    m = result.metrics
    # The chosen model is the best candidate on the holdout, the textbook baseline included
    # (calibration is monotone: the ranking is the candidate's own, up to the metric's bins).
    candidates = {c.name: m[f"candidate_{c.name}_holdout_roc_auc"] for c in CANDIDATES}
    assert m["holdout_roc_auc"] == pytest.approx(max(candidates.values()), abs=1e-3), m
    assert m["holdout_roc_auc"] >= m["baseline_holdout_roc_auc"] - 1e-3
    client = _client(settings)
    run = client.get_run(result.run_id)
    algorithm = run.data.tags["algorithm"]
    assert candidates[algorithm] == max(candidates.values())
    assert run.data.params["horizon_days"] == str(settings.propensity.horizon_days)
    assert run.data.params["holdout_cutoff"] == (END - dt.timedelta(days=30)).isoformat()
    for k in ("roc_auc", "average_precision", "brier", "lift_top_decile"):
        assert f"holdout_{k}" in run.data.metrics and f"baseline_holdout_{k}" in run.data.metrics
        assert all(f"candidate_{c.name}_holdout_{k}" in run.data.metrics for c in CANDIDATES)
    assert "champion_holdout_roc_auc" in run.data.metrics
    # Calibrated on the holdout: the mean score there is its share of buyers. (Platt scaling
    # fits the log-loss, not the squared error: the Brier score may move either way a little.)
    assert run.data.tags["calibrated"] == "true"
    assert m["holdout_brier"] == pytest.approx(m["holdout_brier_uncalibrated"], abs=0.02)
    as_of = END
    inputs = load_inputs(spark, settings, as_of, staged=False)
    from jobs.models.run import history_start

    split = time_split(history_start(inputs), as_of, settings.propensity.horizon_days)
    holdout = labelled_set(inputs, settings, "purchase_propensity", split.holdout_cutoff,
                           split.label_days)  # fmt: skip
    model = mlflow.spark.load_model(f"runs:/{result.run_id}/model")
    mean_score, base_rate = scored(model, holdout).agg(F.avg("score"), F.avg("label")).first()
    assert mean_score == pytest.approx(base_rate, abs=0.005)
    importances = mlflow.artifacts.load_dict(f"runs:/{result.run_id}/feature_importances.json")
    features = feats.all_feature_names(settings.propensity.windows)
    # BG/NBD was fitted on the training cutoff's buyers: a candidate, and a feature of the trees.
    assert run.data.params["bgnbd_fitted"] == "True"
    assert all(float(run.data.params[f"bgnbd_{k}"]) > 0 for k in ("r", "alpha", "a", "b"))
    assert (
        set(importances)
        == {
            "gbt": {*features, "rfm_margin", "bgnbd_margin"},
            "bgnbd": {"r", "alpha", "a", "b"},
            "rfm_logistic": set(RFM_LOGS),
        }[algorithm]
    )
    info = mlflow.models.get_model_info(
        f"models:/{registry.registered_name(settings, 'purchase_propensity')}/{result.version}"
    )
    assert info.signature.inputs.input_names() == features
    # No column labelled no-data-science is among the features.
    from jobs.governance.usage import feature_columns
    from schemas.gold import PROFILE

    c9 = set(PROFILE.names) - set(feature_columns(PROFILE))
    assert c9 and not c9 & set(features)


def test_a_better_model_is_promoted_and_a_worse_one_refused(spark, history, tmp_path):
    import dataclasses

    from jobs.models import registry
    from jobs.models.run import train_models

    settings, _ = history
    # In a store of its own: a one-split stump first (promoted: the first model), then the
    # real ensemble beats it on the same holdout and takes the alias, then the stump again
    # does not beat the ensemble and is refused.
    base = dataclasses.replace(settings.propensity, tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")
    # The stump competes alone (no baseline to fall back on), so it stays a stump.
    stump = dataclasses.replace(settings, propensity=dataclasses.replace(
        base, max_iter=1, max_depth=1, candidates=("gbt",)))  # fmt: skip
    full = dataclasses.replace(settings, propensity=base)
    model = "purchase_propensity"
    first = train_models(spark, stump, END.isoformat(), (model,))[0]
    assert first.promoted and first.reason.startswith("promoted: first model")
    better = train_models(spark, full, END.isoformat(), (model,))[0]
    assert better.promoted, better.reason
    assert better.metrics["holdout_roc_auc"] > better.metrics["champion_holdout_roc_auc"]
    worse = train_models(spark, stump, END.isoformat(), (model,))[0]
    assert not worse.promoted and worse.reason.startswith("refused"), worse.reason
    # The same holdout: the champion's score there is the ensemble's own.
    assert worse.metrics["champion_holdout_roc_auc"] == pytest.approx(
        better.metrics["holdout_roc_auc"], abs=0.005
    )
    client = _client(full)
    assert registry.champion(client, full, model).version == better.version
    # The store's artifacts sit beside it, not in ./mlruns of whatever folder runs this.
    assert client.get_run(better.run_id).info.artifact_uri.startswith(str(tmp_path))
    name = registry.registered_name(full, model)
    assert client.get_model_version(name, better.version).tags["promotion"].startswith("promoted")
    assert client.get_model_version(name, worse.version).tags["promotion"].startswith("refused")


def test_notebook_trains_a_challenger_against_the_champion(spark, history):
    """notebooks/propensity_models.ipynb in its own kernel, on this warehouse and MLflow."""
    from pathlib import Path

    import nbformat
    from nbclient import NotebookClient

    from jobs.models import registry

    settings, _ = history
    path = Path(__file__).resolve().parents[1] / "notebooks" / "propensity_models.ipynb"
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, cell.source[:60]
    client = _client(settings)
    before = {
        v.version
        for v in client.search_model_versions(
            f"name='{registry.registered_name(settings, 'purchase_propensity')}'"
        )
    }
    env = cdp_env(PATHS__WAREHOUSE=settings.paths.warehouse)
    NotebookClient(
        nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute(env=env)
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    printed = "".join(o.text for o in outputs if o.output_type == "stream" and o.name == "stdout")
    assert f"warehouse: {settings.paths.warehouse}" in printed
    decision = re.search(r"^decision: (promoted|refused)", printed, re.M)
    assert decision, printed
    # The pictures: lift and calibration, and lifetime value (the first night trained its
    # champion): two figures, each drawn.
    figures = [o for o in outputs if o.output_type == "display_data" and "image/png" in o.data]
    assert len(figures) == 2, [o.output_type for o in outputs]
    assert "clv champion: Champion(" in printed and "predicted_clv_365d" in printed
    # The challenger is a new registered version; the alias moved only if it won.
    after = {
        v.version
        for v in client.search_model_versions(
            f"name='{registry.registered_name(settings, 'purchase_propensity')}'"
        )
    }
    (new,) = after - before
    champ = registry.champion(client, settings, "purchase_propensity")
    # (The registry lists versions as numbers; the champion carries the alias's string.)
    assert (champ.version == str(new)) == (decision.group(1) == "promoted")


def test_cdp_models_train_runs_the_training_dag(history):
    """`cdp models train` runs dags/cdp_models.py embedded, in a fresh process."""
    import subprocess
    import sys

    from jobs.models import registry

    settings, _ = history
    name = registry.registered_name(settings, "churn")
    client = _client(settings)
    before = {v.version for v in client.search_model_versions(f"name='{name}'")}
    env = cdp_env()
    done = subprocess.run(
        [sys.executable, "-m", "cdp.app.cli", "models", "train", "--date", END.isoformat(),
         "--model", "churn", "--warehouse", settings.paths.warehouse],
        capture_output=True, text=True, env=env, timeout=1800,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.search(
        r"^churn v\d+ \((rfm_logistic|bgnbd|gbt)\): holdout ROC AUC 0\.\d+.*(promoted|refused)",
        done.stdout,
        re.M,
    )
    assert "purchase_propensity" not in done.stdout
    after = {v.version for v in client.search_model_versions(f"name='{name}'")}
    assert len(after - before) == 1

    # Without a date it says what it needs, in one line.
    bad = subprocess.run(
        [sys.executable, "-m", "cdp.app.cli", "models", "train", "--warehouse",
         settings.paths.warehouse],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines()[-1].startswith("cdp: error: models train needs --date")


def test_the_training_dag_skips_a_model_the_history_cannot_train_yet(history):
    """A weekly training run on a new installation's first days has nothing to learn: the
    DAG's task is skipped with the reason, not failed and retried, and nothing is registered."""
    import subprocess
    import sys

    from jobs.models import registry

    settings, _ = history
    name = registry.registered_name(settings, "churn")
    client = _client(settings)
    before = {v.version for v in client.search_model_versions(f"name='{name}'")}
    too_early = (END - dt.timedelta(days=120)).isoformat()  # before the first landed day
    done = subprocess.run(
        [sys.executable, "-m", "cdp.app.cli", "models", "train", "--date", too_early,
         "--model", "churn", "--warehouse", settings.paths.warehouse],
        capture_output=True, text=True, env=cdp_env(), timeout=1800,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.search(r"^churn: not trained: churn: not enough history", done.stdout, re.M), (
        done.stdout
    )
    after = {v.version for v in client.search_model_versions(f"name='{name}'")}
    assert after == before


def test_lifetime_value_is_judged_on_a_later_window_registered_and_scored(spark, history):
    """BG/NBD with Gamma-Gamma (jobs/models/clv_training.py) on the same history: the first
    night trained the first champion and every night scores gold.clv_scores with it."""
    import mlflow

    from cdp.core import catalog
    from jobs.models import clv, registry
    from jobs.models.clv_training import HORIZON_DAYS, ClvFit, train_clv
    from jobs.models.run import history_start, load_inputs

    settings, results = history
    client = _client(settings)
    first = registry.champion(client, settings, "clv")
    assert results[0].scores["clv"]["trained"] and first is not None
    assert not results[-1].scores["clv"]["trained"]
    inputs = load_inputs(spark, settings, END, staged=False)
    buyers = clv.repeat_purchase_summary(inputs.purchases, END)
    scores = catalog.read(spark, "gold.clv_scores", settings.paths.warehouse)
    assert scores.count() == results[-1].scores["clv"]["scored"] == buyers.count() > 0
    assert scores.join(buyers, "profile_id", "left_anti").count() == 0
    assert {r[0] for r in scores.select("model_version").distinct().collect()} == {first.version}

    start = history_start(inputs)
    result = train_clv(inputs.purchases, settings, END, start)
    # 100 days of history hold no 90-day holdout: a third of it.
    assert result.holdout_days == ((END - start).days + 1) // 3 == 33
    m = result.metrics
    calibration_end = END - dt.timedelta(days=33)
    customers = clv.repeat_purchase_summary(inputs.purchases, calibration_end)
    assert m["customers"] == customers.count() > 100
    actual = clv.holdout_outcome(inputs.purchases, calibration_end, END).join(
        customers, "profile_id", "left_semi"
    )
    assert m["actual_purchases_total"] == actual.agg(F.sum("purchases")).first()[0] > 0

    run = client.get_run(result.run_id)
    assert run.data.params["calibration_end"] == calibration_end.isoformat()
    for k in ("purchases_mae", "purchases_corr", "naive_purchases_mae", "spend_mae",
              "naive_spend_mae", "weekly_purchases_mae", "champion_purchases_mae"):  # fmt: skip
        assert f"holdout_{k}" in run.data.metrics, k
    weekly = mlflow.artifacts.load_dict(f"runs:/{result.run_id}/holdout_weekly_purchases.json")
    assert weekly["week"] == [1, 2, 3, 4, 5]
    assert sum(weekly["actual"]) == m["actual_purchases_total"]
    assert sum(weekly["predicted"]) == pytest.approx(m["purchases_total"], rel=1e-6)
    # On this history the model predicts each customer's holdout purchases better than the
    # customer's own rate so far, and the run says so.
    assert m["purchases_mae"] < m["naive_purchases_mae"], m
    assert m["purchases_corr"] > m["naive_purchases_corr"], m
    assert run.data.tags["beats_naive"] == "true"
    # Judged against the champion's calibration fit (which has not seen the holdout either,
    # unlike its final fit) on the same customers and holdout.
    old = ClvFit.from_params(client.get_run(first.run_id).data.params, "calibration_")
    assert m["champion_purchases_mae"] == pytest.approx(
        clv.comparison_metrics(
            clv.holdout_comparison(customers, inputs.purchases, calibration_end, END,
                                   old.bgnbd, old.spend)
        )["purchases_mae"]
    )  # fmt: skip
    assert result.promoted == (m["purchases_mae"] <= m["champion_purchases_mae"])
    champ = registry.champion(client, settings, "clv")
    assert champ.version == (result.version if result.promoted else first.version)
    # The registered model predicts from a pandas summary what the Spark closed forms give.
    fitted = ClvFit.from_params(run.data.params)
    summary = buyers.orderBy("profile_id").limit(50)
    spark_side = clv.lifetime_value(summary, fitted.bgnbd, fitted.spend, HORIZON_DAYS).toPandas()
    uri = f"models:/{registry.registered_name(settings, 'clv')}/{result.version}"
    served = mlflow.pyfunc.load_model(uri).predict(spark_side[list(summary.columns)])
    for column in ("probability_alive", "predicted_purchases", "expected_spend", "predicted_clv"):
        assert served[column].to_numpy() == pytest.approx(spark_side[column].to_numpy(), rel=1e-9)
    print("clv holdout:", {k: round(v, 4) for k, v in m.items()})
