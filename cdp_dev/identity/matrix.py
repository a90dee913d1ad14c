"""The identity evaluation matrix: the project's person matching beside a plain splink model,
on several generated data sets, against one bar (issue 15).

For each data set (``DATA_SETS``) the generator writes a landing zone whose whole history is
one initial extract, the nightly build runs bronze -> silver -> identity for that one batch
date, and two resolutions of the CRM and loyalty person records are scored against the
generator's truth: the project's (each record's profile in the staged
``gold.record_profiles``) and the plain splink baseline's (cdp_dev/identity/baseline.py).

**Pair metrics** (``pair_metrics``) are pairwise precision, recall and F1 over person records
(Christen, "Data Matching", 2012, ch. 7), counted from group sizes. Beside the raw figures,
the same with **twin-like pairs** left out of both the true and the predicted pairs: two
records that both give a first name (silver ``first_name_key``), the two unrelated
(Jaro-Winkler below ``TWIN_LIKE_SIMILARITY``) and not given name and surname swapped. Two
records of one person whose first name was replaced by an unrelated one look exactly like
twins sharing surname, birth date and address, so no model can be asked to link them.
Counting them needs the actual pairs, enumerated only inside true persons and predicted
clusters (small), and there per distinct name. Left out of the predicted pairs too, a false
twin-like merge (two siblings, a parent and child) is excused as well; hence the bar's
precision is the raw one, and the report also gives the figures with only the true twin-like
pairs left out (``PairMetrics.without_true_twin_like``), for reference.

**Blocking recall** (``blocking_recall``) is the share of true pairs that at least one of a
model's prediction blocking rules generates: the rules' own SQL (splink's DuckDB rendering)
evaluated on every true pair, so a pair no rule generates is one the model never scores.

**The bar** (``bar_failures``), one set of project defaults for every data set:
person-record pairs precision (raw: a merged twin is a false merge whatever the names say)
at least ``MIN_PRECISION``; recall without twin-like pairs at least ``MIN_RECALL``; F1
without twin-like pairs at least the baseline's, except on the households set, where the
project's precision must instead be at least the baseline's.

``run_matrix`` is the runner behind `cdp evaluate identity --matrix` and `make eval-identity`.
"""

from __future__ import annotations

import csv
import json
import logging
import shutil
import time
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cdp_dev.identity.evaluate import PERSON_RECORD_SOURCES, PairCounts

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import SparkSession

    from cdp.core.settings import Settings

log = logging.getLogger(__name__)

# The bar of issue 15, the same for every data set.
MIN_PRECISION = 0.995  # person-record pairs, raw
MIN_RECALL = 0.99  # person-record pairs, without twin-like pairs
# F1 (without twin-like pairs) must be at least the baseline's; on a set with
# ``precision_over_baseline`` the precision must be at least the baseline's instead.
# First names this dissimilar (Jaro-Winkler below) make a pair twin-like.
TWIN_LIKE_SIMILARITY = 0.75
# Rounding slack when comparing with the baseline: equal figures pass.
TOLERANCE = 1e-12

# Other locales than the default Nordic-led mix, none of them Nordic.
OTHER_LOCALES = (("fr_FR", 0.3), ("es_ES", 0.25), ("de_DE", 0.2), ("en_US", 0.15), ("nl_NL", 0.1))


@dataclass(frozen=True)
class DataSet:
    """One data set of the matrix: the generator options that make it."""

    name: str
    description: str
    # Keyword arguments of ``cdp_dev.synthetic.settings.generator_settings``.
    generator: tuple[tuple[str, Any], ...] = ()
    # Households: precision at least the baseline's replaces F1 at least the baseline's.
    precision_over_baseline: bool = False

    def generator_options(self) -> dict[str, Any]:
        return dict(self.generator)


