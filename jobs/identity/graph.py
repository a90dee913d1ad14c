"""The identity graph: identifiers as vertices, co-occurrence in one record as edges.

Steps, each a pure DataFrame transform (CTE-like, so every intermediate can be shown):
1. ``observations``: every (record, namespace, identifier) the silver tables carry;
2. ``apply_blocklist``: values that must never link (blank-like, test@test.com, 0000000000);
3. ``shared_identifiers``: identifiers seen with unusually many distinct identifiers of one
   linked namespace (a store's walk-in loyalty card, a family email) do not link either;
4. ``edges``: within a record, the highest-priority identifier links to each other one;
5. ``vertices``: integral (Long) vertex ids, as GraphFrames needs under AQE.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from jobs.identity.traits import birth_dates_apart, related_given_names, with_name_groups

# Which identifier anchors a record's star of edges, and which links are cut first when a
# component must be split (lower rank = stronger, kept longer).
NAMESPACE_PRIORITY = (
    "crm_id",
    "loyalty_id",
    "email",
    "phone",
    "card_token",
    "device_id",
    "anonymous_id",
)


def namespace_rank(namespace: Column) -> Column:
    """0 for the strongest namespace (NAMESPACE_PRIORITY), larger for weaker ones."""
    ranks = F.create_map(
        *[x for i, ns in enumerate(NAMESPACE_PRIORITY) for x in (F.lit(ns), F.lit(i))]
    )
    return F.coalesce(ranks[namespace], F.lit(len(NAMESPACE_PRIORITY)))


def observations(
    person_records: DataFrame, experience_events: DataFrame, commerce_lines: DataFrame
) -> DataFrame:
    """One row per (record_id, namespace, value) with the source and when it was seen.

    A POS receipt is one record (its lines share the card), a web event one record each.
    """
    people = person_records.select(
        "record_id", "source", "identities", F.col("record_ts").alias("seen_at")
    )
    events = experience_events.select(
        F.concat(F.lit("web:"), "event_id").alias("record_id"),
        F.lit("web").alias("source"),
        "identities",
        F.coalesce("event_ts", F.col("batch_date").cast("timestamp")).alias("seen_at"),
    )
    receipts = commerce_lines.where(F.col("source") == "pos").select(
        F.concat(F.lit("pos:"), "order_id").alias("record_id"),
        F.lit("pos").alias("source"),
        "identities",
        F.coalesce("ordered_at", F.col("batch_date").cast("timestamp")).alias("seen_at"),
    )
    records = people.unionByName(events).unionByName(receipts)
    return identity_rows(records, "record_id", "source", "namespace", "value", "seen_at").distinct()


def identity_rows(records: DataFrame, *columns: str) -> DataFrame:
    """One row per identity a record carries (its ``identities`` array exploded), with
    ``columns``: the record's own, and ``namespace`` and ``value`` of the identity."""
    exploded = records.select("*", F.explode("identities").alias("_identity"))
    own = {"namespace": F.col("_identity.namespace"), "value": F.col("_identity.value")}
    return exploded.select(*[own[c].alias(c) if c in own else F.col(c) for c in columns])


def latest_versions(person_records: DataFrame) -> DataFrame:
    """One row per person record: its latest version (by the record's own time, ties broken
    by file and row), what its source says now."""
    latest = Window.partitionBy("record_id").orderBy(
        F.col("record_ts").desc(), F.col("file_sha256").desc(), F.col("row_number").desc()
    )
    return (
        person_records.withColumn("_pos", F.row_number().over(latest))
        .where("_pos = 1")
        .drop("_pos")
    )


def still_held(obs: DataFrame, person_records: DataFrame) -> DataFrame:
    """``observations`` without the identifiers a person record no longer holds.

    A record corrected in its source (an email fixed in the CRM, a card replaced) links what
    it says now: the identifiers of its older versions that the latest one dropped stop
    linking, and a profile they alone held together splits. (RudderStack's stitcher and
    Segment keep such a merge.) An identifier the record still holds keeps every sighting,
    so its first seen stays the first version's. Events and receipts never change.
    """
    person_ids = person_records.select("record_id").distinct()
    held = identity_rows(latest_versions(person_records), "record_id", "namespace", "value")
    people = obs.join(person_ids, "record_id", "left_semi").join(
        held, ["record_id", "namespace", "value"], "left_semi"
    )
    return people.unionByName(obs.join(person_ids, "record_id", "left_anti"))


def blocked_pattern(pattern: str) -> str:
    """One ``identity.blocked_values`` pattern as Spark's ``rlike`` reads it: matched
    against the whole value, case-insensitively."""
    return f"(?i)^(?:{pattern})$"


