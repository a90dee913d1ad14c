"""Identity-resolution accuracy against the generator's ground truth (``_truth/records.csv``).

Pairwise measures over source records (Christen, "Data Matching", 2012, ch. 7): two records
are a predicted pair when they resolve to one profile and a true pair when one person is
behind both. Counted from group sizes, never by enumerating pairs, so it scales:
pairs(group of n) = n(n-1)/2. A record that resolves to no profile (no usable identifier)
takes part in no predicted pair, so every true pair it belongs to counts as missed.

Raw figures judge the resolver and the data together. Two more measure what the data allows
any identifier-based resolver, so a figure can be read against its ceiling:

- **linkable pairs**: two records of one person that a chain of evidence connects, each step
  an identifier both records carry, or both being person records (CRM, loyalty) that name,
  birth date and address could match. A web session that never logged in shares nothing with
  its person's other records; no resolver can link it, and the raw recall counts it missed.
  Recall over linkable pairs is the resolver's own recall; linkable / true pairs is the
  ceiling of the raw recall.
- **borrowed identifiers**: a record carrying an identifier that, in truth, belongs to
  somebody else (a household member's loyalty card swiped at the till): the identifier's
  owner is the one person whose CRM or loyalty records carry it, else the person behind most
  of its records. The record looks exactly like the owner's own; precision over the other
  records is the resolver's own.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from jobs.identity.components import connected_components


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
    # Only with evidence (see module docstring): pairs over linkable pairs, and over records
    # that carry no borrowed identifier.
    linkable: PairCounts | None = None
    unborrowed: PairCounts | None = None
    borrowed_records: int | None = None

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
            "linkable": counts(self.linkable) if self.linkable else None,
            "recall_ceiling": self.recall_ceiling,
            "unborrowed": counts(self.unborrowed) if self.unborrowed else None,
            "borrowed_records": self.borrowed_records,
        }

    @property
    def recall_ceiling(self) -> float | None:
        """The best raw recall any identifier-based resolver could reach on this data."""
        if not self.linkable or not self.overall.true_pairs:
            return None
        return self.linkable.true_pairs / self.overall.true_pairs

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def table(self) -> str:
        """A plain-text table for the terminal."""

        def fmt(x):
            return "-" if x is None else f"{x:.4f}"

        rows = [("overall", self.overall), *sorted(self.by_source_pair.items())]
        lines = [
            f"{'slice':<22} {'precision':>9} {'recall':>9} {'f1':>9} {'true pairs':>11} {'predicted':>10}"
        ]
        for name, c in rows:
            lines.append(
                f"{name:<22} {fmt(c.precision):>9} {fmt(c.recall):>9} {fmt(c.f1):>9}"
                f" {c.true_pairs:>11} {c.predicted_pairs:>10}"
            )
        if self.linkable and self.unborrowed:
            lines.append(
                f"{'what the data allows':<22} {fmt(self.unborrowed.precision):>9}"
                f" {fmt(self.linkable.recall):>9} {'':>9} {self.linkable.true_pairs:>11}"
                f" {self.unborrowed.predicted_pairs:>10}"
            )
            lines.append(
                f"  precision over records without a borrowed identifier"
                f" ({self.borrowed_records} have one); recall over linkable pairs"
                f" (raw recall ceiling {fmt(self.recall_ceiling)})"
            )
        lines.append(
            f"records {self.records}, unresolved {self.unresolved_records}, "
            f"false merges {self.false_merges}, missed links {self.missed_links}"
        )
        sizes = ", ".join(f"{k}: {v}" for k, v in sorted(self.cluster_sizes.items())[:12])
        lines.append(f"profiles by records per profile: {sizes}")
        return "\n".join(lines)


PERSON_RECORD_SOURCES = ("crm", "loyalty")


def read_truth(spark: SparkSession, truth_file: str) -> DataFrame:
    """(record_id, person_id) of every record in a ``_truth/records.csv``."""
    return (
        spark.read.option("header", True)
        .csv(truth_file)
        .select(F.concat_ws(":", "source", "record_key").alias("record_id"), "person_id")
    )


def record_evidence(spark: SparkSession, truth: DataFrame, observations: DataFrame) -> DataFrame:
    """(record_id, evidence_group, borrowed) for every truth record (see module docstring).

    ``evidence_group``: records of one person in one group are linkable. ``borrowed``: the
    record carries an identifier whose owner (the person behind most records carrying it) is
    somebody else.
    """
    rid = F.xxhash64("record_id")
    carried = (
        observations.select("record_id", "namespace", "value")
        .distinct()
        .join(truth.select("record_id", "person_id"), "record_id")
    )
    # Evidence edges, as stars: each record to the smallest record of its group.
    same_identifier = Window.partitionBy("namespace", "value", "person_id")
    by_identifier = carried.select(rid.alias("src"), F.min(rid).over(same_identifier).alias("dst"))
    person_records = truth.where(F.split("record_id", ":")[0].isin(*PERSON_RECORD_SOURCES))
    by_person = person_records.select(
        rid.alias("src"), F.min(rid).over(Window.partitionBy("person_id")).alias("dst")
    )
    links = by_identifier.unionByName(by_person).where(F.col("src") != F.col("dst")).distinct()
    records = truth.select("record_id", rid.alias("id"))
    if records.select("id").distinct().count() != records.count():
        raise ValueError("record id hash collision in the evaluation; cannot group evidence")
    groups = connected_components(spark, records.select("id"), links)

    is_person_record = F.split("record_id", ":")[0].isin(*PERSON_RECORD_SOURCES)
    per_person = carried.groupBy("namespace", "value", "person_id").agg(
        F.count_distinct("record_id").alias("n"),
        F.max(is_person_record).alias("registered"),
    )
    # The owner of an identifier is the one person whose CRM or loyalty records carry it (the
    # loyalty card's member); an identifier no person record carries belongs to the person
    # behind a strict majority of its records. Several registered persons (a family email)
    # or no majority (test@test.com) mean no owner, and nobody's record is borrowed.
    everyone = Window.partitionBy("namespace", "value")
    registered = F.sum(F.col("registered").cast("int")).over(everyone)
    owners = (
        per_person.withColumn("_registered", registered)
        .withColumn("_all", F.sum("n").over(everyone))
        .where(
            F.when(
                F.col("_registered") > 0, F.col("registered") & (F.col("_registered") == 1)
            ).otherwise(F.col("n") * 2 > F.col("_all"))
        )
        .select("namespace", "value", F.col("person_id").alias("owner"))
    )
    lent = carried.join(owners, ["namespace", "value"]).where(F.col("owner") != F.col("person_id"))
    borrowed = lent.select("record_id", F.lit(True).alias("borrowed")).distinct()
    return (
        records.join(groups, "id")
        .join(borrowed, "record_id", "left")
        .select(
            "record_id",
            F.col("component").alias("evidence_group"),
            F.coalesce("borrowed", F.lit(False)).alias("borrowed"),
        )
    )


def evaluate(
    truth: DataFrame, resolved: DataFrame, evidence: DataFrame | None = None
) -> IdentityEvaluation:
    """Compare ``resolved`` (record_id, source, profile_id) with ``truth`` (record_id, person_id).

    With ``evidence`` (from ``record_evidence``) the linkable and unborrowed figures are filled.
    """
    joined = truth.join(resolved.select("record_id", "profile_id"), "record_id", "left").withColumn(
        "source", F.split("record_id", ":").getItem(0)
    )
    # Unresolved records each stand alone.
    joined = joined.withColumn(
        "profile_id", F.coalesce("profile_id", F.concat(F.lit("none:"), "record_id"))
    )
    if evidence is not None:
        joined = joined.join(evidence, "record_id", "left")
    else:
        joined = joined.select(
            "*", F.lit(0).cast("long").alias("evidence_group"), F.lit(False).alias("borrowed")
        )
    cells = joined.groupBy("profile_id", "person_id", "source", "evidence_group", "borrowed")
    cells = cells.count().cache()

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

    def pairs_where(keys: list[str], df: DataFrame) -> int:
        return int(sum(_pairs(n) for n in slice_counts(keys, df).values()))

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
    if evidence is not None:
        linked = ["person_id", "evidence_group"]
        result.linkable = PairCounts(
            true_pairs=pairs_where(linked, cells),
            predicted_pairs=result.overall.predicted_pairs,
            correct_pairs=pairs_where(["profile_id", *linked], cells),
        )
        own = cells.where(~F.col("borrowed"))
        result.unborrowed = PairCounts(
            true_pairs=pairs_where(["person_id"], own),
            predicted_pairs=pairs_where(["profile_id"], own),
            correct_pairs=pairs_where(["profile_id", "person_id"], own),
        )
        result.borrowed_records = int(joined.where(F.col("borrowed")).count())
    cells.unpersist()
    return result


def evaluate_warehouse(spark: SparkSession, warehouse: str, truth_file: str) -> IdentityEvaluation:
    """Score a built warehouse's identity resolution against a ``_truth/records.csv``
    (the I/O wrapper `cdp evaluate identity`, `make bench` and the accuracy test share)."""
    from cdp.core import catalog
    from jobs.identity.attribution import record_profiles
    from jobs.identity.graph import observations

    truth = read_truth(spark, truth_file)
    obs = observations(
        *(
            catalog.read(spark, t, warehouse)
            for t in ("silver.person_records", "silver.experience_events", "silver.commerce_lines")
        )
    )
    resolved = record_profiles(obs, catalog.read(spark, "gold.identity_map", warehouse))
    return evaluate(truth, resolved, record_evidence(spark, truth, obs))
