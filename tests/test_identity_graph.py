"""Identity graph: guard rails and connected components checked against networkx."""

from __future__ import annotations

import datetime as dt
import logging
import random

import networkx as nx
import pytest
from pyspark.sql import functions as F

from cdp.core.settings import IdentitySettings
from jobs.identity.components import connected_components, graphframes_available
from jobs.identity.graph import (
    apply_blocklist,
    edges,
    household_identifiers,
    shared_identifiers,
    vertex_id,
    vertices,
)

T0 = dt.datetime(2026, 3, 1, 12, 0)
D = dt.date


def obs_frame(spark, rows):
    """Observations (record_id, source, namespace, value, seen_at) from tuples."""
    return spark.createDataFrame(
        [(r, s, ns, v, T0) for r, s, ns, v in rows],
        "record_id string, source string, namespace string, value string, seen_at timestamp",
    )


def partition(pairs) -> set[frozenset]:
    groups: dict[int, set] = {}
    for vertex, component in pairs:
        groups.setdefault(component, set()).add(vertex)
    return {frozenset(g) for g in groups.values()}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_union_find_gives_each_vertex_its_components_smallest_member(seed):
    """The driver engine's union-find alone, against networkx: no Spark renaming after it."""
    from jobs.identity.components import _union_find

    rng = random.Random(seed)
    ids = list(dict.fromkeys(rng.randint(-(2**62), 2**62) for _ in range(300)))
    edges = [tuple(rng.sample(ids, 2)) for _ in range(220)] + [(ids[0], ids[0])]
    graph = nx.Graph(edges)
    roots = _union_find(edges)
    assert set(roots) == set(graph.nodes)
    for component in nx.connected_components(graph):
        assert {roots[v] for v in component} == {min(component)}


@pytest.mark.slow  # many Spark jobs on inline data; not in make test-fast
@pytest.mark.parametrize(
    ("seed", "engine", "driver_max_edges"),
    [(1, "auto", 100_000), (2, "auto", 100_000), (1, "splink", 0), (2, "auto", 50)],
)
def test_connected_components_match_networkx_on_random_graphs(
    spark, caplog, seed, engine, driver_max_edges
):
    rng = random.Random(seed)
    graph = nx.Graph()
    # Several random graphs side by side: sparse, dense, chains and isolated vertices, with
    # 64-bit ids of both signs as xxhash64 produces them.
    ids = list(dict.fromkeys(rng.randint(-(2**62), 2**62) for _ in range(400)))
    graph.add_nodes_from(ids)
    for _ in range(260):
        a, b = rng.sample(ids[:300], 2)
        graph.add_edge(a, b)
    chain = ids[300:360]
    graph.add_edges_from(zip(chain, chain[1:], strict=False))
    vertices_df = spark.createDataFrame([(i,) for i in graph.nodes], "id long")
    edges_df = spark.createDataFrame(list(graph.edges), "src long, dst long")

    # auto on a graph this small: solved in the driver; splink, or auto above
    # driver_max_edges (320 edges here): the distributed engine.
    with caplog.at_level(logging.INFO, logger="jobs.identity.components"):
        got = connected_components(
            spark, vertices_df, edges_df, engine=engine, driver_max_edges=driver_max_edges
        ).collect()
    ran = engine
    if engine == "auto":
        distributed = "graphframes" if graphframes_available(spark) else "splink"
        ran = "driver" if graph.number_of_edges() <= driver_max_edges else distributed
    assert f"connected components via {ran} " in caplog.text
    expected = {frozenset(c) for c in nx.connected_components(graph)}
    assert partition((r["id"], r["component"]) for r in got) == expected
    # Each component is named by its smallest member.
    smallest = {v: min(c) for c in expected for v in c}
    assert all(r["component"] == smallest[r["id"]] for r in got)


