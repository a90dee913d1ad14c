"""Which profile each source record belongs to: the profile of its strongest identifier.

A record's identifiers normally sit in one profile. When the guard rails cut one of them (a
shared payment card, a family cookie) or an identifier of another person rode along (a
friend's email typed into a form), the strongest identifier decides: crm_id before
loyalty_id before email ... (``graph.NAMESPACE_PRIORITY``). A receipt swiped with a loyalty
card belongs to the card holder; an event of a logged-in user belongs to that user. Every
record counts for exactly one profile, so nothing is counted twice after a merge.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from jobs.identity.graph import namespace_rank


def record_profiles(observations: DataFrame, identity_map: DataFrame) -> DataFrame:
    """(record_id, source, profile_id) for every record that resolves to a profile.

    ``observations``: ``graph.observations`` (record_id, source, namespace, value, ...).
    """
    ids = identity_map.select("namespace", F.col("identifier").alias("value"), "profile_id")
    resolved = observations.join(ids, ["namespace", "value"]).withColumn(
        "_rank", namespace_rank(F.col("namespace"))
    )
    strongest = Window.partitionBy("record_id").orderBy("_rank", "value")
    return (
        resolved.withColumn("_pos", F.row_number().over(strongest))
        .where(F.col("_pos") == 1)
        .select("record_id", "source", "profile_id")
    )
