"""GDPR suppression at the door: landed rows of an erased person never reach bronze.

An erasure (jobs/gdpr/requests.py) puts keyed hashes of the person's identifiers on
audit.suppression_list. Here each landed row's identifiers are normalised exactly as silver
would (jobs/standardise/identifiers.py), hashed with the same key, and a row carrying any suppressed
one is counted (bronze.file_log ``suppressed_rows``) and not written, so tomorrow's extracts
do not bring the person back. Rows in = rows landed + rows suppressed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from cdp.core import catalog

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from cdp.core.settings import Settings

ROW_KEY = ("_file_sha256", "_row_number")


@dataclass
class Suppression:
    """The suppression list and the key its hashes were made with."""

    hashes: DataFrame  # namespace, identifier_hash
    key: bytes
    settings: Settings

    @classmethod
    def load(cls, spark: SparkSession, settings: Settings) -> Suppression | None:
        """The warehouse's suppression list, or None when nobody was ever erased."""
        from jobs.governance.keys import subject_key

        wh = settings.paths.warehouse
        if not catalog.exists(spark, "audit.suppression_list", wh):
            return None
        hashes = catalog.read(spark, "audit.suppression_list", wh).select(
            "namespace", "identifier_hash"
        )
        if hashes.isEmpty():
            return None
        return cls(hashes.localCheckpoint(), subject_key(spark, settings), settings)

    def apply(self, landed: DataFrame, source: str) -> tuple[DataFrame, int]:
        """(rows to land, number of rows suppressed) of one landed file's rows."""
        from jobs.governance.keys import keyed_hash_col
        from jobs.standardise.identifiers import landed_identities

        ids = landed.select(
            *ROW_KEY,
            F.explode(landed_identities(landed, source, self.settings.standardise)).alias("i"),
        )
        hashed = ids.select(
            *ROW_KEY,
            F.col("i.namespace").alias("namespace"),
            keyed_hash_col(self.key, F.col("i.value")).alias("identifier_hash"),
        )
        doomed = (
            hashed.join(F.broadcast(self.hashes), ["namespace", "identifier_hash"])
            .select(*ROW_KEY)
            .distinct()
            .localCheckpoint()
        )
        suppressed = doomed.count()
        if not suppressed:
            return landed, 0
        return landed.join(doomed, list(ROW_KEY), "left_anti"), suppressed