def test_blocked_values_never_link(spark):
    obs = obs_frame(
        spark,
        [
            ("crm:1", "crm", "crm_id", "1"),
            ("crm:1", "crm", "email", "test@test.com"),
            ("crm:2", "crm", "crm_id", "2"),
            ("crm:2", "crm", "email", "test@test.com"),
            ("crm:2", "crm", "phone", "+460000000000"),
            ("crm:3", "crm", "crm_id", "3"),
            ("crm:3", "crm", "email", "ann.lee@gmail.com"),
            ("crm:3", "crm", "phone", "+46701234567"),
            ("crm:4", "crm", "crm_id", "null"),
        ],
    )
    kept, cuts = apply_blocklist(obs, IdentitySettings().blocked_values)
    assert {(r["namespace"], r["value"]) for r in cuts.collect()} == {
        ("email", "test@test.com"),
        ("phone", "+460000000000"),
        ("crm_id", "null"),
    }
    assert {r["reason"] for r in cuts.collect()} == {"blocked_value"}
    assert cuts.where("value = 'test@test.com'").first()["records"] == 2
    assert {r["value"] for r in kept.collect()} == {
        "1",
        "2",
        "3",
        "ann.lee@gmail.com",
        "+46701234567",
    }


def test_an_identifier_shared_by_many_people_does_not_link(spark):
    store_card = [(f"pos:r{i}", "pos", "loyalty_id", "STORE-1") for i in range(5)]
    tokens = [(f"pos:r{i}", "pos", "card_token", f"tok{i}") for i in range(5)]
    own_card = [
        ("pos:a", "pos", "loyalty_id", "L-ANN"),
        ("pos:a", "pos", "card_token", "tokA"),
        ("pos:b", "pos", "loyalty_id", "L-ANN"),
        ("pos:b", "pos", "card_token", "tokA"),
    ]
    obs = obs_frame(spark, store_card + tokens + own_card)
    shared = shared_identifiers(obs, {"card_token": 3, "loyalty_id": 3})
    (row,) = shared.collect()
    assert (row["namespace"], row["value"], row["reason"]) == (
        "loyalty_id",
        "STORE-1",
        "shared_identifier",
    )
    assert "5 distinct card_token" in row["detail"]

    linked = edges(obs, shared).collect()
    assert [(r["src_value"], r["dst_value"], r["records"]) for r in linked] == [
        ("L-ANN", "tokA", 2)
    ]


def test_each_record_links_its_identifiers_to_its_strongest_one(spark):
    obs = obs_frame(
        spark,
        [
            ("crm:1", "crm", "crm_id", "1"),
            ("crm:1", "crm", "email", "ann@x.se"),
            ("crm:1", "crm", "phone", "+46701234567"),
            ("crm:1", "crm", "loyalty_id", "L1"),
            ("web:e1", "web", "anonymous_id", "cookie"),
            ("web:e1", "web", "crm_id", "1"),
        ],
    )
    shared = shared_identifiers(obs, IdentitySettings().max_neighbours)
    got = {
        (r["src_namespace"], r["dst_namespace"], r["kind"]) for r in edges(obs, shared).collect()
    }
    assert got == {
        ("crm_id", "loyalty_id", "crm:crm_id:loyalty_id"),
        ("crm_id", "email", "crm:crm_id:email"),
        ("crm_id", "phone", "crm:crm_id:phone"),
        ("crm_id", "anonymous_id", "web:crm_id:anonymous_id"),
    }
    ids = {(r["namespace"], r["value"]): r["id"] for r in vertices(obs).collect()}
    expected = spark.range(1).select(vertex_id(F.lit("email"), F.lit("ann@x.se"))).first()[0]
    assert ids[("email", "ann@x.se")] == expected
    assert len(set(ids.values())) == len(ids) == 5


