"""The repeat-purchase summary the lifetime-value models read (jobs/models/clv.py)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from jobs.models.clv import SUMMARY_INPUTS, repeat_purchase_summary
from schemas.gold import PURCHASE

CUTOFF = dt.date(2026, 9, 1)


def _day(offset: int) -> dt.date:
    return CUTOFF + dt.timedelta(days=offset)


def _purchases(spark, rows):
    """gold.purchases (the columns the summary reads) from (profile_id, day offset,
    is_purchase, amount)."""
    schema = ", ".join(f"{c} {PURCHASE.field(c).dtype}" for c in SUMMARY_INPUTS)
    return spark.createDataFrame(
        [(pid, _day(d), buy, Decimal(str(amount))) for pid, d, buy, amount in rows], schema
    )


def test_the_summary_counts_purchase_days_after_the_first_up_to_the_cutoff(spark):
    rows = [
        # p1: first buys 100 days before the cutoff; two receipts 40 days before are one
        # occasion of 30.0; a return is no occasion; the cutoff day itself counts.
        ("p1", -100, True, 50.0),
        ("p1", -40, True, 10.0),
        ("p1", -40, True, 20.0),
        ("p1", -20, False, -15.0),
        ("p1", 0, True, 40.0),
        # After the cutoff: not read.
        ("p1", 5, True, 999.0),
        # p2: one purchase day only, so no repeat and no repeat spend.
        ("p2", -10, True, 25.0),
        # p3: bought only after the cutoff; p4: returns only; unresolved buyers: none of them.
        ("p3", 3, True, 10.0),
        ("p4", -5, False, -5.0),
        (None, -5, True, 5.0),
    ]
    got = {
        r["profile_id"]: r.asDict()
        for r in repeat_purchase_summary(_purchases(spark, rows), CUTOFF).collect()
    }
    assert set(got) == {"p1", "p2"}
    p1 = got["p1"]
    assert (p1["frequency"], p1["recency"], p1["T"]) == (2, 100.0, 100.0)
    assert p1["monetary_value"] == 35.0  # (30 + 40) / 2: the first day's 50 is not repeat spend
    p2 = got["p2"]
    assert (p2["frequency"], p2["recency"], p2["T"], p2["monetary_value"]) == (0, 0.0, 10.0, None)


def _simulated_bgnbd(n: int, r=0.8, alpha=20.0, a=1.0, b=4.0, seed=3):
    """(frequency, recency, T) of ``n`` customers drawn from the BG/NBD process itself."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    rate, dropout = rng.gamma(r, 1 / alpha, n), rng.beta(a, b, n)
    horizon = rng.integers(30, 365, n).astype(float)
    rows = []
    for lam, p, big_t in zip(rate, dropout, horizon, strict=True):
        t = last = 0.0
        x = 0
        while True:
            t += rng.exponential(1 / lam)
            if t > big_t:
                break
            x, last = x + 1, t
            if rng.random() < p:
                break
        rows.append((x, float(np.floor(last)), big_t))
    return pd.DataFrame(rows, columns=["frequency", "recency", "T"])


def _at_point(kind, params, data):
    """A pymc-marketing model of ``kind`` whose posterior is the one point ``params``."""
    import arviz as az
    import xarray as xr

    model = kind(data=data)
    model.build_model()
    point = {k: xr.DataArray([[v]], dims=("chain", "draw")) for k, v in vars(params).items()}
    model.idata = az.InferenceData(posterior=xr.Dataset(point))
    return model


def test_bgnbd_recovers_the_process_and_its_sql_matches_pymc_marketing(spark):
    import numpy as np
    from pymc_marketing.clv import BetaGeoModel

    from jobs.models.clv import expected_purchases, fit_bgnbd

    data = _simulated_bgnbd(3000)
    params = fit_bgnbd(data)
    # The population it was drawn from (MAP on 3,000 customers: within sampling error).
    assert params.r == pytest.approx(0.8, rel=0.25)
    assert params.alpha == pytest.approx(20.0, rel=0.35)
    assert params.b / params.a == pytest.approx(4.0, rel=0.5)

    # The Spark SQL closed forms against the library's own, at the same parameters.
    probe = data.sample(200, random_state=1).reset_index(drop=True)
    probe["customer_id"] = range(len(probe))
    reference = _at_point(BetaGeoModel, params, probe)
    alive = reference.expected_probability_alive(data=probe).values.ravel()
    none_in_30 = reference.expected_probability_no_purchase(30, data=probe).values.ravel()
    sdf = spark.createDataFrame(probe[["customer_id", "frequency", "recency", "T"]])
    got = (
        sdf.selectExpr(
            "customer_id",
            f"{params.probability_alive('frequency', 'recency', 'T')} AS alive",
            f"{params.probability_of_purchase('frequency', 'recency', 'T', 30)} AS buys",
        )
        .toPandas()
        .sort_values("customer_id")
    )
    np.testing.assert_allclose(got["alive"], alive, rtol=1e-6)
    # The library's no-purchase form divides by B(a + 1, b + x - 1), undefined without a
    # repeat purchase: compared where it is defined.
    repeat = (probe["frequency"] > 0).to_numpy()
    np.testing.assert_allclose(got["buys"][repeat], 1 - none_in_30[repeat], rtol=1e-6)
    mine = expected_purchases(params, probe["frequency"], probe["recency"], probe["T"], 90)
    theirs = reference.expected_purchases(data=probe, future_t=90).values.ravel()
    np.testing.assert_allclose(mine, theirs, rtol=1e-6)


