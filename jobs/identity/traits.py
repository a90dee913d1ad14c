"""Whether two person records' given names and birth dates can be one person's.

The relations the match model's guard (jobs/identity/matching.py) and the household check
(jobs/identity/graph.py) share: given names related by a slip, a nickname, an initial or a
short form (``related_given_names``, with ``with_name_groups``), and birth dates a slip or
two apart rather than two people's (``birth_dates_apart``).
"""

from __future__ import annotations

from functools import cache

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

# Jaro-Winkler similarity at or above which two given names may still be one person's
# (Anna/Anne, Johan/Jo); below it they are unrelated.
RELATED = 0.75
# A given name that nobody is called (not in the name lexicon, ``_given_name_lexicon``) at
# most this many edits from another of at least TYPO_MIN_LENGTH letters is that name typed
# badly (Hygj for Hugh, Gebgt for Bengt), however low their Jaro-Winkler: twins and siblings
# are given names people are called. Measured on the identity matrix (1000 persons): see
# the issue 15 notes.
TYPO_EDITS = 2
TYPO_MIN_LENGTH = 4


@cache
def _nickname_rows() -> tuple[tuple[str, str], ...]:
    """(name, group) for every given name in the ``nicknames`` package's table (an
    independent, curated list: Robert -> Bob, Margaret -> Peggy): a nickname belongs to
    the group of each formal name it shortens, a formal name to its own."""
    import nicknames

    rows = set()
    for t in nicknames.name_triplets():
        rows.add((t.name1, t.name1))
        rows.add((t.name2, t.name1))
    return tuple(sorted(rows))


@cache
def _given_name_lexicon() -> tuple[str, ...]:
    """The match keys (as silver writes ``first_name_key``) of every given name Faker knows
    in any of its locales (about 30,000, from its per-locale name lists) and of every name in
    the ``nicknames`` table: names that people are called. A key outside it is most likely a
    typo; one inside may still be a typo that happens to spell a name (Hugo for Hugh), which
    is then judged as two names, the cautious side."""
    import importlib

    from faker.config import AVAILABLE_LOCALES

    from jobs.standardise.values import name_match_key

    names = {n for pair in _nickname_rows() for n in pair}
    for locale in AVAILABLE_LOCALES:
        try:
            provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        except ImportError:
            continue
        for attr in ("first_names", "first_names_male", "first_names_female"):
            # Class attributes only: a few locales compute theirs in a property.
            listed = next((b.__dict__[attr] for b in provider.__mro__ if attr in b.__dict__), ())
            if isinstance(listed, (list, tuple, dict, set)):
                names.update(name_match_key(n) for n in listed)
    names.discard(None)
    names.discard("")
    return tuple(sorted(names))


def with_name_groups(records: DataFrame) -> DataFrame:
    """Adds ``first_name_group``: the formal names a given name may stand for (itself
    included), so that two given names sharing a group are one name (Bob and Robert); and
    ``first_name_known``: whether the given name is in the name lexicon
    (``_given_name_lexicon``)."""
    spark = records.sparkSession
    groups = (
        spark.createDataFrame(list(_nickname_rows()), "name string, grp string")
        .groupBy("name")
        .agg(F.collect_set("grp").alias("_groups"))
    )
    lexicon = spark.createDataFrame([(n,) for n in _given_name_lexicon()], "_known string")
    joined = (
        records.join(F.broadcast(groups), records["first_name_key"] == groups["name"], "left")
        .drop("name")
        .join(F.broadcast(lexicon), F.col("first_name_key") == F.col("_known"), "left")
    )
    own = F.when(F.col("first_name_key").isNotNull(), F.array("first_name_key"))
    return (
        joined.withColumn("first_name_group", F.array_union(F.coalesce("_groups", F.array()), own))
        .withColumn("first_name_known", F.col("_known").isNotNull())
        .drop("_groups", "_known")
    )


def related_given_names(
    a: str, b: str, group_a: str, group_b: str, known_a: str, known_b: str
) -> str:
    """Spark SQL: two known given names that may be one person's: equal, related by
    Jaro-Winkler (a typo or two, Anne/Anna, Yvan/Ivan), a nickname of one formal name
    (Bob/Robert), one an initial or the start of the other (J./John, Kata/Katarina), one
    word in common (Anna Maria/Maria), or one that nobody is called a few slips from the
    other (Hygj/Hugh, ``TYPO_EDITS``). Below that, a twin's name and a replaced name look
    the same, and neither links on the model alone."""
    return (
        f"({a} = {b}"
        f" OR (NOT ({known_a} AND {known_b}) AND least(length({a}), length({b}))"
        f" >= {TYPO_MIN_LENGTH} AND levenshtein({a}, {b}) <= {TYPO_EDITS})"
        f" OR jaro_winkler({a}, {b}) >= {RELATED}"
        f" OR coalesce(arrays_overlap({group_a}, {group_b}), false)"
        f" OR (length({a}) = 1 AND substr({b}, 1, 1) = {a})"
        f" OR (length({b}) = 1 AND substr({a}, 1, 1) = {b})"
        f" OR (length({a}) >= 3 AND substr({b}, 1, length({a})) = {a})"
        f" OR (length({b}) >= 3 AND substr({a}, 1, length({b})) = {b})"
        f" OR arrays_overlap(split({a}, ' '), split({b}, ' ')))"
    )


def birth_dates_apart(a: Column, b: Column) -> Column:
    """True when both birth dates are known and cannot be one date typed twice: more than
    two slips apart, and not the same day and month in a year one slip away (day and month
    may be swapped), nor the same year with the same month or day. A father and a son of one
    name are apart; two copies of one person's record, each with a slip of its own, are not.
    """
    text_a, text_b = F.date_format(a, "yyyy-MM-dd"), F.date_format(b, "yyyy-MM-dd")
    ma, da, mb, db = F.month(a), F.dayofmonth(a), F.month(b), F.dayofmonth(b)
    year_slip = F.levenshtein(F.year(a).cast("string"), F.year(b).cast("string")) <= 1
    same_day_and_month = ((ma == mb) & (da == db)) | ((ma == db) & (da == mb))
    same_year_near = (F.year(a) == F.year(b)) & ((ma == mb) | (da == db))
    return F.coalesce(
        (F.levenshtein(text_a, text_b) > 2)
        & ~(year_slip & same_day_and_month)
        & ~((ma == mb) & (da == db))
        & ~same_year_near,
        F.lit(False),
    )
