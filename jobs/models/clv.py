"""Customer lifetime value: each profile's repeat-purchase summary as the BG/NBD and
Gamma-Gamma models read it, the models, and their judgement on a later window.

The summary follows the convention of the buy-till-you-die literature (Fader, Hardie and
Lee 2005) and of pymc-marketing's CLV module, which fits them: time in days, a purchase is
a day with at least one purchase (two receipts on one day are one purchase occasion), and
the first purchase only starts the clock:

- ``frequency``: purchase days after the first;
- ``recency``: days from the first purchase day to the last;
- ``T``: days from the first purchase day to the cutoff;
- ``monetary_value``: mean spend of the repeat purchase days (the first day excluded, as
  Gamma-Gamma assumes), null for a profile with no repeat purchase.

Point in time like every model input (jobs/models/features.py): nothing dated after the
cutoff day is read, so a summary at a past cutoff is what that night could have known.
Returns are not purchase occasions; a day whose purchases net to nothing or less is not one
either.

The BG/NBD model of purchases (Fader, Hardie and Lee 2005) and the Gamma-Gamma model of spend
per purchase (Fader, Hardie and Lee 2005b) are fitted with pymc-marketing's ``BetaGeoModel``
and ``GammaGammaModel`` (maximum a posteriori) on a sample of the summaries, on the driver:
their few parameters describe the population, so a sample of tens of thousands finds them as well as
every profile would. Scoring never leaves Spark: the closed forms below are SQL over the
summary columns, so a fitted model is a Spark ML stage like the others (jobs/models/training)
and scores a hundred million profiles where they lie.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
import warnings
from dataclasses import dataclass

# At module level: the pandas UDF's type hints are strings (postponed annotations), which
# PySpark resolves in this module's namespace.
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.models.features import checked_inputs

log = logging.getLogger(__name__)

SUMMARY_INPUTS = ("profile_id", "order_date", "is_purchase", "amount_reporting")


def _purchase_days(purchases: DataFrame) -> DataFrame:
    """(profile_id, order_date, spend) of each day on which a profile bought for more than
    nothing, from gold.purchases."""
    return (
        purchases.select(*checked_inputs("gold.purchases", SUMMARY_INPUTS))
        .where(F.col("profile_id").isNotNull() & F.col("is_purchase").cast("boolean"))
        .groupBy("profile_id", "order_date")
        .agg(F.sum(F.coalesce(F.col("amount_reporting").cast("double"), F.lit(0.0))).alias("spend"))
        .where(F.col("spend") > 0)
    )


def repeat_purchase_summary(purchases: DataFrame, cutoff: dt.date) -> DataFrame:
    """(profile_id, frequency, recency, T, monetary_value) of every profile with a purchase
    on or before ``cutoff``, from gold.purchases."""
    day = F.lit(cutoff)
    days = _purchase_days(purchases).where(F.col("order_date") <= day)
    # One pass over the purchase days: the first day's spend is taken out of the repeat
    # spend (min_by), not found again by a join.
    summary = days.groupBy("profile_id").agg(
        (F.count("*") - 1).cast("int").alias("frequency"),
        F.min("order_date").alias("first_day"),
        F.max("order_date").alias("last_day"),
        F.sum("spend").alias("total"),
        F.min_by("spend", "order_date").alias("first_spend"),
    )
    return summary.select(
        "profile_id",
        "frequency",
        F.datediff("last_day", "first_day").cast("double").alias("recency"),
        F.datediff(day, "first_day").cast("double").alias("T"),
        F.when(
            F.col("frequency") > 0, (F.col("total") - F.col("first_spend")) / F.col("frequency")
        ).alias("monetary_value"),
    )


@dataclass(frozen=True)
class BgNbd:
    """A fitted BG/NBD model: purchase rates are Gamma(r, alpha) across customers (per day),
    and after each purchase a customer drops out with a probability that is Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float

    def as_params(self, prefix: str = "bgnbd_") -> dict[str, float]:
        return {f"{prefix}{k}": v for k, v in dataclasses.asdict(self).items()}

    def probability_alive(self, frequency: str, recency: str, t: str) -> str:
        """SQL: the probability that a customer with this summary has not dropped out (1
        without a repeat purchase, as the model has it: dropout follows a purchase)."""
        odds = (
            f"({self.a!r} / ({self.b!r} + {frequency} - 1)) * "
            f"power(({self.alpha!r} + {t}) / ({self.alpha!r} + {recency}), {self.r!r} + {frequency})"
        )
        return f"(CASE WHEN {frequency} > 0 THEN 1 / (1 + {odds}) ELSE 1.0 END)"

    def probability_of_purchase(self, frequency: str, recency: str, t: str, days: int) -> str:
        """SQL: the probability of at least one purchase in the ``days`` after the summary.
        Alive, the customer's rate is Gamma(r + x, alpha + T) given the history, and the first
        purchase of the window comes before any dropout, so the chance of none is the Gamma's
        Laplace transform at ``days``; dead, none."""
        quiet = (
            f"power(({self.alpha!r} + {t}) / ({self.alpha!r} + {t} + {int(days)}), "
            f"{self.r!r} + {frequency})"
        )
        return f"({self.probability_alive(frequency, recency, t)} * (1 - {quiet}))"


