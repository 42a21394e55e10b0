"""course_lib.synthetic: the random-walk language and its exact entropy rate."""
import math

import numpy as np
import pytest
import torch

from course_lib.synthetic import (Graph, empirical_entropy_rate, entropy_rate, oracle_loss, random_graph,
                                  random_walk, random_walk_corpus, stationary_distribution)


def test_graph_is_simple_undirected_connected_and_seeded():
    g = random_graph(60, 6.0, seed=3)
    adj = np.zeros((60, 60), dtype=bool)
    for v in range(60):
        nb = g.neighbors_of(v)
        assert v not in nb and len(set(nb.tolist())) == len(nb)  # no self-loops, no repeated edges
        adj[v, nb] = True
    assert (adj == adj.T).all()
    seen, frontier = {0}, [0]
    while frontier:  # breadth-first search reaches every node
        v = frontier.pop()
        for u in g.neighbors_of(v).tolist():
            if u not in seen:
                seen.add(u)
                frontier.append(u)
    assert len(seen) == 60
    assert g.degrees.min() >= 2 and 4.5 < g.degrees.mean() < 7.5
    assert np.array_equal(random_graph(60, 6.0, seed=3).neighbors, g.neighbors)
    assert not np.array_equal(random_graph(60, 6.0, seed=4).neighbors, g.neighbors)


def test_entropy_rate_of_regular_graphs_and_a_star():
    # a cycle: every degree is 2, so every step costs ln 2
    cycle = Graph(5, np.arange(0, 11, 2), np.array([1, 4, 0, 2, 1, 3, 2, 4, 0, 3]))
    assert entropy_rate(cycle) == pytest.approx(math.log(2))
    # a star with 3 leaves: pi(centre) = 1/2 (ln 3 per step), leaves are forced (0 nats)
    star = Graph(4, np.array([0, 3, 4, 5, 6]), np.array([1, 2, 3, 0, 0, 0]))
    assert entropy_rate(star) == pytest.approx(0.5 * math.log(3))
    assert stationary_distribution(star).tolist() == [0.5, 1 / 6, 1 / 6, 1 / 6]


def test_long_walk_matches_the_formula():
    g = random_graph(40, 5.0, seed=1)
    walk = random_walk(g, 200_000, seed=2)
    h = entropy_rate(g)
    assert abs(empirical_entropy_rate(walk, g.n_nodes) - h) < 0.02
    assert abs(oracle_loss(g, walk) - h) < 0.02
    # the walk visits nodes in proportion to their degree
    freq = np.bincount(walk, minlength=40) / len(walk)
    assert np.abs(freq - stationary_distribution(g)).max() < 0.01


def test_walk_only_uses_edges_and_corpus_splits():
    g = random_graph(30, 4.0, seed=0)
    train, val = random_walk_corpus(g, 1000, seed=5, val_fraction=0.2)
    assert train.dtype == torch.int64 and len(train) == 800 and len(val) == 200
    walk = torch.cat([train, val]).numpy()
    assert np.array_equal(walk, random_walk(g, 1000, seed=5))
    for a, b in zip(walk[:-1], walk[1:]):
        assert b in g.neighbors_of(int(a))
    oracle_loss(g, walk)  # a real walk is accepted
    with pytest.raises(ValueError, match="not neighbours"):
        oracle_loss(g, np.array([0, 0, 0]))


def test_bad_input_raises_value_error():
    with pytest.raises(ValueError, match="mean_degree"):
        random_graph(10, 1.0)
    with pytest.raises(ValueError, match="n_nodes"):
        random_graph(2, 2.0)
    with pytest.raises(ValueError, match="Graph"):
        entropy_rate("not a graph")
    with pytest.raises(ValueError, match="length"):
        random_walk(random_graph(10, 3.0), 0)
    with pytest.raises(ValueError, match="mean_degree"):
        random_graph(10, float("nan"))
    with pytest.raises(ValueError, match="n_nodes"):
        random_graph(True, 2.0)  # a bool is not a count
    with pytest.raises(ValueError, match="n_tokens"):
        random_walk_corpus(random_graph(10, 3.0), 10)
    with pytest.raises(ValueError, match="val_fraction"):
        random_walk_corpus(random_graph(10, 3.0), 1000, val_fraction=1.0)
    with pytest.raises(ValueError, match="n_nodes"):
        empirical_entropy_rate(np.array([0, 1, 0]), 2.5)
