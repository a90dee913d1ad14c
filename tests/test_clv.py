"""The repeat-purchase summary the lifetime-value models read (jobs/models/clv.py)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

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
