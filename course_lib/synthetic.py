"""A synthetic language whose entropy is known exactly: random walks on a random graph.

The text is a walk on an undirected graph whose nodes are the tokens: from node ``v`` the
next token is one of ``v``'s ``deg(v)`` neighbours, each with probability ``1 / deg(v)``.
The walk is a Markov chain, so the best possible model needs only the previous token and
pays ``ln deg(v)`` nats for the next one. Started from its stationary distribution
``pi(v) = deg(v) / 2|E|``, the chain's entropy rate (Cover and Thomas, *Elements of
Information Theory*, 2nd ed., section 4.3) is

    H = sum_v pi(v) ln deg(v) = sum_v deg(v) ln deg(v) / 2|E|      nats per token,

the irreducible loss that no language model can beat on this text. Chapter 05 trains GPTs
of several sizes on such a corpus and compares the floor ``E`` of a fitted
``L(N) = E + A N**-alpha`` with this number.

Everything random takes a seed: the same seed gives the same graph and the same corpus.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .validation import check_fraction, check_int, check_positive

__all__ = [
    "Graph",
    "random_graph",
    "stationary_distribution",
    "entropy_rate",
    "random_walk",
    "random_walk_corpus",
    "empirical_entropy_rate",
    "oracle_loss",
]


@dataclass(frozen=True)
class Graph:
    """An undirected simple graph in compressed form (no self-loops, no repeated edges).

    Attributes:
        n_nodes: number of nodes; they are the tokens ``0 .. n_nodes - 1``.
        offsets: (n_nodes + 1,) int64; the neighbours of ``v`` are
            ``neighbors[offsets[v]:offsets[v + 1]]``.
        neighbors: (2 |E|,) int64, each node's neighbours in increasing order.
    """

    n_nodes: int
    offsets: np.ndarray
    neighbors: np.ndarray

    @property
    def degrees(self) -> np.ndarray:
        """(n_nodes,) int64: deg(v), the number of neighbours of each node."""
        return np.diff(self.offsets)

    @property
    def n_edges(self) -> int:
        """|E|, the number of undirected edges."""
        return int(len(self.neighbors) // 2)

    def neighbors_of(self, v: int) -> np.ndarray:
        """The neighbours of node ``v`` (sorted int64 array)."""
        if not 0 <= v < self.n_nodes:
            raise ValueError(f"node {v} is not in the graph (nodes are 0..{self.n_nodes - 1}).")
        return self.neighbors[self.offsets[v]:self.offsets[v + 1]]

    def __repr__(self) -> str:
        d = self.degrees
        return (f"Graph(n_nodes={self.n_nodes}, n_edges={self.n_edges}, degree min/mean/max = "
                f"{d.min()}/{d.mean():.2f}/{d.max()})")


def random_graph(n_nodes: int, mean_degree: float, seed: int = 0) -> Graph:
    """A connected random graph: a random Hamiltonian cycle plus Erdős–Rényi edges.

    The cycle through all nodes in a random order guarantees that the graph is connected
    (every node has degree >= 2, so the walk never gets stuck); on top of it each other
    pair of nodes is joined independently with the probability that brings the mean
    degree to ``mean_degree``. Degrees therefore vary from node to node (roughly
    2 + Poisson), which makes the entropy rate more interesting than ``ln d`` of a
    regular graph.

    Args:
        n_nodes: number of nodes (tokens), at least 3.
        mean_degree: target mean degree, at least 2 (the cycle alone) and below n_nodes - 1.
        seed: seeds the cycle and the extra edges.

    Returns:
        A ``Graph``.
    """
    n = check_int(n_nodes, "n_nodes", minimum=3)
    check_positive(mean_degree, "mean_degree")
    if not 2 <= mean_degree < n - 1:
        raise ValueError(f"mean_degree must be in [2, n_nodes - 1) = [2, {n - 1}), got {mean_degree}; "
                         "2 is the cycle alone, n_nodes - 1 the complete graph.")
    rng = np.random.default_rng(seed)
    adj = np.zeros((n, n), dtype=bool)
    order = rng.permutation(n)
    adj[order, np.roll(order, -1)] = True  # the cycle
    p = (mean_degree - 2) / (n - 3)  # each non-cycle pair; n - 3 such pairs per node
    upper = np.triu(rng.random((n, n)) < p, k=1)
    adj |= upper
    adj |= adj.T
    np.fill_diagonal(adj, False)
    rows, cols = np.nonzero(adj)  # row-major: sorted by node, then by neighbour
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=offsets[1:])
    return Graph(n, offsets, cols.astype(np.int64))


def _check_graph(graph) -> Graph:
    if not isinstance(graph, Graph):
        raise ValueError(f"graph must be a course_lib.synthetic.Graph (see random_graph), got {type(graph).__name__}.")
    if np.any(graph.degrees < 1):
        raise ValueError("every node needs at least one neighbour, or the walk gets stuck.")
    return graph


def stationary_distribution(graph: Graph) -> np.ndarray:
    """(n_nodes,) float64: pi(v) = deg(v) / 2|E|, the walk's stationary distribution."""
    d = _check_graph(graph).degrees.astype(np.float64)
    return d / d.sum()


