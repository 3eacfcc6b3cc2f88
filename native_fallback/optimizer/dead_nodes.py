"""Dead-node removal: drop pass-through nodes and nodes nothing reads, then unused constants."""

from __future__ import annotations

from ..ir import Graph
from ._graph import consumers, rename_uses

#: Operators that return their first input unchanged at inference.
PASS_THROUGH = frozenset({"Identity", "Dropout"})


def remove_identities(graph: Graph) -> Graph:
    """Bypass Identity and inference Dropout whose output is not a graph output."""
    uses = consumers(graph)
    kept = []
    for node in graph.nodes:
        spare = [o for o in node.outputs[1:] if o and (uses.get(o) or o in graph.outputs)]
        if node.op_type in PASS_THROUGH and node.outputs[0] not in graph.outputs and not spare \
                and node.inputs and node.inputs[0] and len([n for n in node.inputs if n]) == 1:
            rename_uses(graph, node.outputs[0], node.inputs[0])
            continue
        kept.append(node)
    graph.nodes = kept
    return graph


def remove_dead(graph: Graph) -> Graph:
    """Remove nodes none of whose outputs reach a graph output; prune unused initializers."""
    changed = True
    while changed:
        uses = consumers(graph)
        live = [n for n in graph.nodes if any(o in graph.outputs or uses.get(o) for o in n.outputs if o)]
        changed = len(live) != len(graph.nodes)
        graph.nodes = live
    uses = consumers(graph)
    graph.initializers = {k: v for k, v in graph.initializers.items() if k in uses or k in graph.outputs}
    return graph
