"""Squeeze-and-excite as one node: GlobalAveragePool, two 1x1 convolutions and the Mul that scales
the pooled tensor by their result (MobileNetV3, EfficientNet).

Why: on a small model each of those four steps is microseconds of arithmetic and microseconds of
dispatch (MobileNetV3 at 64x64: five blocks, 20 of its 38 steps); the ``SqueezeExcite`` kernel is
one conv.c call. For the CPU kernels only, after activation fusion: the convolutions are Conv or
FusedConv over N,C,H,W (no layout flags), with constant weights, each read by nothing else.
"""

from __future__ import annotations

from ..ir import Graph, Node
from ..registry import FACADE_DOMAIN
from ._graph import const, consumers, is_onnx, single_consumer


def _pointwise(graph: Graph, node: Node | None) -> bool:
    """A plain N,C,H,W 1x1 convolution with constant weights (and bias), as the kernel computes it."""
    if node is None or node.op_type not in ("Conv", "FusedConv") or len(node.inputs) < 2:
        return False
    w = const(graph, node.inputs[1])
    a = node.attrs
    return (w is not None and w.ndim == 4 and w.shape[2:] == (1, 1) and a.get("group", 1) == 1
            and all(s == 1 for s in a.get("strides", (1, 1))) and not any(a.get("pads", ()))
            and a.get("auto_pad", "NOTSET") in ("NOTSET", "", "VALID") and all(d == 1 for d in a.get("dilations", (1, 1)))
            and not a.get("channels_last_in") and not a.get("channels_last_out")
            and (len(node.inputs) < 3 or not node.inputs[2] or const(graph, node.inputs[2]) is not None))


def squeeze_excite(graph: Graph) -> Graph:
    """Fold each GlobalAveragePool -> 1x1 -> 1x1 -> Mul(x, scale) chain over one x into a SqueezeExcite."""
    uses = consumers(graph)
    producers = {o: n for n in graph.nodes for o in n.outputs if o}
    dropped: set[int] = set()
    for mul in graph.nodes:
        if not is_onnx(mul, "Mul") or len(mul.inputs) != 2:
            continue
        for x, scale in (mul.inputs, mul.inputs[::-1]):
            second = producers.get(scale)
            first = producers.get(second.inputs[0]) if second is not None and second.inputs else None
            pool = producers.get(first.inputs[0]) if first is not None and first.inputs else None
            chain = (pool, first, second)
            if not (is_onnx(pool, "GlobalAveragePool") and pool.inputs[0] == x and _pointwise(graph, first)
                    and _pointwise(graph, second) and not any(pool.attrs.get(k) for k in ("channels_last_in",
                                                                                          "channels_last_out"))):
                continue
            w1, w2 = const(graph, first.inputs[1]), const(graph, second.inputs[1])
            if w2.shape[:2] != (w1.shape[1], w1.shape[0]):  # the scale must have x's channels
                continue
            if any(single_consumer(graph, uses, n.outputs[0]) is not reader
                   for n, reader in zip(chain, (first, second, mul), strict=True)):
                continue
            bias = [(n.inputs[2] if len(n.inputs) > 2 else "") for n in (first, second)]
            mul.op_type, mul.domain = "SqueezeExcite", FACADE_DOMAIN
            mul.inputs = [x, first.inputs[1], bias[0], second.inputs[1], bias[1]]
            mul.attrs = {"convs": [first, second]}
            dropped.update(id(n) for n in chain)
            break
    graph.nodes = [n for n in graph.nodes if id(n) not in dropped]
    return graph