def entropy_rate(graph: Graph) -> float:
    """Exact entropy rate of the stationary random walk, in nats per token.

    ``H = sum_v deg(v) ln deg(v) / 2|E|``: the mean, over the stationary distribution, of
    the entropy ``ln deg(v)`` of a uniform choice among ``deg(v)`` neighbours.
    """
    d = _check_graph(graph).degrees.astype(np.float64)
    return float(np.sum(d * np.log(d)) / d.sum())


def random_walk(graph: Graph, length: int, seed: int = 0) -> np.ndarray:
    """A random walk of ``length`` nodes, the first drawn from the stationary distribution.

    Each next node is a uniformly random neighbour of the current one.

    Returns:
        (length,) int64 node ids.
    """
    graph = _check_graph(graph)
    length = check_int(length, "length", minimum=1)
    rng = np.random.default_rng(seed)
    start = int(rng.choice(graph.n_nodes, p=stationary_distribution(graph)))
    u = rng.random(length - 1).tolist()  # one uniform number per step
    offsets = graph.offsets.tolist()
    neighbors = graph.neighbors.tolist()
    walk = [start]
    v = start
    for x in u:  # plain Python lists: about ten times faster than indexing numpy arrays
        lo = offsets[v]
        v = neighbors[lo + int(x * (offsets[v + 1] - lo))]
        walk.append(v)
    return np.asarray(walk, dtype=np.int64)


def random_walk_corpus(graph: Graph, n_tokens: int, seed: int = 0, val_fraction: float = 0.1):
    """A training and a validation corpus of token ids from one long walk on ``graph``.

    The validation part is the last ``val_fraction`` of the walk, as for text.

    Returns:
        (train, val): 1-D int64 tensors of node ids, ready for ``course_lib.train.train``.
    """
    n_tokens = check_int(n_tokens, "n_tokens", minimum=20)
    check_fraction(val_fraction, "val_fraction")
    walk = torch.from_numpy(random_walk(graph, n_tokens, seed))
    n_val = max(2, int(n_tokens * val_fraction))
    return walk[: n_tokens - n_val], walk[n_tokens - n_val:]


def empirical_entropy_rate(tokens, n_nodes: int) -> float:
    """Plug-in estimate of the per-step entropy (nats) of a first-order Markov sequence.

    ``-sum_{a,b} c(a,b)/n ln(c(a,b)/c(a))`` from the counts of consecutive pairs: the
    conditional entropy of the next token given the previous one, as measured on the
    sequence. It converges to ``entropy_rate`` for a long walk (from slightly below: the
    plug-in estimator is biased low).
    """
    t = torch.as_tensor(tokens).long().cpu().numpy().ravel() if not isinstance(tokens, np.ndarray) else tokens.ravel()
    n_nodes = check_int(n_nodes, "n_nodes", minimum=1)
    if len(t) < 2:
        raise ValueError("need at least two tokens to count transitions.")
    if t.min() < 0 or t.max() >= n_nodes:
        raise ValueError(f"tokens must lie in 0..{n_nodes - 1}.")
    pair = np.bincount(t[:-1] * n_nodes + t[1:], minlength=n_nodes * n_nodes).astype(np.float64)
    pair = pair.reshape(n_nodes, n_nodes)
    row = pair.sum(axis=1, keepdims=True)
    mask = pair > 0
    return float(-np.sum(pair[mask] * np.log((pair / np.where(row > 0, row, 1.0))[mask])) / pair.sum())


def oracle_loss(graph: Graph, tokens) -> float:
    """Mean cross-entropy (nats per token) of the model that knows the graph, on ``tokens``.

    It predicts each next token with probability ``1 / deg(previous)``, so its loss is the
    mean of ``ln deg(v_t)`` over the positions; no model can do better on average. Raises
    ValueError if ``tokens`` steps between nodes that are not neighbours.
    """
    graph = _check_graph(graph)
    t = torch.as_tensor(tokens).long().cpu().numpy().ravel()
    if len(t) < 2:
        raise ValueError("need at least two tokens.")
    if t.min() < 0 or t.max() >= graph.n_nodes:
        raise ValueError(f"tokens must lie in 0..{graph.n_nodes - 1}.")
    prev, nxt = t[:-1], t[1:]
    edges = np.repeat(np.arange(graph.n_nodes, dtype=np.int64), graph.degrees) * graph.n_nodes + graph.neighbors
    if not np.all(np.isin(prev * graph.n_nodes + nxt, edges)):
        raise ValueError("tokens contain a step between nodes that are not neighbours; is this a walk on this graph?")
    return float(np.mean(np.log(graph.degrees[prev].astype(np.float64))))
