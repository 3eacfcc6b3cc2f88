"""Layout-chain fusion: a run of shape-only nodes (Reshape, Transpose, Squeeze, Unsqueeze, Flatten, and
Gather of one constant index), each the only reader of the one before, becomes one ``Relayout`` node of
the facade domain that applies them in order.

Why: each of these costs well under a microsecond of numpy (a view, at most a copy), but every node is a
step of the schedule at about 1.5 us. A torch-exported attention head splits Q, K and V through four to
six of them apiece (Reshape, Unsqueeze, Transpose, Squeeze, then Gather, Reshape, Transpose, Reshape per
head tensor): nn.TransformerEncoder's two layers carry 30 such steps. The values are unchanged (the same
numpy views and copies, in the same order), so the numbers are bit for bit those of the nodes.

Only nodes whose parameters are constants join a chain (a shape, axes or an index computed at run time
stays its own node); a node read by several, or a graph output, ends the chain.
"""

from __future__ import annotations

from ..ir import Graph, Node
from ..registry import FACADE_DOMAIN
from ._graph import const, consumers, is_onnx, single_consumer

#: Operators a chain may hold; their data input is the first.
LAYOUT_OPS = ("Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten", "Gather")


def _axes(graph: Graph, node: Node) -> tuple[int, ...] | bool | None:
    """Squeeze/Unsqueeze axes from the attribute or a constant input; None for none given (Squeeze: all
    ones), False when they are computed at run time."""
    if len(node.inputs) < 2 or not node.inputs[1]:
        axes = node.attrs.get("axes")
        return tuple(int(a) for a in axes) or None if axes is not None else None
    value = const(graph, node.inputs[1])
    return False if value is None else tuple(int(a) for a in value.reshape(-1)) or None  # empty: none given


def chain_step(graph: Graph, node: Node) -> tuple | None:
    """The ``Relayout`` step of ``node`` (op name and constant parameters), or None when it cannot join."""
    if not is_onnx(node, *LAYOUT_OPS) or len([o for o in node.outputs if o]) != 1:
        return None
    op = node.op_type
    if op == "Transpose":
        perm = node.attrs.get("perm")
        return (op, None if perm is None else tuple(int(p) for p in perm))
    if op == "Flatten":
        return (op, int(node.attrs.get("axis", 1)))
    if op == "Reshape":
        shape = const(graph, node.inputs[1])
        if shape is None:
            return None
        return (op, tuple(int(d) for d in shape.reshape(-1)), bool(node.attrs.get("allowzero", 0)))
    if op == "Gather":
        index = const(graph, node.inputs[1])
        if index is None or index.ndim != 0 or index.dtype.kind not in "iu":
            return None
        return (op, int(node.attrs.get("axis", 0)), int(index))
    axes = _axes(graph, node)
    if axes is False or (op == "Unsqueeze" and axes is None):
        return None
    return (op, axes)


def fuse_layout_chains(graph: Graph) -> Graph:
    """Replace each chain of two or more layout nodes by one Relayout node where its last node stood."""
    uses = consumers(graph)
    steps = {id(n): s for n in graph.nodes if (s := chain_step(graph, n)) is not None}
    follows: dict[int, Node] = {}  # node id -> the layout node that alone reads its output
    for node in graph.nodes:
        if id(node) in steps:
            reader = single_consumer(graph, uses, node.outputs[0])
            if reader is not None and id(reader) in steps and reader.inputs[0] == node.outputs[0] \
                    and node.outputs[0] not in reader.inputs[1:]:
                follows[id(node)] = reader
    led = {id(r) for r in follows.values()}  # nodes that continue a chain (not its head)
    removed: set[int] = set()
    for head in graph.nodes:
        if id(head) not in follows or id(head) in led:
            continue
        chain = [head]
        while id(chain[-1]) in follows:
            chain.append(follows[id(chain[-1])])
        last = chain[-1]
        removed.update(id(n) for n in chain[:-1])
        last.attrs = {"chain": [steps[id(n)] for n in chain]}
        last.op_type, last.domain, last.inputs = "Relayout", FACADE_DOMAIN, [head.inputs[0]]
    graph.nodes = [n for n in graph.nodes if id(n) not in removed]
    return graph
