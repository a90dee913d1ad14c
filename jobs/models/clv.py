"""Customer lifetime value inputs (issue 20): each profile's repeat-purchase summary as the
BG/NBD and Gamma-Gamma models read it.

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
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.models.features import checked_inputs

SUMMARY_INPUTS = ("profile_id", "order_date", "is_purchase", "amount_reporting")


def repeat_purchase_summary(purchases: DataFrame, cutoff: dt.date) -> DataFrame:
    """(profile_id, frequency, recency, T, monetary_value) of every profile with a purchase
    on or before ``cutoff``, from gold.purchases."""
    day = F.lit(cutoff)
    days = (
        purchases.select(*checked_inputs("gold.purchases", SUMMARY_INPUTS))
        .where(
            F.col("profile_id").isNotNull()
            & F.col("is_purchase").cast("boolean")
            & (F.col("order_date") <= day)
        )
        .groupBy("profile_id", "order_date")
        .agg(F.sum(F.coalesce(F.col("amount_reporting").cast("double"), F.lit(0.0))).alias("spend"))
        .where(F.col("spend") > 0)
    )
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
