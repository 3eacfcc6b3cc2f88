"""Move a monotone activation after the MaxPool that reads it: Relu -> MaxPool becomes MaxPool -> Relu.

A non-decreasing function commutes with max (and with Concat, when every
input has the same one), so the result is identical, and the activation then
runs once over the pooled tensor: a quarter of the values behind a 2x2 or
3x3/2 window (SqueezeNet's first Relu: 3.1 MB of work becomes 0.8 MB). Runs
before activation fusion, so the convolutions that fed the activation stay
unfused and the activation runs in place over the pool's fresh output.
"""

from __future__ import annotations

from ..ir import Graph, Node
from ._graph import consumers, is_onnx, single_consumer, values_only_pool

#: Activations that never decrease (LeakyRelu only with a non-negative slope).
MONOTONE = frozenset({"Relu", "Clip", "LeakyRelu"})
#: Suffix of the pooled, not yet activated value the pass introduces.
SUFFIX = "/before_activation"


def _monotone(node: Node | None) -> bool:
    if not is_onnx(node, *MONOTONE):
        return False
    return node.op_type != "LeakyRelu" or node.attrs.get("alpha", 0.01) >= 0


def _same(acts: list[Node]) -> bool:
    """One activation, attributes and bound inputs included."""
    first = acts[0]
    return all((a.op_type, a.attrs, a.inputs[1:]) == (first.op_type, first.attrs, first.inputs[1:]) for a in acts)


def sink_activations(graph: Graph) -> Graph:
    """Move the activation(s) feeding each values-only MaxPool, directly or through a Concat, after it."""
    uses = consumers(graph)
    producers = {o: n for n in graph.nodes for o in n.outputs if o}

    def sole_source(name: str, reader: Node) -> Node | None:
        node = producers.get(name)
        return node if node is not None and single_consumer(graph, uses, name) is reader else None

    for pool in list(graph.nodes):
        if not values_only_pool(pool):
            continue
        src = sole_source(pool.inputs[0], pool)
        if _monotone(src):
            acts, concat = [src], None
        elif is_onnx(src, "Concat"):
            acts, concat = [sole_source(name, src) for name in src.inputs], src
            if not all(_monotone(a) for a in acts) or not _same(acts):
                continue
        else:
            continue
        if concat is None:
            pool.inputs = [acts[0].inputs[0]]
        else:
            concat.inputs = [a.inputs[0] for a in acts]
        act, result = acts[0], pool.outputs[0]
        pool.outputs = [result + SUFFIX]
        act.inputs, act.outputs = [result + SUFFIX, *act.inputs[1:]], [result]
        producers[result + SUFFIX], producers[result] = pool, act
        # The activation now runs right after the pool; the others it stood for are gone.
        dropped = {id(a) for a in acts}
        graph.nodes = [n for n in graph.nodes if id(n) not in dropped]
        graph.nodes.insert(graph.nodes.index(pool) + 1, act)
    return graph


def fold_relus_into_pools(graph: Graph) -> Graph:
    """A Relu that alone reads a values-only MaxPool goes into it (its ``relu`` attribute: the C kernel
    starts each window's max at 0, relu(max(w)) = max(0, w)), so no step of its own remains: SqueezeNet's
    three, each after :func:`sink_activations`, took 0.14 of its 8 ms on the 16-core host. A CPU pass: the
    OpenCL pool kernel has no such attribute."""
    uses = consumers(graph)
    dropped = set()
    for pool in graph.nodes:
        if not values_only_pool(pool):
            continue
        relu = single_consumer(graph, uses, pool.outputs[0])
        if relu is None or not is_onnx(relu, "Relu"):
            continue
        pool.attrs = {**pool.attrs, "relu": 1}
        pool.outputs = [relu.outputs[0]]
        dropped.add(id(relu))
    graph.nodes = [n for n in graph.nodes if id(n) not in dropped]
    return graph
