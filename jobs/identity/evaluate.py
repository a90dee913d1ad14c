"""Identity-resolution accuracy against the generator's ground truth (``_truth/records.csv``).

Pairwise measures over source records (Christen, "Data Matching", 2012, ch. 7): two records
are a predicted pair when they resolve to one profile and a true pair when one person is
behind both. Counted from group sizes, never by enumerating pairs, so it scales:
pairs(group of n) = n(n-1)/2. A record that resolves to no profile (no usable identifier)
takes part in no predicted pair, so every true pair it belongs to counts as missed.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def _pairs(n):
    return n * (n - 1) / 2


@dataclass
class PairCounts:
    """Pair counts for one slice (overall or a source pair)."""

    true_pairs: int
    predicted_pairs: int
    correct_pairs: int

    @property
    def precision(self) -> float | None:
        return self.correct_pairs / self.predicted_pairs if self.predicted_pairs else None

    @property
    def recall(self) -> float | None:
        return self.correct_pairs / self.true_pairs if self.true_pairs else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p and r else None


@dataclass
class IdentityEvaluation:
    """The whole evaluation: overall, per source pair, errors and cluster sizes."""

    overall: PairCounts
    by_source_pair: dict[str, PairCounts]
    records: int
    unresolved_records: int
    false_merges: int  # profiles holding more than one true person
    missed_links: int  # true persons spread over more than one profile
    cluster_sizes: dict[int, int] = field(default_factory=dict)  # records per profile -> profiles

    def to_dict(self) -> dict:
        def counts(c: PairCounts) -> dict:
            return {**asdict(c), "precision": c.precision, "recall": c.recall, "f1": c.f1}

        return {
            "overall": counts(self.overall),
            "by_source_pair": {k: counts(v) for k, v in self.by_source_pair.items()},
            "records": self.records,
            "unresolved_records": self.unresolved_records,
            "false_merges": self.false_merges,
            "missed_links": self.missed_links,
            "cluster_sizes": {str(k): v for k, v in self.cluster_sizes.items()},
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def table(self) -> str:
        """A plain-text table for the terminal."""

        def fmt(x):
            return "-" if x is None else f"{x:.4f}"

        rows = [("overall", self.overall), *sorted(self.by_source_pair.items())]
        lines = [
            f"{'slice':<18} {'precision':>9} {'recall':>9} {'f1':>9} {'true pairs':>11} {'predicted':>10}"
        ]
        for name, c in rows:
            lines.append(
                f"{name:<18} {fmt(c.precision):>9} {fmt(c.recall):>9} {fmt(c.f1):>9}"
                f" {c.true_pairs:>11} {c.predicted_pairs:>10}"
            )
        lines.append(
            f"records {self.records}, unresolved {self.unresolved_records}, "
            f"false merges {self.false_merges}, missed links {self.missed_links}"
        )
        sizes = ", ".join(f"{k}: {v}" for k, v in sorted(self.cluster_sizes.items())[:12])
        lines.append(f"profiles by records per profile: {sizes}")
        return "\n".join(lines)


def record_profiles(observations: DataFrame, identity_map: DataFrame) -> DataFrame:
    """(record_id, source, profile_id) for every record that resolves to a profile."""
    ids = identity_map.select("namespace", F.col("identifier").alias("value"), "profile_id")
    resolved = observations.join(ids, ["namespace", "value"]).select(
        "record_id", "source", "profile_id"
    )
    # A record's identifiers all sit in one component by construction; take one profile.
    return resolved.groupBy("record_id", "source").agg(F.min("profile_id").alias("profile_id"))


def evaluate(truth: DataFrame, resolved: DataFrame) -> IdentityEvaluation:
    """Compare ``resolved`` (record_id, source, profile_id) with ``truth`` (record_id, person_id)."""
    joined = truth.join(resolved.select("record_id", "profile_id"), "record_id", "left").withColumn(
        "source", F.split("record_id", ":").getItem(0)
    )
    # Unresolved records each stand alone.
    joined = joined.withColumn(
        "profile_id", F.coalesce("profile_id", F.concat(F.lit("none:"), "record_id"))
    )
    cells = joined.groupBy("profile_id", "person_id", "source").count().cache()

    def slice_counts(group_cols: list[str], df: DataFrame) -> dict:
        return {
            tuple(r[:-1]): r[-1]
            for r in df.groupBy(*group_cols).agg(F.sum("count").alias("n")).collect()
        }

    def counts_for(a: str | None, b: str | None) -> PairCounts:
        def pairs_over(keys: list[str]) -> int:
            if a is None:
                sizes = slice_counts(keys, cells)
                return int(sum(_pairs(n) for n in sizes.values()))
            per = slice_counts([*keys, "source"], cells.where(F.col("source").isin(a, b)))
            groups: dict = {}
            for key, n in per.items():
                groups.setdefault(key[:-1], {})[key[-1]] = n
            if a == b:
                return int(sum(_pairs(g.get(a, 0)) for g in groups.values()))
            return int(sum(g.get(a, 0) * g.get(b, 0) for g in groups.values()))

        return PairCounts(
            true_pairs=pairs_over(["person_id"]),
            predicted_pairs=pairs_over(["profile_id"]),
            correct_pairs=pairs_over(["profile_id", "person_id"]),
        )

    sources = sorted(r[0] for r in cells.select("source").distinct().collect())
    by_pair = {f"{a}-{b}": counts_for(a, b) for i, a in enumerate(sources) for b in sources[i:]}
    persons_per_profile = cells.groupBy("profile_id").agg(F.count_distinct("person_id").alias("k"))
    profiles_per_person = cells.groupBy("person_id").agg(F.count_distinct("profile_id").alias("k"))
    sizes = (
        cells.where(~F.col("profile_id").startswith("none:"))
        .groupBy("profile_id")
        .agg(F.sum("count").alias("n"))
    )
    distribution = {
        int(r["n"]): int(r["profiles"])
        for r in sizes.groupBy("n").agg(F.count(F.lit(1)).alias("profiles")).collect()
    }
    result = IdentityEvaluation(
        overall=counts_for(None, None),
        by_source_pair=by_pair,
        records=int(joined.count()),
        unresolved_records=int(joined.where(F.col("profile_id").startswith("none:")).count()),
        false_merges=persons_per_profile.where("k > 1").count(),
        missed_links=profiles_per_person.where("k > 1").count(),
        cluster_sizes=distribution,
    )
    cells.unpersist()
    return result