def apply_blocklist(obs: DataFrame, blocked_values: dict[str, str]) -> tuple[DataFrame, DataFrame]:
    """Split observations into usable ones and cuts of blocked values (with the rule)."""
    rule = F.lit(None).cast("string")
    for namespace, pattern in sorted(blocked_values.items(), reverse=True):
        anchored = blocked_pattern(pattern)
        applies = F.lit(True) if namespace == "*" else (F.col("namespace") == namespace)
        rule = F.when(
            applies & F.col("value").rlike(anchored), F.lit(f"{namespace}:{pattern}")
        ).otherwise(rule)
    tagged = obs.withColumn("_rule", rule)
    kept = tagged.where(F.col("_rule").isNull()).drop("_rule")
    cuts = (
        tagged.where(F.col("_rule").isNotNull())
        .groupBy("namespace", "value", "_rule")
        .agg(F.count_distinct("record_id").alias("records"))
        .select(
            "namespace",
            "value",
            F.lit("blocked_value").alias("reason"),
            F.concat(F.lit("matches blocked pattern "), F.col("_rule")).alias("detail"),
            "records",
        )
    )
    return kept, cuts


def shared_identifiers(obs: DataFrame, max_neighbours: dict[str, int]) -> DataFrame:
    """Identifiers that co-occur with more distinct identifiers of a linked namespace than allowed.

    A card swiped for every walk-in customer meets hundreds of card tokens; a real customer's
    card meets one or two. Such an identifier is kept as a vertex but never used to link.
    """
    left = obs.select("record_id", "namespace", "value")
    right = obs.select(
        "record_id", F.col("namespace").alias("other_ns"), F.col("value").alias("other_value")
    )
    pairs = left.join(right, "record_id").where(
        (F.col("namespace") != F.col("other_ns")) | (F.col("value") != F.col("other_value"))
    )
    per_ns = pairs.groupBy("namespace", "value", "other_ns").agg(
        F.count_distinct("other_value").alias("neighbours")
    )
    limits = F.create_map(*[x for ns, n in max_neighbours.items() for x in (F.lit(ns), F.lit(n))])
    over = per_ns.where(F.col("neighbours") > limits[F.col("other_ns")])
    return over.groupBy("namespace", "value").agg(
        F.lit("shared_identifier").alias("reason"),
        F.concat_ws(
            ", ",
            F.collect_list(
                F.concat(F.col("neighbours").cast("string"), F.lit(" distinct "), "other_ns")
            ),
        ).alias("detail"),
        F.max("neighbours").alias("records"),
    )


def birth_dates_compatible(a: Column, b: Column) -> Column:
    """True unless both birth dates are known and differ by more than a slip of the keyboard
    (one typed digit, or day and month swapped): then they are two people's birthdays."""
    return (
        a.isNull()
        | b.isNull()
        | (a == b)
        | (F.levenshtein(a.cast("string"), b.cast("string")) <= 1)
        | (
            (F.year(a) == F.year(b))
            & (F.month(a) == F.dayofmonth(b))
            & (F.dayofmonth(a) == F.month(b))
        )
    )


def telling_birth_date(born: Column) -> Column:
    """``born`` where it can be someone's birth date, else null: a date after today (6006 or
    2607 typed for 2006) was mistyped beyond saying which digits are right, so it neither
    tells whose a record is nor that two records are two people. The guards read this; the
    match model still weighs the raw date, whose day and month may agree."""
    return F.when(born <= F.current_date(), born)


def person_traits(person_records: DataFrame) -> DataFrame:
    """(record_id, name, surname, born) of person records: what tells whose a record is.
    Silver without a surname or birth date column (probabilistic matching off) gives nulls."""

    def optional(column: str, alias: str, kind: str) -> Column:
        present = column in person_records.columns
        return (F.col(column) if present else F.lit(None).cast(kind)).alias(alias)

    return person_records.select(
        "record_id",
        F.col("first_name_key").alias("name"),
        optional("last_name_key", "surname", "string"),
        telling_birth_date(optional("birth_date", "born", "date")).alias("born"),
    )


def traits_contradict(max_name_distance: float = 0.34) -> Column:
    """Over ``name, surname, born`` and ``other_name, other_surname, other_born``: two people.

    First names differ (``names_contradict``), or birth dates contradict each other
    (``birth_dates_compatible``). A missing value contradicts nothing.
    """
    return names_contradict(max_name_distance) | ~birth_dates_compatible(
        F.col("born"), F.col("other_born")
    )