def test_bgnbd_without_repeat_purchases_is_not_fittable():
    import pandas as pd

    from jobs.models.clv import NotFittable, fit_bgnbd

    with pytest.raises(NotFittable, match="too few with a repeat purchase"):
        fit_bgnbd(pd.DataFrame({"frequency": [0, 0, 1], "recency": [0, 0, 3], "T": [9, 9, 9]}))


def test_gamma_gamma_and_lifetime_value_match_pymc_marketing(spark):
    import numpy as np
    from pymc_marketing.clv import GammaGammaModel

    from jobs.models.clv import BgNbd, fit_gamma_gamma, lifetime_value

    # Spend per purchase: each customer's own mean is p / Gamma(q, v); purchases around it.
    rng = np.random.default_rng(5)
    n, p, q, v = 2000, 6.0, 4.0, 15.0
    data = _simulated_bgnbd(n)
    own_mean = p / rng.gamma(q, 1 / v, n)
    data["monetary_value"] = [
        rng.gamma(p, m / p, x).mean() if x > 0 else np.nan
        for m, x in zip(own_mean, data["frequency"], strict=True)
    ]
    spend = fit_gamma_gamma(data)
    assert spend.population_mean == pytest.approx(p * v / (q - 1), rel=0.2)

    repeat = data[data["frequency"] > 0].sample(100, random_state=2).reset_index(drop=True)
    repeat["customer_id"] = range(len(repeat))
    theirs = (
        _at_point(GammaGammaModel, spend, repeat)
        .expected_customer_spend(data=repeat)
        .values.ravel()
    )
    bgnbd = BgNbd(r=0.8, alpha=20.0, a=1.0 + 1e-3, b=4.0)
    frame = spark.createDataFrame(
        repeat.assign(profile_id=repeat["customer_id"].astype(str))[
            ["profile_id", "frequency", "recency", "T", "monetary_value"]
        ]
    )
    got = lifetime_value(frame, bgnbd, spend, 365).toPandas()
    got = got.set_index(got["profile_id"].astype(int)).sort_index()
    np.testing.assert_allclose(got["expected_spend"], theirs, rtol=1e-6)
    np.testing.assert_allclose(
        got["predicted_clv"], got["predicted_purchases"] * got["expected_spend"], rtol=1e-12
    )
    assert ((got["probability_alive"] > 0) & (got["probability_alive"] <= 1)).all()
    # Without a repeat purchase the population's mean spend is expected.
    once = spark.createDataFrame(
        [("new", 0, 0.0, 30.0, None)],
        "profile_id string, frequency int, recency double, T double, monetary_value double",
    )
    row = lifetime_value(once, bgnbd, spend, 365).first()
    assert row["expected_spend"] == pytest.approx(spend.population_mean)
    assert row["probability_alive"] == 1.0 and row["predicted_purchases"] > 0


def test_the_holdout_is_judged_on_the_calibration_customers_against_their_own_rate(spark):
    from jobs.models.clv import (
        BgNbd,
        GammaGamma,
        comparison_metrics,
        holdout_comparison,
        weekly_repeat_purchases,
    )

    rows = [
        # p1: first day 10 days before the calibration end, a repeat 5 days before; in the
        # holdout two purchase days (day 1 and day 8: weeks 1 and 2; two receipts on day 8).
        ("p1", -10, True, 20.0),
        ("p1", -5, True, 30.0),
        ("p1", 1, True, 10.0),
        ("p1", 8, True, 5.0),
        ("p1", 8, True, 7.0),
        # After the holdout: not read.
        ("p1", 20, True, 99.0),
        # p2: one purchase day, none after.
        ("p2", -4, True, 25.0),
        # p3: a first purchase in the holdout is no calibration customer's.
        ("p3", 3, True, 10.0),
    ]
    purchases = _purchases(spark, rows)
    customers = repeat_purchase_summary(purchases, CUTOFF)
    end = _day(14)
    bgnbd, spend = BgNbd(r=0.8, alpha=20.0, a=1.5, b=4.0), GammaGamma(p=6.0, q=4.0, v=15.0)
    got = {
        r["profile_id"]: r.asDict()
        for r in holdout_comparison(customers, purchases, CUTOFF, end, bgnbd, spend).collect()
    }
    assert set(got) == {"p1", "p2"}
    p1, p2 = got["p1"], got["p2"]
    assert (p1["actual_purchases"], p1["actual_spend"]) == (2.0, 22.0)
    # Naive: one repeat purchase in the 10 days since the first, for 14 days; its spend 30.
    assert p1["naive_purchases"] == pytest.approx(1.4)
    assert p1["naive_spend"] == pytest.approx(1.4 * 30.0)
    assert (p2["actual_purchases"], p2["naive_purchases"], p2["naive_spend"]) == (0.0, 0.0, 0.0)
    assert p1["predicted_purchases"] > p2["predicted_purchases"] > 0

    m = comparison_metrics(holdout_comparison(customers, purchases, CUTOFF, end, bgnbd, spend))
    assert m["customers"] == 2 and m["actual_purchases_total"] == 2.0
    assert m["naive_purchases_mae"] == pytest.approx((0.6 + 0.0) / 2)
    total = p1["predicted_purchases"] + p2["predicted_purchases"]
    assert m["purchases_total"] == pytest.approx(total)

    weekly = weekly_repeat_purchases(customers, purchases, CUTOFF, end, bgnbd)
    assert weekly["week"].tolist() == [1, 2] and weekly["actual"].tolist() == [1.0, 1.0]
    assert weekly["predicted"].sum() == pytest.approx(total)
    assert (weekly["predicted"] > 0).all()