def test_a_family_email_or_landline_does_not_link_household_members(spark):
    obs = obs_frame(
        spark,
        [
            ("crm:1", "crm", "crm_id", "1"),
            ("crm:1", "crm", "email", "familjen.blom@hotmail.com"),
            ("crm:2", "crm", "crm_id", "2"),
            ("crm:2", "crm", "email", "familjen.blom@hotmail.com"),
            # The same person twice, a typo in the name and in the birth date: the phone
            # still links them.
            ("crm:3", "crm", "crm_id", "3"),
            ("crm:3", "crm", "phone", "+46701234567"),
            ("loyalty:9", "loyalty", "loyalty_id", "9"),
            ("loyalty:9", "loyalty", "phone", "+46701234567"),
            # Mother and daughter on the landline, the mother's first name missing: their
            # birth dates tell them apart.
            ("crm:4", "crm", "crm_id", "4"),
            ("crm:4", "crm", "phone", "+4631123456"),
            ("crm:5", "crm", "crm_id", "5"),
            ("crm:5", "crm", "phone", "+4631123456"),
            # One person, the name written surname first in the loyalty system.
            ("crm:6", "crm", "crm_id", "6"),
            ("crm:6", "crm", "email", "peder.andersen@outlook.com"),
            ("loyalty:7", "loyalty", "loyalty_id", "7"),
            ("loyalty:7", "loyalty", "email", "peder.andersen@outlook.com"),
            # An initial is that name's (S. and Solveig), not another's (K. and Solveig).
            ("crm:10", "crm", "crm_id", "10"),
            ("crm:10", "crm", "email", "s.arvidsson@telia.com"),
            ("crm:11", "crm", "crm_id", "11"),
            ("crm:11", "crm", "email", "s.arvidsson@telia.com"),
            ("crm:11", "crm", "phone", "+4658612345"),
            ("crm:12", "crm", "crm_id", "12"),
            ("crm:12", "crm", "phone", "+4658612345"),
            # Swapped, the surname cut to its initial: L. Julia is Julia Lindgren.
            ("crm:13", "crm", "crm_id", "13"),
            ("crm:13", "crm", "email", "julia.l@x.fi"),
            ("crm:14", "crm", "crm_id", "14"),
            ("crm:14", "crm", "email", "julia.l@x.fi"),
            # Swapped, and each part with a slip: Gargallo Carlos is Carlos Tarhallo.
            ("crm:15", "crm", "crm_id", "15"),
            ("crm:15", "crm", "email", "carlos.gargallo@telefonica.net"),
            ("loyalty:16", "loyalty", "loyalty_id", "16"),
            ("loyalty:16", "loyalty", "email", "carlos.gargallo@telefonica.net"),
            # One person's email on five badly typed copies: 1983 and 1940 are each a slip
            # from 1980, though two apart from each other; Pava, Paav and Paavo one name.
            *[(f"crm:{n}", "crm", "email", "paavotirkkonen@gmail.com") for n in range(20, 25)],
            # A father and his namesake son beside the father's undated copy: the undated
            # copy agrees with both, yet tells no birth date, so it explains neither.
            *[(f"crm:{n}", "crm", "email", "aaron.cox@gmail.com") for n in range(30, 33)],
            # Twins on the family email: Emil and Emma are two names, not a slip; a garbled
            # copy (Emk) a slip from each explains neither. Emma is there twice, alike.
            *[(f"crm:{n}", "crm", "email", "lund@telia.com") for n in range(40, 45)],
            # Eva's copy typed beyond recognition on her very birthday: Dvs is nobody's name.
            *[(f"crm:{n}", "crm", "email", "evaekdahl@gmail.com") for n in range(50, 53)],
        ],
    )
    people = spark.createDataFrame(
        [
            ("crm:20", "paavo", "tirkkonen", D(1980, 5, 31)),
            ("crm:21", "paavo", "tirkkonen", D(1983, 5, 31)),
            ("crm:22", "pava", "tirkkonen", D(1940, 5, 31)),
            ("crm:23", "paav", "trrikkonen", D(1980, 5, 31)),
            ("crm:24", "paavo", None, None),
            ("crm:30", "aaron", "cox", D(1961, 2, 17)),
            ("crm:31", "aaron", "cox", D(1988, 9, 3)),
            ("crm:32", "aaron", "cox", None),
            ("crm:40", "emil", "lund", D(2001, 6, 12)),
            ("crm:41", "emma", "lund", D(2001, 6, 12)),
            ("crm:42", "emil", "lund", D(2001, 6, 21)),
            ("crm:43", "emk", "lund", D(2001, 6, 12)),
            ("crm:44", "emma", "lund", D(2001, 6, 12)),
            ("crm:50", "eva", "ekdahl", D(2000, 1, 27)),
            ("crm:51", "dvs", "ekjdahi", D(2000, 1, 27)),
            ("crm:52", "eva", "ekdahl", D(1999, 1, 27)),
            ("crm:10", "s", "arvidsson", None),
            ("crm:11", "solveig", "arvidsson", D(1968, 3, 8)),
            ("crm:12", "k", "arvidsson", None),
            ("crm:13", "l", "julia", D(1998, 3, 25)),
            ("crm:14", "julia", "lindgren", D(1998, 3, 25)),
            ("crm:1", "anna", "blom", None),
            ("crm:2", "lars", "blom", None),
            ("crm:3", "johanna", "lind", D(1980, 3, 14)),
            ("loyalty:9", "johana", "lind", D(1980, 3, 15)),
            ("crm:4", None, "ek", D(1961, 5, 2)),
            ("crm:5", "maja", "ek", D(1994, 8, 30)),
            ("crm:6", "peder", "andersen", D(2005, 3, 5)),
            ("loyalty:7", "andersen", "peder", D(2005, 3, 5)),
            ("crm:15", "carlos", "tarhallo", None),
            ("loyalty:16", "gargallo", "carlso", D(1978, 8, 14)),
        ],
        "record_id string, first_name_key string, last_name_key string, birth_date date",
    )
    rows = {r["value"]: r for r in household_identifiers(obs, people).collect()}
    assert set(rows) == {
        "familjen.blom@hotmail.com",
        "+4631123456",
        "+4658612345",
        "aaron.cox@gmail.com",
        "lund@telia.com",
    }
    assert {r["reason"] for r in rows.values()} == {"household_identifier"}
    assert rows["familjen.blom@hotmail.com"]["detail"].endswith("anna ?, lars ?")
    assert rows["+4631123456"]["detail"].endswith("? 1961-05-02, maja 1994-08-30")
    # Records that carried it, Emma's two alike copies counted twice.
    assert rows["lund@telia.com"]["records"] == 5
    assert rows["aaron.cox@gmail.com"]["records"] == 3