def sampled(summary: DataFrame, rows: int, seed: int) -> pd.DataFrame:
    """``summary`` on the driver, a random sample when it holds more than about ``rows``
    (the fits cut it to ``rows`` exactly)."""
    count = summary.count()
    if count > rows:
        summary = summary.sample(fraction=min(1.0, 1.1 * rows / count), seed=seed)
    return summary.toPandas()


class NotFittable(ValueError):
    """The summaries cannot fit a BG/NBD model (no repeat purchase, or the fit failed)."""


def _map_fit(
    kind: str, data: pd.DataFrame, columns: tuple[str, ...], params: tuple[str, ...],
    max_rows: int, seed: int,
) -> dict[str, float]:  # fmt: skip
    """The maximum a posteriori ``params`` of pymc-marketing's model ``kind`` on ``columns``
    of ``data``, a sample of at most ``max_rows`` rows of it."""
    if len(data) > max_rows:
        data = data.sample(n=max_rows, random_state=seed)
    frame = data[list(columns)].astype(float).reset_index(drop=True)
    frame.insert(0, "customer_id", range(len(frame)))
    with warnings.catch_warnings():
        # PyTensor warns once per process that pip's numpy has no tuned BLAS; it is slower,
        # not wrong, and a few parameters need none.
        warnings.simplefilter("ignore")
        import pymc_marketing.clv as models

        try:
            model = getattr(models, kind)(data=frame)
            model.fit(method="map", progressbar=False)
            # The MAP point as it is: fit_summary() would round it to three decimals.
            fitted = {k: float(model.fit_result[k].mean()) for k in params}
        except Exception as exc:  # the optimiser's own errors, whatever their class
            raise NotFittable(f"{kind} fit failed: {str(exc).splitlines()[0]}") from exc
    log.info("%s fitted on %d customers: %s", kind, len(frame), fitted)
    return fitted


def fit_bgnbd(summary: pd.DataFrame, max_rows: int = 50_000, seed: int = 7) -> BgNbd:
    """BG/NBD parameters from a pandas frame of (frequency, recency, T), sampled to at most
    ``max_rows`` rows, fitted with pymc-marketing's BetaGeoModel."""
    if len(summary) == 0 or (summary["frequency"] > 0).sum() < 2:
        raise NotFittable(f"{len(summary)} customers, too few with a repeat purchase")
    columns = ("frequency", "recency", "T")
    params = BgNbd(**_map_fit("BetaGeoModel", summary, columns, ("r", "alpha", "a", "b"),
                              max_rows, seed))  # fmt: skip
    if not all(v > 0 and math.isfinite(v) for v in dataclasses.astuple(params)):
        raise NotFittable(f"BG/NBD fit gave parameters out of range: {params}")
    return params


@dataclass(frozen=True)
class GammaGamma:
    """A fitted Gamma-Gamma spend model (Fader, Hardie and Lee 2005b): a customer's spend per
    purchase varies around their own mean, which is Gamma-distributed across customers."""

    p: float
    q: float
    v: float

    def as_params(self, prefix: str = "gamma_gamma_") -> dict[str, float]:
        return {f"{prefix}{k}": v for k, v in dataclasses.asdict(self).items()}

    @property
    def population_mean(self) -> float:
        """The mean spend per purchase of a customer the model knows nothing about."""
        return self.p * self.v / (self.q - 1)

    def expected_spend(self, frequency: str, monetary_value: str) -> str:
        """SQL: a customer's expected spend per purchase, their own mean weighted against the
        population's by their repeat purchases; the population's without one."""
        p, q, v = self.p, self.q, self.v
        own = f"({p!r} * ({v!r} + {frequency} * {monetary_value})) / ({p!r} * {frequency} + {q!r} - 1)"
        return (
            f"(CASE WHEN {frequency} > 0 AND {monetary_value} > 0 THEN {own} "
            f"ELSE {self.population_mean!r} END)"
        )


