"""Exact-GELU fusion: the five nodes an exporter writes for x * 0.5 * (1 + erf(x / sqrt 2)) become one
``Gelu`` node of the facade domain (one pass over the tensor instead of five, four fewer steps).

Torch writes ``nn.GELU()`` / ``F.gelu`` as Div(x, sqrt 2) -> Erf -> Add 1 -> Mul x -> Mul 0.5, and
Hugging Face's ``x * 0.5 * (1 + erf(x / sqrt 2))`` as Mul(x, 0.5) multiplied by the Add; either operand
order of every Add and Mul, and Mul by 1/sqrt 2 for the Div, are matched too. Each constant must be a
scalar equal to its value to float32 precision, and every intermediate may have no other reader: any
other graph is left alone.
"""

from __future__ import annotations

import math

from ..ir import Graph, Node
from ..registry import FACADE_DOMAIN
from ._graph import consumers, is_onnx, single_consumer

#: Relative tolerance of the matched constants: float32 rounding of sqrt 2 and 1/sqrt 2 (2^-24 each).
_RTOL = 2.0 ** -22


def _scalar(graph: Graph, name: str, value: float) -> bool:
    """Whether ``name`` is a one-element constant of at most one dimension equal to ``value``."""
    c = graph.initializers.get(name)
    if c is None or c.size != 1 or c.ndim > 1 or c.dtype.kind != "f":
        return False
    return abs(float(c.reshape(-1)[0]) - value) <= _RTOL * abs(value)


def _keeps_shape(graph: Graph, x: str, chain: list[Node]) -> bool:
    """Whether the chain's output has x's shape: a 1-D constant broadcasts a 0-d x to one element, so
    one is only accepted where x is known to have a dimension."""
    flat = any(graph.initializers[n].ndim for node in chain for n in node.inputs if n in graph.initializers)
    return not flat or len(graph.shapes.get(x) or ()) >= 1


def _other(graph: Graph, node: Node, value: float) -> str | None:
    """For a two-input node with constant ``value`` on one side, the name on the other side."""
    if len(node.inputs) != 2:
        return None
    a, b = node.inputs
    if _scalar(graph, b, value):
        return a
    return b if _scalar(graph, a, value) else None


def _erf_input(graph: Graph, producer: dict[str, Node], erf: Node) -> tuple[str, Node] | None:
    """(x, the scaling node) when Erf reads x / sqrt 2 or x * (1 / sqrt 2)."""
    scale = producer.get(erf.inputs[0])
    if is_onnx(scale, "Div") and _scalar(graph, scale.inputs[1], math.sqrt(2)):
        return scale.inputs[0], scale
    if is_onnx(scale, "Mul"):
        x = _other(graph, scale, math.sqrt(0.5))
        if x is not None:
            return x, scale
    return None


def _match(graph: Graph, uses: dict, producer: dict[str, Node], erf: Node) -> tuple[str, list[Node]] | None:
    """(x, the chain's nodes, last one last) of an exact GELU whose Erf is ``erf``, or None."""
    found = _erf_input(graph, producer, erf)
    if found is None:
        return None
    x, scale = found
    add = single_consumer(graph, uses, erf.outputs[0])
    if not is_onnx(add, "Add") or _other(graph, add, 1.0) != erf.outputs[0]:
        return None
    mul = single_consumer(graph, uses, add.outputs[0])
    if not is_onnx(mul, "Mul") or len(mul.inputs) != 2:
        return None
    partner = mul.inputs[1] if mul.inputs[0] == add.outputs[0] else mul.inputs[0]
    if partner == x:  # (x * (1 + erf)) * 0.5
        half = single_consumer(graph, uses, mul.outputs[0])
        if not is_onnx(half, "Mul") or _other(graph, half, 0.5) != mul.outputs[0]:
            return None
        return x, [scale, erf, add, mul, half]
    half = producer.get(partner)  # (x * 0.5) * (1 + erf)
    if not is_onnx(half, "Mul") or _other(graph, half, 0.5) != x or single_consumer(graph, uses, partner) is not mul:
        return None
    return x, [scale, erf, add, half, mul]


def fuse_gelu(graph: Graph) -> Graph:
    """Replace each exported exact-GELU chain by one facade ``Gelu`` node where its last node stood."""
    uses = consumers(graph)
    producer = {o: n for n in graph.nodes for o in n.outputs if o}
    removed: set[int] = set()
    for erf in graph.nodes:
        if not is_onnx(erf, "Erf") or id(erf) in removed:
            continue
        found = _match(graph, uses, producer, erf)
        if found is None:
            continue
        x, chain = found
        if single_consumer(graph, uses, chain[0].outputs[0]) is not erf or not _keeps_shape(graph, x, chain):
            continue
        last = chain[-1]
        removed.update(id(n) for n in chain[:-1])
        last.op_type, last.domain, last.inputs, last.attrs = "Gelu", FACADE_DOMAIN, [x], {}
    graph.nodes = [n for n in graph.nodes if id(n) not in removed]
    return graph

