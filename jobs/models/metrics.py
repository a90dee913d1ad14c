"""Holdout metrics of a scored set, computed where the data lives.

ROC AUC, average precision and lift in the top decile all depend on the order of the
scores. Sorting a hundred million rows on one node would not scale, so the scores are first
counted per (score bin, label) in Spark (``BINS`` bins over 0..1, finer than any business
decision) and the curve is walked over those few thousand counts on the driver; scores
that share a bin count as tied, as they would for any threshold. The Brier score is an
exact mean in Spark.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

BINS = 100_000


@dataclass(frozen=True)
class Metrics:
    """A model's quality on one labelled set."""

    roc_auc: float
    average_precision: float
    brier: float
    lift_top_decile: float
    rows: int
    positives: int

    def as_dict(self, prefix: str = "") -> dict[str, float]:
        return {f"{prefix}{k}": float(v) for k, v in asdict(self).items()}


def evaluate(scored: DataFrame, score: str = "score", label: str = "label") -> Metrics:
    """Metrics of ``scored`` (a probability column and a 0/1 label column)."""
    counts = (
        scored.select(
            F.least(F.floor(F.col(score) * BINS), F.lit(BINS - 1)).cast("int").alias("bin"),
            F.col(label).cast("int").alias("y"),
            ((F.col(score) - F.col(label)) ** 2).alias("sq"),
        )
        .groupBy("bin")
        .agg(
            F.sum("y").alias("pos"),
            F.sum(1 - F.col("y")).alias("neg"),
            F.sum("sq").alias("sq"),
        )
        .collect()
    )
    return from_bins([(r["bin"], int(r["pos"]), int(r["neg"]), float(r["sq"])) for r in counts])


def from_bins(bins: list[tuple[int, int, int, float]]) -> Metrics:
    """Metrics from (bin, positives, negatives, squared error) counts, highest bin first."""
    bins = sorted(bins, key=lambda b: -b[0])
    pos_total = sum(b[1] for b in bins)
    neg_total = sum(b[2] for b in bins)
    rows = pos_total + neg_total
    if rows == 0:
        return Metrics(float("nan"), float("nan"), float("nan"), float("nan"), 0, 0)
    brier = sum(b[3] for b in bins) / rows
    if pos_total == 0 or neg_total == 0:
        # One class only: ranking metrics are undefined.
        return Metrics(float("nan"), float("nan"), brier, float("nan"), rows, pos_total)

    # ROC AUC: probability a random positive outranks a random negative (ties count half).
    auc, neg_above = 0.0, 0
    # Average precision: precision at each threshold, weighted by the recall it adds.
    ap, tp, fp = 0.0, 0, 0
    # Lift in the top decile: the positive rate of the highest-scored tenth over the base rate.
    top, top_pos, top_rows = rows / 10.0, 0.0, 0.0
    for _, pos, neg, _ in bins:
        neg_below = neg_total - neg_above - neg
        auc += pos * (neg_below + neg / 2.0)
        neg_above += neg
        tp, fp = tp + pos, fp + neg
        if pos:
            ap += (pos / pos_total) * (tp / (tp + fp))
        if top_rows < top:
            take = min(pos + neg, top - top_rows)
            # A bin straddling the cut contributes its positive share pro rata (ties).
            top_pos += take * pos / (pos + neg)
            top_rows += take
    lift = (top_pos / top_rows) / (pos_total / rows)
    return Metrics(auc / (pos_total * neg_total), ap, brier, lift, rows, pos_total)