def names_contradict(max_name_distance: float = 0.34) -> Column:
    """Over ``name, surname`` and ``other_name, other_surname``: first names differ by more
    than ``max_name_distance`` (Levenshtein distance over the longer name; a name written
    surname first in one system is the same name, each part within that distance of the
    other's; an initial differs only from names with another first letter, or is the other's
    surname cut short and put first). A missing name contradicts nothing.
    """
    name, other = F.col("name"), F.col("other_name")

    def close(a: Column, b: Column) -> Column:
        return (a == b) | (
            F.levenshtein(a, b) / F.greatest(F.length(a), F.length(b)) <= max_name_distance
        )

    # Written surname first, each part with a slip of its own (Gargallo Carlos beside Carlos
    # Tarhallo): one name, not two people. Twins share the surname, not a name with it.
    swapped = close(name, F.col("other_surname")) & close(F.col("surname"), other)
    initial = F.least(F.length(name), F.length(other)) == 1
    # "L. Julia" beside Julia Lindgren: the surname cut to its initial and put first (the
    # given name may carry a slip, as above).
    initial_swapped = (
        (F.length(name) == 1)
        & (F.left("other_surname", F.lit(1)) == name)
        & close(F.col("surname"), other)
    ) | (
        (F.length(other) == 1)
        & (F.left("surname", F.lit(1)) == other)
        & close(F.col("other_surname"), name)
    )
    initials_differ = (F.left(name, F.lit(1)) != F.left(other, F.lit(1))) & ~F.coalesce(
        initial_swapped, F.lit(False)
    )
    return F.coalesce(
        F.when(initial, initials_differ).otherwise(~close(name, other) & ~swapped),
        F.lit(False),
    )


def _as_other(traits: DataFrame, *extra: str) -> DataFrame:
    """``traits`` with name, surname, born (and ``extra`` columns) renamed ``other_*``, for
    ``traits_contradict``."""
    return traits.withColumnsRenamed({c: f"other_{c}" for c in ("name", "surname", "born", *extra)})


def _with_other(traits: DataFrame, *keys: str) -> DataFrame:
    """``traits`` (keys, name, surname, born) joined on ``keys`` with a second copy of itself."""
    return traits.join(_as_other(traits), list(keys))


def household_identifiers(
    obs: DataFrame,
    person_records: DataFrame,
    namespaces: tuple[str, ...] = ("email", "phone"),
    max_name_distance: float = 0.34,
) -> DataFrame:
    """Contact points shared by different people of one household: a family email, a landline.

    The person records (CRM, loyalty) carrying one email or phone are one person when one of
    them agrees with every other (a centre): each other's given name is that name or may be
    it (``names_contradict`` and ``related_given_names``: a slip, a nickname, an initial, or
    a name nobody is called on the same birthday) and each birth date is that date or a slip
    or two away (``birth_dates_apart``). A
    person's own email on many copies, each with slips of its own, passes that test even
    where two copies are far apart from each other (1940 and 1983 typed for 1980); Nina and
    her daughter Alva, or twins Emil and Emma, share no centre, and the identifier must not
    link them.
    """
    traits = person_traits(person_records).where(
        F.col("name").isNotNull() | F.col("born").isNotNull()
    )
    named = with_name_groups(person_records.select("record_id", "first_name_key")).select(
        "record_id",
        F.col("first_name_group").alias("group"),
        F.col("first_name_known").alias("known"),
    )
    contact = obs.where(F.col("namespace").isin(*namespaces)).select(
        "record_id", "namespace", "value"
    )
    carriers = contact.join(traits.join(named, "record_id"), "record_id")
    described = carriers.select(
        "namespace", "value", "name", "surname", "born", "group", "known"
    ).distinct()
    other = _as_other(described, "group", "known")
    related = F.coalesce(
        F.expr(
            related_given_names(
                "name", "other_name", "group", "other_group", "known", "other_known"
            )
        ),
        F.lit(False),
    )
    # A copy whose given name nobody is called, born on the centre's very day, is the
    # centre's name typed beyond recognition (Dvs for Eva), not a second person: twins, the
    # only other people born that day, are given names people are called.
    garbled = F.coalesce(
        (F.col("born") == F.col("other_born"))
        & F.col("known")
        & ~F.col("other_known")
        & (F.length("other_name") > 1),
        F.lit(False),
    )
    apart = (names_contradict(max_name_distance) & ~related & ~garbled) | birth_dates_apart(
        F.col("born"), F.col("other_born")
    )
    keys = ["namespace", "value"]
    # A centre tells a given name people are called and a birth date: a record without a
    # birth date agrees with every other on it (a father and his namesake son beside the
    # father's undated copy), and a garbled name may sit a slip from each of two twins'
    # (Emk beside Emil and Emma). Without any such record, no two may be apart.
    full = (F.length("name") > 1) & F.col("born").isNotNull() & F.col("known")
    centres = (
        described.join(other, keys)
        .groupBy(*keys, "name", "surname", "born")
        .agg(F.max(apart.cast("int")).alias("_apart"), F.first(full).alias("_full"))
    )
    households = (
        centres.groupBy(*keys)
        .agg(
            F.coalesce(F.min(F.when(F.col("_full"), F.col("_apart"))), F.max("_apart")).alias(
                "_apart"
            )
        )
        .where("_apart = 1")
    )
    who = F.concat_ws(
        " ", F.coalesce("name", F.lit("?")), F.coalesce(F.col("born").cast("string"), F.lit("?"))
    )
    return (
        carriers.join(households.select(*keys), keys)
        .groupBy(*keys)
        .agg(
            F.lit("household_identifier").alias("reason"),
            F.concat(
                F.lit("used by different people: "),
                F.concat_ws(", ", F.array_sort(F.collect_set(who))),
            ).alias("detail"),
            F.countDistinct("record_id").alias("records"),
        )
    )


