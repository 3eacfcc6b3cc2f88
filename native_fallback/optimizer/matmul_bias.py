"""MatMul + bias fusion: MatMul(x, W) followed by Add of a constant 1-D bias becomes one ``FusedMatMul``
node of the facade domain, the bias added in place on the product (one step and one temporary fewer per
linear layer; a transformer exports every nn.Linear on a 3-D input this way).

The numbers are those of the two nodes: the same product, then the same float additions. Only a bias of
W's column count is taken (it broadcasts along rows and never changes the product's shape), with W a
2-D constant of the bias's dtype. A fused exact GELU (gelu_fusion, which runs first) that alone reads the
sum joins as the node's ``activation``.
"""

from __future__ import annotations

from ..ir import Graph
from ..registry import FACADE_DOMAIN
from ._graph import consumers, is_onnx, single_consumer


def _bias(graph: Graph, add, product: str, weight) -> str | None:
    """The bias operand of ``add`` when its other operand is ``product`` and it fits ``weight``."""
    if len(add.inputs) != 2 or product not in add.inputs or add.inputs[0] == add.inputs[1]:
        return None
    name = add.inputs[1] if add.inputs[0] == product else add.inputs[0]
    bias = graph.initializers.get(name)
    if bias is None or bias.ndim != 1 or bias.shape[0] != weight.shape[1] or bias.dtype != weight.dtype:
        return None
    return name


def fuse_matmul_bias(graph: Graph) -> Graph:
    """Fuse each MatMul by a 2-D constant with the constant-bias Add that alone reads it."""
    uses = consumers(graph)
    removed: set[int] = set()
    for node in graph.nodes:
        weight = graph.initializers.get(node.inputs[1]) if is_onnx(node, "MatMul") else None
        if weight is None or weight.ndim != 2:
            continue
        add = single_consumer(graph, uses, node.outputs[0])
        bias = _bias(graph, add, node.outputs[0], weight) if is_onnx(add, "Add") else None
        if bias is None:
            continue
        node.op_type, node.domain = "FusedMatMul", FACADE_DOMAIN
        node.inputs, node.outputs = [node.inputs[0], node.inputs[1], bias], list(add.outputs)
        removed.add(id(add))
        gelu = single_consumer(graph, uses, node.outputs[0])
        if gelu is not None and gelu.op_type == "Gelu" and gelu.domain == FACADE_DOMAIN:
            node.attrs = {"activation": "Gelu"}  # the feed-forward's activation, applied to the product
            node.outputs = list(gelu.outputs)
            removed.add(id(gelu))
    graph.nodes = [n for n in graph.nodes if id(n) not in removed]
    return graph