@pytest.mark.slow  # two resolutions on inline data; not in make test-fast
def test_a_record_corrected_in_its_source_links_what_it_says_now(spark):
    """CRM customer 1 was landed with loyalty member 7's email (a typing slip) and fixed the
    next night: the old version's email stops linking, and the profile it held together
    splits (issue 17). The corrected email keeps its own first sighting."""
    import dataclasses

    from jobs.identity.graph import still_held
    from jobs.identity.run import resolve

    later = T0 + dt.timedelta(days=1)
    versions = [  # record_id, record_ts, file, row, identities
        ("crm:1", T0, "f1", 1, [("crm_id", "1"), ("email", "mo@x.se"), ("phone", "+4670")]),
        ("crm:1", later, "f2", 1, [("crm_id", "1"), ("email", "ann@x.se"), ("phone", "+4670")]),
        ("loyalty:7", T0, "f1", 2, [("loyalty_id", "7"), ("email", "mo@x.se")]),
    ]
    people = spark.createDataFrame(
        [
            (r, "crm" if r.startswith("crm") else "loyalty", ts, f, n, ids)
            for r, ts, f, n, ids in versions
        ],
        "record_id string, source string, record_ts timestamp, file_sha256 string, "
        "row_number long, identities array<struct<namespace:string,value:string>>",
    )
    obs = spark.createDataFrame(
        [(r, s, ns, v, ts) for r, s, ts, _, _, ids in people.collect() for ns, v in ids],
        "record_id string, source string, namespace string, value string, seen_at timestamp",
    )
    held = still_held(obs, people)
    assert sorted((r["record_id"], r["value"]) for r in held.collect()) == [
        ("crm:1", "+4670"), ("crm:1", "+4670"), ("crm:1", "1"), ("crm:1", "1"),
        ("crm:1", "ann@x.se"), ("loyalty:7", "7"), ("loyalty:7", "mo@x.se"),
    ]  # fmt: skip

    settings = dataclasses.replace(IdentitySettings(), probabilistic_matching=False)

    def profiles(o):
        names = people.select("record_id", F.lit(None).cast("string").alias("first_name_key"))
        r = resolve(spark, names.distinct(), o, settings)
        rows = r.components.join(r.vertices, "id").collect()
        return partition((f"{m['namespace']}:{m['value']}", m["component"]) for m in rows)

    first_night = obs.where(F.col("seen_at") == T0)
    assert frozenset({"crm_id:1", "email:mo@x.se", "phone:+4670", "loyalty_id:7"}) in profiles(
        first_night
    )
    assert profiles(held) == {
        frozenset({"crm_id:1", "email:ann@x.se", "phone:+4670"}),
        frozenset({"loyalty_id:7", "email:mo@x.se"}),
    }