def told_traits(person_records: DataFrame) -> DataFrame:
    """``person_traits`` of each record's latest version (what its source says now: a blank
    sign-up completed later tells, a birth date corrected later does not contradict the old
    one), an initial counted as no name ("e" beside "elin" is no contradiction), and
    ``told``: whether a given name or a birth date says whose the record is."""
    versioned = {"record_ts", "file_sha256", "row_number"} <= set(person_records.columns)
    latest = latest_versions(person_records) if versioned else person_records
    traits = person_traits(latest).withColumn("name", F.when(F.length("name") > 1, F.col("name")))
    return traits.withColumn("told", F.col("name").isNotNull() | F.col("born").isNotNull())


def _placed(person_obs: DataFrame, components: DataFrame) -> DataFrame:
    """(record_id, component) of each person record in a graph's (id, component)."""
    return (
        person_obs.select("record_id", vertex_id(F.col("namespace"), F.col("value")).alias("id"))
        .join(components, "id")
        .select("record_id", "component")
        .distinct()
    )


def untold_records_of_torn_persons(
    person_obs: DataFrame, traits: DataFrame, persons: DataFrame
) -> DataFrame:
    """(record_id) of the person records that may have joined two people: records that do not
    tell whose they are (no given name beyond an initial, no birth date) inside a person
    component whose telling records contradict each other (``traits_contradict``: Nina born
    1968 and her daughter Alva born 2003).

    A sign-up form left nameless with the family's email and the mother's phone links the
    daughter's records (the email) to the mother's (the phone); no single identifier is used
    by both, so ``household_identifiers`` cannot see it. ``person_obs``: the linking
    observations of person records; ``traits``: ``told_traits`` of the person records;
    ``persons``: (id, component) of the person graph.
    """
    placed = _placed(person_obs, persons).join(traits, "record_id")
    # Only components holding an untold record can have one to cut: the others are not
    # compared at all.
    untold = placed.where(~F.col("told")).select("record_id", "component")
    candidates = untold.select("component").distinct()
    telling = (
        placed.where("told")
        .join(candidates, "component", "left_semi")
        .select("component", "name", "surname", "born")
        .distinct()
    )
    torn = _with_other(telling, "component").where(traits_contradict()).select("component")
    return untold.join(torn.distinct(), "component", "left_semi").select("record_id").distinct()


def components_holding(person_obs: DataFrame, records: DataFrame, persons: DataFrame) -> DataFrame:
    """(id) of every vertex in a component of ``persons`` ((id, component)) that holds one of
    ``records`` (record_id): the part of the person graph the bridge check looks at again."""
    held = _placed(person_obs.join(records, "record_id", "left_semi"), persons)
    return persons.join(held.select("component").distinct(), "component", "left_semi").select("id")