DATA_SETS: tuple[DataSet, ...] = (
    DataSet("default", "the generator's defaults"),
    DataSet(
        "heavy",
        "registry-like corruption and 1-9 duplicates per person",
        (("noise_profile", "heavy"),),
    ),
    DataSet(
        "names_dob_address",
        "heavy, and person records without email, phone or loyalty card",
        (("noise_profile", "heavy"), ("person_identifiers", "none")),
    ),
    DataSet(
        "locales",
        "heavy, with a French, Spanish, German, US and Dutch population",
        (("noise_profile", "heavy"), ("locale_weights", OTHER_LOCALES)),
    ),
    DataSet(
        "households",
        "families, twins, namesakes and look-alike siblings; default noise",
        (("households", "heavy"),),
        precision_over_baseline=True,
    ),
)
SET_NAMES = tuple(s.name for s in DATA_SETS)


def data_sets(names: Iterable[str] | None = None) -> list[DataSet]:
    """The data sets called ``names`` (all when None), in matrix order; ValueError for an
    unknown name."""
    if names is None:
        return list(DATA_SETS)
    wanted = list(dict.fromkeys(n.strip() for n in names if n.strip()))
    unknown = [n for n in wanted if n not in SET_NAMES]
    if unknown or not wanted:
        raise ValueError(f"unknown data set {', '.join(unknown)!r} (known: {', '.join(SET_NAMES)})")
    return [s for s in DATA_SETS if s.name in wanted]


def generator_settings_for(data_set: DataSet) -> tuple[Any, str | None]:
    """The generator settings of ``data_set``, and a note when the generator cannot make it
    yet (no ``generator_settings``: the default generator, locales applied, is used)."""
    options = data_set.generator_options()
    try:
        from cdp_dev.synthetic.settings import generator_settings
    except ImportError:
        import dataclasses

        from cdp_dev.synthetic.settings import GeneratorSettings

        settings = GeneratorSettings()
        if "locale_weights" in options:
            settings = dataclasses.replace(settings, locale_weights=options["locale_weights"])
        ignored = sorted(k for k in options if k != "locale_weights")
        note = (
            f"generator options {', '.join(ignored)} not available: default generator used"
            if ignored
            else None
        )
        return settings, note
    return generator_settings(**options), None


# --------------------------------------------------------------------------- pair metrics


