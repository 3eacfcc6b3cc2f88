"""Steps that compute nothing new: a node repeating an earlier one, and a multiply or divide by one.

Exporters emit both. torch's nn.TransformerEncoder rebuilds the attention mask (Reshape, Expand,
Reshape of one Where) in every layer; Hugging Face's Whisper scales Q and K by a constant 1.0. Each is a
schedule step at about 1.5 us plus its kernel. Both rewrites keep every number: a repeated node has the
same inputs and attributes, so the same outputs, and x * 1 and x / 1 are x exactly in IEEE arithmetic
(NaN, infinities and -0 included).
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from ._graph import consumers, is_onnx, rename_uses
from .constant_folding import NONDETERMINISTIC


def _plain(value: object) -> bool:
    """An attribute value compared safely by equality (no tensors, no subgraphs)."""
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return isinstance(value, (int, float, str, bytes)) or value is None


#: Constants up to this many elements are compared by value (exporters give each layer its own copy of a
#: shape); larger ones, the weights, by name.
_BY_VALUE = 64


def _operand(graph: Graph, name: str) -> object:
    """An input as compared: a small constant by dtype, shape and bytes, anything else by name."""
    c = graph.initializers.get(name)
    if not isinstance(c, np.ndarray) or c.size > _BY_VALUE or c.dtype.kind not in "biuf":  # a sequence: by name
        return name
    return c.dtype.str, c.shape, c.tobytes()


def _key(graph: Graph, node: Node) -> tuple | None:
    """What makes two nodes compute the same values, or None for a node never merged."""
    if node.op_type in NONDETERMINISTIC or not all(_plain(v) for v in node.attrs.values()):
        return None
    attrs = tuple(sorted((k, repr(v)) for k, v in node.attrs.items()))
    inputs = tuple(_operand(graph, n) for n in node.inputs)
    return node.domain or "", node.op_type, inputs, attrs, len(node.outputs)


def _renamable(uses: dict[str, list[Node]], name: str) -> bool:
    """Whether every reader of ``name`` reads it as a direct input: a control-flow body reads outer values
    by name, which renaming the node's inputs would not reach."""
    return not any(isinstance(v, Graph) or (isinstance(v, list) and v and isinstance(v[0], Graph))
                   for reader in uses.get(name, ()) for v in reader.attrs.values())


def merge_duplicates(graph: Graph) -> Graph:
    """Drop each node whose op, attributes and inputs repeat an earlier node's; its readers read the earlier
    outputs. Repeats of repeats merge too, since readers are renamed before they are compared."""
    uses = consumers(graph)
    seen: dict[tuple, Node] = {}
    kept = []
    for node in graph.nodes:
        key = _key(graph, node)
        first = seen.get(key) if key is not None else None
        if first is None or any(o in graph.outputs or not _renamable(uses, o) for o in node.outputs if o):
            if key is not None:
                seen.setdefault(key, node)
            kept.append(node)
            continue
        for mine, theirs in zip(node.outputs, first.outputs, strict=True):
            if mine:
                rename_uses(graph, mine, theirs)
    graph.nodes = kept
    return graph


def _is_one(graph: Graph, name: str, x: str) -> bool:
    """A constant 1 that leaves x's shape and dtype alone: 0-d, or 1-element of no more dims than x has."""
    c = graph.initializers.get(name)
    if c is None or c.size != 1 or c.dtype.kind not in "fiu" or not np.all(c == 1):
        return False
    return c.ndim == 0 or len(graph.shapes.get(x) or ()) >= c.ndim


def drop_unit_scaling(graph: Graph) -> Graph:
    """Bypass Mul by a constant 1 (either side) and Div by a constant 1 whose output is not a graph output."""
    uses = consumers(graph)
    kept = []
    for node in graph.nodes:
        x = None
        if is_onnx(node, "Mul", "Div") and len(node.inputs) == 2 and node.outputs[0] not in graph.outputs:
            a, b = node.inputs
            if _is_one(graph, b, a):
                x = a
            elif node.op_type == "Mul" and _is_one(graph, a, b):
                x = b
        if x is not None and x not in graph.initializers and _renamable(uses, node.outputs[0]):
            rename_uses(graph, node.outputs[0], x)
            continue
        kept.append(node)
    graph.nodes = kept
    return graph