def bridging_records(
    person_obs: DataFrame, traits: DataFrame, suspects: DataFrame, persons_without: DataFrame
) -> DataFrame:
    """The ``suspects`` (record_id) that do join different people: once the suspects' own links
    are gone (``persons_without``: (id, component) of that graph), the identifiers they share
    with other person records lie in components whose telling records contradict each other
    (``traits_contradict``; ``traits``: ``told_traits``). A cut row each, for
    ``audit.identity_cuts``: the record's strongest identifier, reason ``bridging_record``.
    A suspect that joins only one person's records (Alva's CRM record by her email to her
    loyalty record by her phone) keeps its links.
    """
    ids = person_obs.select(
        "record_id", "namespace", "value", vertex_id(F.col("namespace"), F.col("value")).alias("id")
    ).distinct()
    held_by_others = ids.join(suspects, "record_id", "left_anti").select("id").distinct()
    theirs = ids.join(suspects, "record_id")
    reach = theirs.join(held_by_others, "id").join(persons_without, "id")
    reached = reach.select("record_id", "component").distinct()
    telling = (
        _placed(person_obs.join(suspects, "record_id", "left_anti"), persons_without)
        .join(reached.select("component").distinct(), "component", "left_semi")
        .join(traits.where("told"), "record_id")
        .select("component", "name", "surname", "born")
        .distinct()
    )
    crossing = (
        reached.join(reached.withColumnRenamed("component", "other"), "record_id")
        .where(F.col("component") < F.col("other"))
        .join(telling, "component")
        .join(_as_other(telling).withColumnRenamed("component", "other"), "other")
        .where(traits_contradict())
        .select("record_id")
        .distinct()
    )
    ranked = theirs.withColumn("_rank", namespace_rank(F.col("namespace")))
    strongest = ranked.groupBy("record_id").agg(
        F.min_by(F.struct("namespace", "value"), F.struct("_rank", "value")).alias("own")
    )
    shown = F.concat_ws(":", "namespace", "value")
    return (
        reach.join(crossing, "record_id", "left_semi")
        .groupBy("record_id")
        .agg(F.concat_ws(", ", F.array_sort(F.collect_set(shown))).alias("carried"))
        .join(strongest, "record_id")
        .select(
            F.col("own.namespace").alias("namespace"),
            F.col("own.value").alias("value"),
            F.lit("bridging_record").alias("reason"),
            F.concat(
                F.lit("a record without a given name or birth date joining people whose "),
                F.lit("names or birth dates differ, by "),
                F.col("carried"),
            ).alias("detail"),
            F.lit(1).cast("long").alias("records"),
            "record_id",
        )
    )


def vertex_id(namespace: Column, value: Column) -> Column:
    """A 64-bit integral id from (namespace, value): stable across runs with no id table.

    Two identifiers colliding would glue two people together; ``vertices`` checks for it.
    """
    return F.xxhash64(namespace, value)


def vertices(obs: DataFrame) -> DataFrame:
    """One row per identifier: Long id, namespace, value, first and last seen, records."""
    return (
        obs.groupBy("namespace", "value")
        .agg(
            F.min("seen_at").alias("first_seen"),
            F.max("seen_at").alias("last_seen"),
            F.count_distinct("record_id").alias("records"),
        )
        .select(vertex_id(F.col("namespace"), F.col("value")).alias("id"), "*")
    )


def edges(obs: DataFrame, shared: DataFrame) -> DataFrame:
    """Deterministic edges: in each record the highest-priority identifier links to the others.

    Identifiers in ``shared`` take no part in linking. Repeated co-occurrences of the same
    pair collapse into one edge with first/last seen and the number of records behind it.
    """
    linking = obs.join(shared.select("namespace", "value"), ["namespace", "value"], "left_anti")
    ranked = linking.withColumn("_rank", namespace_rank(F.col("namespace")))
    order = Window.partitionBy("record_id").orderBy("_rank", "value")
    anchored = ranked.withColumn("_pos", F.row_number().over(order))
    anchor = anchored.where(F.col("_pos") == 1).select(
        "record_id",
        F.col("namespace").alias("src_namespace"),
        F.col("value").alias("src_value"),
    )
    others = anchored.where(F.col("_pos") > 1).select(
        "record_id",
        "source",
        "seen_at",
        F.col("namespace").alias("dst_namespace"),
        F.col("value").alias("dst_value"),
        F.col("_rank").alias("dst_rank"),
    )
    pairs = anchor.join(others, "record_id")
    grouped = pairs.groupBy(
        "src_namespace", "src_value", "dst_namespace", "dst_value", "source"
    ).agg(
        F.min("seen_at").alias("first_seen"),
        F.max("seen_at").alias("last_seen"),
        F.count_distinct("record_id").alias("records"),
        F.max("dst_rank").alias("strength_rank"),
    )
    return grouped.select(
        vertex_id(F.col("src_namespace"), F.col("src_value")).alias("src"),
        vertex_id(F.col("dst_namespace"), F.col("dst_value")).alias("dst"),
        F.lit("deterministic").alias("method"),
        F.concat_ws(":", "source", "src_namespace", "dst_namespace").alias("kind"),
        "*",
    )