def jaro_winkler(a: str, b: str) -> float:
    """Jaro-Winkler similarity (Winkler 1990): Jaro's similarity raised for a common prefix
    of up to 4 characters, scale 0.1, only above a Jaro similarity of 0.7 (as Apache Commons
    Text, which splink's Spark functions use, and DuckDB's ``jaro_winkler_similarity``)."""
    if a == b:
        return 1.0
    la, lb = len(a), len(b)
    if not la or not lb:
        return 0.0
    window = max(max(la, lb) // 2 - 1, 0)
    used_a, used_b = [False] * la, [False] * lb
    matches = 0
    for i, ch in enumerate(a):
        for j in range(max(0, i - window), min(i + window + 1, lb)):
            if not used_b[j] and b[j] == ch:
                used_a[i] = used_b[j] = True
                matches += 1
                break
    if not matches:
        return 0.0
    out_of_order, k = 0, 0
    for i in range(la):
        if used_a[i]:
            while not used_b[k]:
                k += 1
            out_of_order += a[i] != b[k]
            k += 1
    # Half the out-of-order matches, rounded down, as both those implementations count them.
    jaro = (matches / la + matches / lb + (matches - out_of_order // 2) / matches) / 3
    if jaro <= 0.7:
        return jaro
    prefix = 0
    for x, y in zip(a[:4], b[:4], strict=False):
        if x != y:
            break
        prefix += 1
    return jaro + prefix * 0.1 * (1 - jaro)


@lru_cache(maxsize=200_000)
def _similar(a: str, b: str) -> bool:
    return jaro_winkler(a, b) >= TWIN_LIKE_SIMILARITY


Name = tuple[str | None, str | None]  # (first_name_key, last_name_key)


def is_twin_like(left: Name, right: Name) -> bool:
    """Both records give a first name, the two are unrelated (Jaro-Winkler below
    ``TWIN_LIKE_SIMILARITY``) and not given name and surname swapped."""
    (first_l, last_l), (first_r, last_r) = left, right
    if not first_l or not first_r:
        return False
    if first_l == last_r and last_l == first_r:
        return False
    a, b = sorted((first_l, first_r))
    return not _similar(a, b)


def twin_like_pairs(records: Iterable[str], names: Mapping[str, Name]) -> int:
    """How many pairs of ``records`` (one group: a true person or a predicted cluster) are
    twin-like; counted per distinct (first, last) name, so a big group costs its distinct
    names squared, not its records squared."""
    counts = Counter(names.get(r, (None, None)) for r in records)
    named = [(name, n) for name, n in counts.items() if name[0]]
    total = 0
    for i, (name_i, n_i) in enumerate(named):
        for name_j, n_j in named[i + 1 :]:
            if is_twin_like(name_i, name_j):
                total += n_i * n_j
    return total


@dataclass
class PairMetrics:
    """Pair counts over person records: all pairs, and the twin-like ones among them."""

    raw: PairCounts
    twin_like: PairCounts  # twin-like true, predicted and correct pairs

    @property
    def without_twin_like(self) -> PairCounts:
        """The pairs with twin-like pairs left out of true and predicted pairs alike."""
        return PairCounts(
            true_pairs=self.raw.true_pairs - self.twin_like.true_pairs,
            predicted_pairs=self.raw.predicted_pairs - self.twin_like.predicted_pairs,
            correct_pairs=self.raw.correct_pairs - self.twin_like.correct_pairs,
        )

    @property
    def without_true_twin_like(self) -> PairCounts:
        """For reference, not the bar: only the true twin-like pairs left out (of the true
        pairs, and of the predicted when predicted), so a false twin-like merge (two
        siblings, a parent and child) still counts against precision."""
        return PairCounts(
            true_pairs=self.raw.true_pairs - self.twin_like.true_pairs,
            predicted_pairs=self.raw.predicted_pairs - self.twin_like.correct_pairs,
            correct_pairs=self.raw.correct_pairs - self.twin_like.correct_pairs,
        )

    def to_dict(self) -> dict:
        def counts(c: PairCounts) -> dict:
            return {**asdict(c), "precision": c.precision, "recall": c.recall, "f1": c.f1}

        return {
            "raw": counts(self.raw),
            "without_twin_like": counts(self.without_twin_like),
            "twin_like": asdict(self.twin_like),
            "without_true_twin_like": counts(self.without_true_twin_like),
        }


def _groups(records: Iterable[str], key) -> list[list[str]]:
    groups: dict[Hashable, list[str]] = defaultdict(list)
    for r in records:
        groups[key(r)].append(r)
    return list(groups.values())


def pair_metrics(
    truth: Mapping[str, str], clusters: Mapping[str, str], names: Mapping[str, Name]
) -> PairMetrics:
    """Score ``clusters`` (record -> cluster) against ``truth`` (record -> person) over the
    records of ``truth``; a record without a cluster stands alone. ``names``: record ->
    (first_name_key, last_name_key), for the twin-like pairs (a record without is unnamed)."""
    cluster = {r: clusters.get(r, ("alone", r)) for r in truth}
    by_person = _groups(truth, truth.__getitem__)
    by_cluster = _groups(truth, cluster.__getitem__)
    by_both = _groups(truth, lambda r: (cluster[r], truth[r]))

    def pairs(groups: list[list[str]]) -> int:
        return sum(len(g) * (len(g) - 1) // 2 for g in groups)

    def twins(groups: list[list[str]]) -> int:
        return sum(twin_like_pairs(g, names) for g in groups if len(g) > 1)

    return PairMetrics(
        raw=PairCounts(pairs(by_person), pairs(by_cluster), pairs(by_both)),
        twin_like=PairCounts(twins(by_person), twins(by_cluster), twins(by_both)),
    )


@dataclass
class MissedPairs:
    """Why true pairs (twin-like ones left out) ended in two clusters, one reason a pair, in
    this order: ``beside_twin_like``, one record's given name is twin-like to a record of
    the other's cluster (a copy with a replaced given name, or one typed past recognition:
    joining the two would join a twin-like pair, which the model refuses, so the pair is
    lost with it); ``untold``, one record gives neither a given name (beyond an initial)
    nor a birth date (a surname at an address, which a household member fits as well);
    ``other``, the rest: what the model could still win."""

    beside_twin_like: int = 0
    untold: int = 0
    other: int = 0

    @property
    def total(self) -> int:
        return self.beside_twin_like + self.untold + self.other


def missed_pairs(
    truth: Mapping[str, str],
    clusters: Mapping[str, str],
    names: Mapping[str, Name],
    untold: set[str],
) -> MissedPairs:
    """The true pairs of ``truth`` split by ``clusters``, not twin-like, by reason
    (``MissedPairs``). ``untold``: records with neither a given name nor a birth date."""
    missed = MissedPairs()
    for records in _groups(truth, truth.__getitem__):
        parts = _groups(records, lambda r: clusters.get(r, ("alone", r)))
        if len(parts) < 2:
            continue
        for i, part in enumerate(parts):
            for other in parts[i + 1 :]:
                for a in part:
                    for b in other:
                        if is_twin_like(names.get(a, (None, None)), names.get(b, (None, None))):
                            continue
                        if any(
                            is_twin_like(names.get(x, (None, None)), names.get(y, (None, None)))
                            for x, group in ((a, other), (b, part))
                            for y in group
                        ):
                            missed.beside_twin_like += 1
                        elif a in untold or b in untold:
                            missed.untold += 1
                        else:
                            missed.other += 1
    return missed


# --------------------------------------------------------------------------- blocking recall


@dataclass
class BlockingRecall:
    """How many true pairs a model's prediction blocking rules generate."""

    true_pairs: int
    generated: int  # true pairs at least one rule generates
    by_rule: dict[str, int] = field(default_factory=dict)  # true pairs each rule generates
    comparisons: int | None = None  # all pairs the rules generate (splink's blocking analysis)

    @property
    def recall(self) -> float | None:
        return self.generated / self.true_pairs if self.true_pairs else None

    def to_dict(self) -> dict:
        return {**asdict(self), "recall": self.recall}


def true_pairs(truth: Mapping[str, str], records: Iterable[str]) -> list[tuple[str, str]]:
    """Every pair (lower id first, as splink orders a dedupe pair) of ``records`` that one
    person is behind."""
    present = [r for r in records if r in truth]
    out = []
    for group in _groups(present, truth.__getitem__):
        group = sorted(group)
        out.extend((a, b) for i, a in enumerate(group) for b in group[i + 1 :])
    return out


def _rule_sql(rule: Any) -> tuple[str, list[str]]:
    """(DuckDB SQL, arrays to explode) of a splink blocking rule (a creator, a dict or SQL)."""
    from splink.internals.blocking_rule_creator_utils import to_blocking_rule_creator

    spec = to_blocking_rule_creator(rule).create_blocking_rule_dict("duckdb")
    return spec["blocking_rule"], list(spec.get("arrays_to_explode") or [])


def blocking_recall(
    records: pd.DataFrame,
    truth: Mapping[str, str],
    rules: Sequence[Any],
    id_column: str = "unique_id",
) -> BlockingRecall:
    """The share of true pairs among ``records`` (one row per record, the columns the rules
    name) that at least one of ``rules`` (splink blocking rules) generates, evaluated in
    DuckDB with ``l``/``r`` as splink aliases the two records. A rule exploding arrays
    generates a pair when it holds for some element of each side's arrays. ``comparisons``:
    every pair the rules generate, true or not (splink's ``count_comparisons_from_blocking_
    rules``, exact), what the recall costs."""
    import duckdb
    import pandas as pd
    from splink import DuckDBAPI
    from splink.blocking_analysis import count_comparisons_from_blocking_rules

    pairs = true_pairs(truth, (str(r) for r in records[id_column]))
    result = BlockingRecall(true_pairs=len(pairs), generated=0)
    if not pairs:
        return result
    table = records.copy()
    table[id_column] = table[id_column].astype(str)
    for column in table.columns:  # an all-None column would be typed NULL, not text
        if table[column].dtype == object and table[column].isna().all():
            table[column] = table[column].astype("string")
    con = duckdb.connect()
    try:
        con.register("records", table)
        con.register("pairs", pd.DataFrame(pairs, columns=["id_l", "id_r"]))
        generated: set[tuple[str, str]] = set()
        for rule in rules:
            sql, arrays = _rule_sql(rule)
            side = "records"
            for column in arrays:
                side = f'(select * replace (unnest("{column}") as "{column}") from {side})'
            found = con.execute(
                f"""
                select distinct p.id_l, p.id_r
                from pairs p
                join {side} l on l."{id_column}" = p.id_l
                join {side} r on r."{id_column}" = p.id_r
                where coalesce(({sql}), false)
                """
            ).fetchall()
            result.by_rule[sql] = len(found)
            generated.update(found)
        counted = count_comparisons_from_blocking_rules(
            DuckDBAPI(connection=con).register(table),
            blocking_rules=list(rules),
            link_type="dedupe_only",
            unique_id_column_name=id_column,
            record_sample_proportion=1.0,
        )
        result.comparisons = int(counted[-1]["cumulative_comparison_count"]) if counted else 0
    finally:
        con.close()
    result.generated = len(generated)
    return result


# --------------------------------------------------------------------------- the bar


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


def bar_failures(project: PairMetrics, baseline: PairMetrics, data_set: DataSet) -> list[str]:
    """What keeps the project below the bar on ``data_set`` (empty: it passes)."""
    failures = []
    # No predicted pair is no false pair; no F1 is none at all.
    precision = _or(project.raw.precision, 1.0)
    recall = _or(project.without_twin_like.recall, 1.0)
    if precision < MIN_PRECISION:
        failures.append(f"precision {precision:.4f} < {MIN_PRECISION}")
    if recall < MIN_RECALL:
        failures.append(f"recall {recall:.4f} < {MIN_RECALL}")
    if data_set.precision_over_baseline:
        theirs = _or(baseline.raw.precision, 1.0)
        if precision + TOLERANCE < theirs:
            failures.append(f"precision {precision:.4f} < baseline {theirs:.4f}")
    else:
        ours = _or(project.without_twin_like.f1, 0.0)
        theirs = _or(baseline.without_twin_like.f1, 0.0)
        if ours + TOLERANCE < theirs:
            failures.append(f"F1 {ours:.4f} < baseline {theirs:.4f}")
    return failures


# --------------------------------------------------------------------------- results


@dataclass
class SetResult:
    """One data set's row of the matrix."""

    name: str
    description: str
    records: int  # CRM and loyalty records in the truth
    persons: int  # persons behind them
    project: PairMetrics
    baseline: PairMetrics
    blocking: dict[str, BlockingRecall]  # "project" / "baseline"
    failures: list[str]
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    generator: dict[str, Any] = field(default_factory=dict)  # the data set's generator options
    missed: MissedPairs | None = None  # the project's missed pairs, by reason

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def f1_ratio(self) -> float | None:
        """Project F1 over baseline F1, both without twin-like pairs (no F1 counts as 0)."""
        ours, theirs = self.project.without_twin_like.f1, self.baseline.without_twin_like.f1
        return (ours or 0.0) / theirs if theirs else None

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "generator": self.generator,
            "records": self.records,
            "persons": self.persons,
            "project": self.project.to_dict(),
            "baseline": self.baseline.to_dict(),
            "f1_ratio": self.f1_ratio,
            "blocking_recall": {k: v.to_dict() for k, v in self.blocking.items()},
            "missed_pairs": asdict(self.missed) if self.missed else None,
            "passed": self.passed,
            "failures": self.failures,
            "notes": self.notes,
            "seconds": self.seconds,
        }


@dataclass
class MatrixResult:
    """The whole matrix: one row per data set, and how it was made."""

    sets: list[SetResult]
    persons: int
    days: int
    seed: int
    seconds: float = 0.0
    identity_settings: dict[str, Any] = field(default_factory=dict)  # the project's, all sets

    @property
    def passed(self) -> bool:
        return all(s.passed for s in self.sets)

    def to_dict(self) -> dict:
        from cdp_dev.identity.baseline import BaselineSettings

        return {
            "persons": self.persons,
            "days": self.days,
            "seed": self.seed,
            "bar": {
                "min_precision": MIN_PRECISION,
                "min_recall_without_twin_like": MIN_RECALL,
                "f1_at_least_baseline": True,
                "twin_like_similarity": TWIN_LIKE_SIMILARITY,
            },
            "identity_settings": self.identity_settings,
            "baseline_settings": BaselineSettings().to_dict(),
            "passed": self.passed,
            "seconds": self.seconds,
            "sets": [s.to_dict() for s in self.sets],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str)

    def table(self) -> str:
        """The matrix as a plain-text table for the terminal."""

        def fmt(x: float | None) -> str:
            return "-" if x is None else f"{x:.4f}"

        head = (
            f"{'set':<18} {'proj P':>7} {'proj R':>7} {'raw R':>7} {'proj F1':>7}"
            f" {'base P':>7} {'base R':>7} {'base F1':>7} {'F1 ratio':>8}"
            f" {'block proj':>10} {'block base':>10}  bar"
        )
        lines = [head, "-" * len(head)]
        for s in self.sets:
            p, b = s.project, s.baseline
            lines.append(
                f"{s.name:<18} {fmt(p.raw.precision):>7} {fmt(p.without_twin_like.recall):>7}"
                f" {fmt(p.raw.recall):>7} {fmt(p.without_twin_like.f1):>7}"
                f" {fmt(b.raw.precision):>7} {fmt(b.without_twin_like.recall):>7}"
                f" {fmt(b.without_twin_like.f1):>7} {fmt(s.f1_ratio):>8}"
                f" {fmt(s.blocking['project'].recall):>10} {fmt(s.blocking['baseline'].recall):>10}"
                f"  {'pass' if s.passed else 'FAIL'}"
            )
        lines.append("")
        lines.append(
            "P: raw pairwise precision over CRM and loyalty records; R, F1: without twin-like"
            f" pairs; raw R: all true pairs. Bar: P >= {MIN_PRECISION}, R >= {MIN_RECALL},"
            " F1 >= baseline F1 (households: P >= baseline P)."
        )
        for s in self.sets:
            p = s.project
            detail = (
                f"{s.name}: {s.records} records of {s.persons} persons, {p.raw.true_pairs} true"
                f" pairs ({p.twin_like.true_pairs} twin-like); project {p.raw.predicted_pairs}"
                f" predicted, {p.raw.predicted_pairs - p.raw.correct_pairs} false;"
                f" baseline {s.baseline.raw.predicted_pairs} predicted,"
                f" {s.baseline.raw.predicted_pairs - s.baseline.raw.correct_pairs} false"
            )
            lines.append(detail)
            blocked = {k: v.comparisons for k, v in s.blocking.items()}
            if all(v is not None for v in blocked.values()):
                lines.append(
                    f"  pairs the blocking rules generate: project {blocked['project']},"
                    f" baseline {blocked['baseline']}"
                )
            if s.missed and s.missed.total:
                m = s.missed
                lines.append(
                    f"  project's missed pairs (twin-like left out): {m.total}; beside a"
                    f" twin-like copy {m.beside_twin_like}, a record with neither given name"
                    f" nor birth date {m.untold}, other {m.other}"
                )
            for failure in s.failures:
                lines.append(f"  below the bar: {failure}")
            for note in s.notes:
                lines.append(f"  note: {note}")
            if s.seconds:
                lines.append(
                    "  seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in s.seconds.items())
                )
        lines.append(
            f"{len(self.sets)} data sets, {self.persons} persons, {self.days} days, seed"
            f" {self.seed}: {'all at or above the bar' if self.passed else 'BELOW THE BAR'}"
            f" ({self.seconds:.0f}s)"
        )
        return "\n".join(lines)


# --------------------------------------------------------------------------- runner


def read_person_truth(truth_file: str | Path) -> dict[str, str]:
    """record_id -> person_id of the CRM and loyalty records in a ``_truth/records.csv``."""
    with open(truth_file, encoding="utf-8", newline="") as fh:
        return {
            f"{row['source']}:{row['record_key']}": row["person_id"]
            for row in csv.DictReader(fh)
            if row["source"] in PERSON_RECORD_SOURCES
        }


def generate_set(
    data_set: DataSet, landing: Path, persons: int, days: int, seed: int
) -> tuple[str, list[str], float]:
    """Generate ``data_set``'s landing zone with its whole history as one initial extract
    (reused when an earlier run made it with the same arguments). Returns the batch date
    holding everything, notes, and the seconds it took (0 when reused)."""
    from cdp_dev.synthetic import DEFAULT_END_DATE, generate

    settings, note = generator_settings_for(data_set)
    notes = [note] if note else []
    wanted = json.loads(
        json.dumps(
            {"persons": persons, "days": days, "seed": seed, "settings": settings.to_dict()},
            default=str,
        )
    )
    stamp = landing / "_truth" / "matrix.json"
    batch_date = DEFAULT_END_DATE.isoformat()
    if stamp.is_file() and json.loads(stamp.read_text(encoding="utf-8")) == wanted:
        return batch_date, notes, 0.0
    started = time.monotonic()
    summary = generate(
        landing,
        persons,
        days,
        seed,
        DEFAULT_END_DATE,
        settings=settings,
        overwrite=True,
        initial_load_days=days,
    )
    stamp.write_text(json.dumps(wanted, indent=1), encoding="utf-8")
    return summary.get("initial_load", batch_date), notes, round(time.monotonic() - started, 1)


def build_identity(spark: SparkSession, settings: Settings, batch_date: str) -> None:
    """The build's steps up to identity for one batch date (land, bronze, silver, identity);
    identity's tables stay staged, as no quality gate publishes them."""
    from cdp.app.steps import run_steps, steps_until

    run_steps(spark, settings, batch_date, steps_until("identity"))


def project_clusters(spark: SparkSession, warehouse: str) -> dict[str, str]:
    """record_id -> profile_id of every CRM and loyalty record the identity job resolved
    (tonight's staged ``gold.record_profiles``, else the published one)."""
    from pyspark.sql import functions as F

    from cdp.core import catalog

    name = "gold.record_profiles"
    table = (
        catalog.read_staged(spark, name, warehouse)
        if catalog.exists_staged(spark, name, warehouse)
        else catalog.read(spark, name, warehouse)
    )
    rows = table.where(F.col("source").isin(*PERSON_RECORD_SOURCES))
    return {
        r["record_id"]: r["profile_id"] for r in rows.select("record_id", "profile_id").collect()
    }


def evaluate_set(
    spark: SparkSession, settings: Settings, data_set: DataSet, truth_file: str | Path
) -> SetResult:
    """Score the built warehouse of ``settings`` and the baseline on its person records."""
    import pandas as pd

    from cdp.core import catalog
    from cdp_dev.identity import baseline
    from jobs.identity import matching

    started = time.monotonic()
    warehouse = settings.paths.warehouse
    truth = read_person_truth(truth_file)
    people = catalog.read(spark, "silver.person_records", warehouse)
    records = baseline.baseline_input(people).toPandas()
    names = {
        str(r.unique_id): (r.first_name_key, r.last_name_key)
        for r in records.itertuples(index=False)
    }
    clusters = project_clusters(spark, warehouse)
    project = pair_metrics(truth, clusters, names)
    untold = {
        str(r.unique_id)
        for r in records.itertuples(index=False)
        if len(r.first_name_key or "") < 2 and pd.isna(r.birth_date)
    }
    project_rules = matching.model_settings().blocking_rules_to_generate_predictions
    project_blocking = blocking_recall(
        matching.match_input(people, settings.identity.blocked_values).toPandas(),
        truth,
        project_rules,
    )
    evaluated = time.monotonic() - started

    linked = baseline.link(records)
    notes = []
    if linked.dropped:
        notes.append(
            f"baseline: no values in {', '.join(linked.dropped)}; their comparisons and"
            " blocking rules left out"
        )
    baseline_rules = baseline.model_settings(
        baseline.BaselineSettings(), set(linked.dropped)
    ).blocking_rules_to_generate_predictions
    baseline_metrics = pair_metrics(truth, linked.clusters, names)
    base_blocking = blocking_recall(records, truth, baseline_rules)
    return SetResult(
        name=data_set.name,
        description=data_set.description,
        records=len(truth),
        persons=len(set(truth.values())),
        project=project,
        baseline=baseline_metrics,
        blocking={"project": project_blocking, "baseline": base_blocking},
        failures=bar_failures(project, baseline_metrics, data_set),
        notes=notes,
        seconds={"evaluate": round(evaluated, 1), "baseline": linked.seconds},
        generator=data_set.generator_options(),
        missed=missed_pairs(truth, clusters, names, untold),
    )


def run_set(
    spark: SparkSession,
    settings: Settings,
    data_set: DataSet,
    workdir: Path,
    persons: int,
    days: int,
    seed: int,
) -> SetResult:
    """Generate, build and score one data set under ``workdir/<name>/`` (landing reused,
    warehouse rebuilt)."""
    folder = Path(workdir) / data_set.name
    landing, warehouse = folder / "landing", folder / "warehouse"
    batch_date, notes, generated = generate_set(data_set, landing, persons, days, seed)
    shutil.rmtree(warehouse, ignore_errors=True)
    built = settings.with_paths(landing=str(landing), warehouse=str(warehouse))
    started = time.monotonic()
    build_identity(spark, built, batch_date)
    build_seconds = round(time.monotonic() - started, 1)
    result = evaluate_set(spark, built, data_set, landing / "_truth" / "records.csv")
    result.notes = notes + result.notes
    result.seconds = {"generate": generated, "build": build_seconds, **result.seconds}
    log.info("identity matrix %s: %s", data_set.name, "pass" if result.passed else result.failures)
    return result


def run_matrix(
    spark: SparkSession,
    settings: Settings,
    workdir: str | Path,
    persons: int,
    days: int,
    seed: int,
    sets: Iterable[str] | None = None,
) -> MatrixResult:
    """Every data set of the matrix (or those named ``sets``), generated and built under
    ``workdir`` with the project's defaults in ``settings`` (its paths are replaced)."""
    started = time.monotonic()
    results = [
        run_set(spark, settings, data_set, Path(workdir), persons, days, seed)
        for data_set in data_sets(sets)
    ]
    return MatrixResult(
        results,
        persons,
        days,
        seed,
        round(time.monotonic() - started, 1),
        json.loads(json.dumps(asdict(settings.identity), default=str)),
    )