def fit_gamma_gamma(summary: pd.DataFrame, max_rows: int = 50_000, seed: int = 7) -> GammaGamma:
    """Gamma-Gamma parameters from a pandas frame of (frequency, monetary_value): the repeat
    buyers among it, sampled to at most ``max_rows``, fitted with pymc-marketing's
    GammaGammaModel."""
    repeat = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    if len(repeat) < 2:
        raise NotFittable(f"{len(repeat)} customers with a repeat purchase; Gamma-Gamma needs 2")
    columns = ("frequency", "monetary_value")
    params = GammaGamma(**_map_fit("GammaGammaModel", repeat, columns, ("p", "q", "v"),
                                   max_rows, seed))  # fmt: skip
    # q > 1: the population's mean spend exists.
    finite = all(math.isfinite(v) for v in dataclasses.astuple(params))
    if not (finite and params.p > 0 and params.q > 1 and params.v > 0):
        raise NotFittable(f"Gamma-Gamma fit gave parameters out of range: {params}")
    return params


def expected_purchases(params: BgNbd, frequency, recency, t, days):
    """BG/NBD's expected number of purchases in the ``days`` after the summary (numpy arrays
    in, one out; Fader, Hardie and Lee 2005, eq. 10, with SciPy's Gauss hypergeometric)."""
    import numpy as np
    from scipy.special import hyp2f1

    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    # a = 1 is a removable singularity of the closed form (0 / 0): read it just beside.
    if abs(a - 1) < 1e-6:
        a = 1 + 1e-6
    x = np.asarray(frequency, dtype=float)
    recency, t = np.asarray(recency, dtype=float), np.asarray(t, dtype=float)
    days = np.asarray(days, dtype=float)
    body = 1 - ((alpha + t) / (alpha + t + days)) ** (r + x) * hyp2f1(
        r + x, b + x, a + b + x - 1, days / (alpha + t + days)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        dead_odds = np.where(
            x > 0, a / (b + x - 1) * ((alpha + t) / (alpha + recency)) ** (r + x), 0.0
        )
    return (a + b + x - 1) / (a - 1) * body / (1 + dead_odds)


def lifetime_value(summary: DataFrame, bgnbd: BgNbd, spend: GammaGamma, days: int) -> DataFrame:
    """Each profile of ``summary`` (repeat_purchase_summary) with its probability of being
    alive, expected purchases and spend per purchase, and their product, the value of its
    next ``days`` (undiscounted), computed where the rows lie."""

    @F.pandas_udf("double")
    def purchases(frequency: pd.Series, recency: pd.Series, t: pd.Series) -> pd.Series:
        return pd.Series(expected_purchases(bgnbd, frequency, recency, t, days))

    out = summary.select(
        "*",
        F.expr(bgnbd.probability_alive("frequency", "recency", "T")).alias("probability_alive"),
        purchases("frequency", "recency", "T").alias("predicted_purchases"),
        F.expr(spend.expected_spend("frequency", "monetary_value")).alias("expected_spend"),
    )
    return out.withColumn("predicted_clv", F.col("predicted_purchases") * F.col("expected_spend"))


def holdout_outcome(purchases: DataFrame, start: dt.date, end: dt.date) -> DataFrame:
    """(profile_id, purchases, spend) of each profile in the days after ``start`` up to
    ``end``: purchase days and their spend, counted as the summary counts them."""
    return (
        _purchase_days(purchases)
        .where((F.col("order_date") > F.lit(start)) & (F.col("order_date") <= F.lit(end)))
        .groupBy("profile_id")
        .agg(F.count("*").cast("double").alias("purchases"), F.sum("spend").alias("spend"))
    )


def holdout_comparison(
    summary: DataFrame, purchases: DataFrame, calibration_end: dt.date, holdout_end: dt.date,
    bgnbd: BgNbd, spend: GammaGamma,
) -> DataFrame:  # fmt: skip
    """Each customer of the calibration period (``summary``: repeat_purchase_summary as of
    ``calibration_end``) with its predicted and actual purchases and spend in the holdout
    that follows, and the naive prediction: the customer's own repeat rate so far,
    extrapolated."""
    days = (holdout_end - calibration_end).days
    predicted = lifetime_value(summary, bgnbd, spend, days)
    actual = holdout_outcome(purchases, calibration_end, holdout_end)
    rate = F.when(F.col("T") > 0, F.col("frequency") / F.col("T")).otherwise(0.0)
    return predicted.join(actual, "profile_id", "left").select(
        "profile_id",
        "frequency",
        "T",
        "predicted_purchases",
        F.col("predicted_clv").alias("predicted_spend"),
        (rate * days).alias("naive_purchases"),
        (rate * days * F.coalesce("monetary_value", F.lit(0.0))).alias("naive_spend"),
        F.coalesce("purchases", F.lit(0.0)).alias("actual_purchases"),
        F.coalesce("spend", F.lit(0.0)).alias("actual_spend"),
    )


def comparison_metrics(comparison: DataFrame) -> dict[str, float]:
    """Per-customer mean absolute error and correlation of the predicted and of the naive
    purchases and spend against the actual, and the totals."""
    aggs = []
    for what in ("purchases", "spend"):
        for who in ("predicted", "naive"):
            prefix = "" if who == "predicted" else "naive_"
            aggs += [
                F.avg(F.abs(F.col(f"{who}_{what}") - F.col(f"actual_{what}"))).alias(
                    f"{prefix}{what}_mae"
                ),
                F.corr(f"{who}_{what}", f"actual_{what}").alias(f"{prefix}{what}_corr"),
                F.sum(f"{who}_{what}").alias(f"{prefix}{what}_total"),
            ]
        aggs.append(F.sum(f"actual_{what}").alias(f"actual_{what}_total"))
    row = comparison.agg(F.count("*").alias("customers"), *aggs).first().asDict()
    return {k: float("nan") if v is None else float(v) for k, v in row.items()}


def weekly_repeat_purchases(
    summary: DataFrame, purchases: DataFrame, calibration_end: dt.date, holdout_end: dt.date,
    bgnbd: BgNbd,
) -> pd.DataFrame:  # fmt: skip
    """Predicted and actual purchases per week of the holdout, summed over the calibration
    period's customers (``summary`` as of ``calibration_end``; the aggregate check of a
    BG/NBD fit): week 1 is the seven days after ``calibration_end``, the last week may be
    shorter."""
    days = (holdout_end - calibration_end).days
    ends = [min(7 * k, days) for k in range(1, (days + 6) // 7 + 1)]

    def per_week(batches):
        for b in batches:
            cumulative = [
                float(expected_purchases(bgnbd, b["frequency"], b["recency"], b["T"], t).sum())
                for t in ends
            ]
            yield pd.DataFrame({"week": range(1, len(ends) + 1), "predicted": cumulative})

    cumulative = (
        summary.mapInPandas(per_week, "week int, predicted double")
        .groupBy("week")
        .agg(F.sum("predicted").alias("predicted"))
        .toPandas()
        .set_index("week")
        .reindex(range(1, len(ends) + 1), fill_value=0.0)["predicted"]
    )
    customers = summary.select("profile_id")
    actual = (
        _purchase_days(purchases)
        .join(customers, "profile_id", "left_semi")
        .where(
            (F.col("order_date") > F.lit(calibration_end))
            & (F.col("order_date") <= F.lit(holdout_end))
        )
        .groupBy(
            ((F.datediff("order_date", F.lit(calibration_end)) - 1) / 7 + 1)
            .cast("int")
            .alias("week")
        )
        .count()
        .toPandas()
        .set_index("week")
        .reindex(range(1, len(ends) + 1), fill_value=0)["count"]
    )
    return pd.DataFrame(
        {
            "week": range(1, len(ends) + 1),
            "predicted": cumulative.diff().fillna(cumulative).to_numpy(),
            "actual": actual.to_numpy().astype(float),
        }
    )


def lifetime_value_frame(
    summary: pd.DataFrame, bgnbd: BgNbd, spend: GammaGamma, days: int
) -> pd.DataFrame:
    """:func:`lifetime_value` on a pandas frame (the registered model's ``predict``, for a
    notebook or a service): the same four columns from the same closed forms."""
    import numpy as np

    x = summary["frequency"].to_numpy(dtype=float)
    recency, t = summary["recency"].to_numpy(dtype=float), summary["T"].to_numpy(dtype=float)
    money = summary["monetary_value"].to_numpy(dtype=float)
    r, alpha, a, b = bgnbd.r, bgnbd.alpha, bgnbd.a, bgnbd.b
    with np.errstate(divide="ignore", invalid="ignore"):
        odds = a / (b + x - 1) * ((alpha + t) / (alpha + recency)) ** (r + x)
        alive = np.where(x > 0, 1 / (1 + odds), 1.0)
        own = spend.p * (spend.v + x * money) / (spend.p * x + spend.q - 1)
    mean_spend = np.where((x > 0) & (money > 0), own, spend.population_mean)
    purchases = expected_purchases(bgnbd, x, recency, t, days)
    return pd.DataFrame(
        {
            "probability_alive": alive,
            "predicted_purchases": purchases,
            "expected_spend": mean_spend,
            "predicted_clv": purchases * mean_spend,
        },
        index=summary.index,
    )