@pytest.mark.slow  # a resolution on inline data; not in make test-fast
def test_a_record_that_tells_nothing_does_not_join_a_mother_and_her_daughter(spark):
    """A nameless, dateless sign-up carries the family email (which only the daughter's own
    records use) and the mother's phone: no identifier is used by both women, so no household
    rule sees it, but the record would join them. Its links are cut (``bridging_record``).
    A nameless record that joins only one person's records (Alva's CRM and loyalty records),
    in the same torn component or beside one person alone, keeps its links."""
    import dataclasses

    from jobs.identity.run import resolve

    obs = obs_frame(
        spark,
        [
            ("crm:1", "crm", "crm_id", "1"),  # Nina
            ("crm:1", "crm", "email", "nina@x.se"),
            ("crm:1", "crm", "phone", "+46701"),
            ("crm:2", "crm", "crm_id", "2"),  # Alva, her daughter
            ("crm:2", "crm", "email", "familjen@x.se"),
            ("crm:2", "crm", "phone", "+46703"),
            ("loyalty:8", "loyalty", "loyalty_id", "8"),  # Alva as a loyalty member
            ("loyalty:8", "loyalty", "email", "alva@x.se"),
            ("crm:7", "crm", "crm_id", "7"),  # nameless too, but joins only Alva to herself
            ("crm:7", "crm", "phone", "+46703"),
            ("crm:7", "crm", "email", "alva@x.se"),
            ("crm:3", "crm", "crm_id", "3"),  # nobody's name, nobody's birth date
            ("crm:3", "crm", "email", "familjen@x.se"),
            ("crm:3", "crm", "phone", "+46701"),
            ("crm:4", "crm", "crm_id", "4"),  # Olof, alone
            ("crm:4", "crm", "email", "olof@x.se"),
            ("crm:5", "crm", "crm_id", "5"),  # nameless, with Olof's email and phone
            ("crm:5", "crm", "email", "olof@x.se"),
            ("crm:5", "crm", "phone", "+46709"),
            ("crm:6", "crm", "crm_id", "6"),
            ("crm:6", "crm", "phone", "+46709"),
        ],
    )
    people = spark.createDataFrame(
        [
            ("crm:1", "nina", "johansson", D(1968, 4, 10)),
            ("crm:2", "alva", "johansson", D(2003, 8, 5)),
            ("loyalty:8", "alva", "johansson", D(2003, 8, 5)),
            ("crm:7", None, "johansson", None),
            ("crm:3", None, "johanson", None),
            ("crm:4", "olof", "berg", D(1950, 1, 2)),
            ("crm:5", None, "berg", None),
            ("crm:6", "olof", "berg", D(1950, 1, 2)),
        ],
        "record_id string, first_name_key string, last_name_key string, birth_date date",
    )
    settings = dataclasses.replace(IdentitySettings(), probabilistic_matching=False)
    r = resolve(spark, people, obs, settings)
    rows = r.components.join(r.vertices, "id").collect()
    got = partition((f"{m['namespace']}:{m['value']}", m["component"]) for m in rows)
    assert got == {
        frozenset({"crm_id:1", "email:nina@x.se", "phone:+46701"}),
        frozenset(
            {"crm_id:2", "email:familjen@x.se", "phone:+46703"}
            | {"crm_id:7", "email:alva@x.se", "loyalty_id:8"}
        ),
        frozenset({"crm_id:3"}),
        frozenset({"crm_id:4", "email:olof@x.se", "crm_id:5", "phone:+46709", "crm_id:6"}),
    }
    cuts = r.cuts.where(F.col("reason") == "bridging_record").collect()
    assert [(c["namespace"], c["value"], c["records"]) for c in cuts] == [("crm_id", "3", 1)]
    assert cuts[0]["detail"].endswith(
        "names or birth dates differ, by email:familjen@x.se, phone:+46701"
    )
