"""Graph queries the passes share: who consumes a value, renaming uses, constants."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from ..ir import Graph, Node
from ..planner import node_reads


def is_onnx(node: Node | None, *ops: str) -> bool:
    """A node of the default ONNX domain whose op is one of ``ops``."""
    return node is not None and node.op_type in ops and node.domain in ("", "ai.onnx")


def values_only_pool(node: Node, ops: tuple[str, ...] = ("MaxPool",)) -> bool:
    """A pool among ``ops`` returning its values alone: MaxPool's indices are N,C,H,W positions of
    pre-activation values, so neither moving an activation past it nor a layout change keeps them."""
    return is_onnx(node, *ops) and len([o for o in node.outputs if o]) == 1


def consumers(graph: Graph) -> dict[str, list[Node]]:
    """Value name -> nodes that read it (subgraph reads count)."""
    found: dict[str, list[Node]] = defaultdict(list)
    for node in graph.nodes:
        for name in node_reads(node):
            found[name].append(node)
    return found


def single_consumer(graph: Graph, uses: dict[str, list[Node]], name: str) -> Node | None:
    """The only reader of ``name``, or None when it has several or is a graph output."""
    readers = uses.get(name, [])
    if name in graph.outputs or len(readers) != 1:
        return None
    return readers[0]


def rename_uses(graph: Graph, old: str, new: str) -> None:
    """Make every reader of ``old`` read ``new`` instead (top-level nodes only)."""
    for node in graph.nodes:
        node.inputs = [new if n == old else n for n in node.inputs]


def const(graph: Graph, name: str) -> np.ndarray | None:
    """The initializer named ``name``, if any."""
    return graph.initializers.get(name) if name else None
