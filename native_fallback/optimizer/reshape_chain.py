"""Reshape/Transpose chain simplification.

Reshape(Reshape(x)) is one Reshape; Transpose(Transpose(x)) is one Transpose with
the composed permutation, or nothing at all when that is the identity.
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph
from ._graph import consumers, rename_uses, single_consumer


def simplify_chains(graph: Graph) -> Graph:
    """Collapse consecutive Reshapes and consecutive Transposes."""
    uses = consumers(graph)
    removed = set()
    for first in graph.nodes:
        if first.op_type not in ("Reshape", "Transpose") or id(first) in removed:
            continue
        second = single_consumer(graph, uses, first.outputs[0])
        if second is None or second.op_type != first.op_type or second.inputs[0] != first.outputs[0]:
            continue
        if first.op_type == "Reshape":
            shape = graph.initializers.get(second.inputs[1])
            if shape is None or np.any(shape == 0):  # a 0 copies a dim of the intermediate shape
                continue
            second.inputs = [first.inputs[0], second.inputs[1]]
        else:
            p1, p2 = first.attrs.get("perm"), second.attrs.get("perm")
            if p1 is None or p2 is None:
                continue
            perm = [p1[i] for i in p2]
            if perm == sorted(perm) and second.outputs[0] not in graph.outputs:
                rename_uses(graph, second.outputs[0], first.inputs[0])
                removed.add(id(second))
            else:
                second.inputs = [first.inputs[0]]
                second.attrs = {**second.attrs, "perm": perm}
        removed.add(id(first))
    graph.nodes = [n for n in graph.nodes if id(n) not in removed]
    return graph
