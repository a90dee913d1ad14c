"""Incremental connected components (issue 17): recomputing only the components tonight
touches gives what connected components over the whole graph give, names included; a retired
edge splits the component it held together; untouched components are not recomputed."""

from __future__ import annotations

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobs.identity.components import connected_components
from jobs.identity.incremental import update_components


def _edges(spark, pairs):
    return spark.createDataFrame(list(pairs) or [], "src long, dst long")


def _ids(spark, ids):
    return spark.createDataFrame([(i,) for i in ids], "id long")


def _full(spark, vertices, pairs) -> dict[int, int]:
    return _as_dict(connected_components(spark, _ids(spark, vertices), _edges(spark, pairs)))


def _networkx(vertices, pairs) -> dict[int, int]:
    """Connected components named by their smallest vertex, from first principles (the
    project's engine is checked against networkx in tests/test_identity_graph.py)."""
    g = nx.Graph()
    g.add_nodes_from(vertices)
    g.add_edges_from(pairs)
    return {v: min(c) for c in nx.connected_components(g) for v in c}


def _incremental(spark, vertices, stored, new_vertices, added, retired):
    # Last night's components as the full build left them; only tonight's step runs Spark.
    previous = spark.createDataFrame(
        sorted(_networkx(vertices, stored).items()), "id long, component long"
    )
    return update_components(
        spark,
        previous,
        _edges(spark, stored),
        _edges(spark, added),
        _edges(spark, retired),
        _ids(spark, new_vertices),
    )


def _as_dict(df) -> dict[int, int]:
    return {r["id"]: r["component"] for r in df.collect()}


def test_only_the_components_tonight_touches_are_recomputed(spark):
    # Three components: {1,2,3}, {10,11}, {20,21,22}. Tonight 3-10 joins the first two and a
    # new vertex 30 arrives alone; {20,21,22} is not touched.
    stored = [(1, 2), (2, 3), (10, 11), (20, 21), (21, 22)]
    vertices = [1, 2, 3, 10, 11, 20, 21, 22]
    result = _incremental(spark, vertices, stored, [30], added=[(3, 10)], retired=[])

    assert _as_dict(result.touched) == {1: 1, 2: 1, 3: 1, 10: 1, 11: 1, 30: 30}
    after = _as_dict(result.components)
    assert after == _networkx([*vertices, 30], [*stored, (3, 10)])
    assert {after[v] for v in (20, 21, 22)} == {20}  # carried over, name and all


def test_a_retired_edge_splits_the_profile_it_held_together(spark):
    # An email corrected in the CRM: the record no longer links 2 and 3, which only it linked.
    stored = [(1, 2), (2, 3), (3, 4), (40, 41)]
    vertices = [1, 2, 3, 4, 40, 41]
    result = _incremental(spark, vertices, stored, [], added=[], retired=[(3, 2)])

    after = _as_dict(result.components)
    assert after == {1: 1, 2: 1, 3: 3, 4: 3, 40: 40, 41: 40}
    assert after == _networkx(vertices, [(1, 2), (3, 4), (40, 41)])
    assert set(_as_dict(result.touched)) == {1, 2, 3, 4}
    assert sorted((r["src"], r["dst"]) for r in result.edges.collect()) == [
        (1, 2),
        (3, 4),
        (40, 41),
    ]


def test_an_edge_retired_and_another_added_the_same_night(spark):
    # The corrected email now links 3 to another person's component: 3 and 4 move there.
    stored = [(1, 2), (2, 3), (3, 4), (7, 8)]
    vertices = [1, 2, 3, 4, 7, 8]
    result = _incremental(spark, vertices, stored, [], added=[(3, 8)], retired=[(2, 3)])
    assert _as_dict(result.components) == _networkx(vertices, [(1, 2), (3, 4), (7, 8), (3, 8)])
    assert _as_dict(result.components)[4] == 3


GRAPH = st.lists(st.tuples(st.integers(1, 24), st.integers(1, 24)), max_size=30)


# Slow: each example runs connected components three times (incremental, full, previous).
@pytest.mark.slow
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stored=GRAPH, added=GRAPH, retire=st.lists(st.integers(0, 29), max_size=6))
def test_incremental_equals_connected_components_over_the_whole_graph(spark, stored, added, retire):
    stored = sorted({(min(a, b), max(a, b)) for a, b in stored if a != b})
    retired = [stored[i] for i in retire if i < len(stored)]
    vertices = sorted({v for e in stored for v in e} | {1})
    new_vertices = sorted({v for e in added for v in e} - set(vertices))
    result = _incremental(spark, vertices, stored, new_vertices, added, retired)

    after = _as_dict(result.components)
    graph = [e for e in stored if e not in set(retired)] + [e for e in added if e[0] != e[1]]
    assert after == _full(spark, vertices + new_vertices, graph)
    assert after == _networkx(vertices + new_vertices, graph)
