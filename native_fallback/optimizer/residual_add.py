"""A convolution's residual connection (Conv -> Add/Sum with another tensor -> [Relu]) as one FusedConv
whose epilogue adds the other tensor (input 4) before its activation.

Why: a ResNet block ends in a 1x1 convolution, an Add of the block's input and a Relu: two more full
passes over the block's largest tensor after the convolution wrote it (on ResNet-50, Sum and Relu took
11 of 150 ms at one thread, and the engine's Python pool ran them slower on two threads than on one).
The C epilogue adds the residual and applies the Relu to each piece while it is still in cache. A
residual of another shape (broadcast) or layout is added after the convolution, as Add would.
"""

from __future__ import annotations

from ..ir import Graph, Node
from ..registry import FACADE_DOMAIN
from ._graph import consumers, is_onnx, single_consumer


def _plain_conv(node: Node) -> bool:
    """A Conv, or a FusedConv without an activation, with no residual yet: the Add may follow it."""
    if is_onnx(node, "Conv"):
        return True
    return (node.op_type == "FusedConv" and node.domain == FACADE_DOMAIN and "activation" not in node.attrs
            and not node.attrs.get("residual"))


def fuse_residual_adds(graph: Graph) -> Graph:
    """Fold each two-input Add/Sum that alone reads a plain convolution into it, with the Relu reading
    the sum (when it alone does) as the convolution's activation."""
    uses = consumers(graph)
    removed: set[int] = set()
    at_add: dict[int, Node] = {}  # the Add's place in the order: the residual may be computed after the Conv
    for node in graph.nodes:
        if not _plain_conv(node):
            continue
        add = single_consumer(graph, uses, node.outputs[0])
        if (add is None or id(add) in at_add or not is_onnx(add, "Add", "Sum") or len(add.inputs) != 2
                or add.inputs[0] == add.inputs[1]):
            continue
        other = add.inputs[1] if add.inputs[0] == node.outputs[0] else add.inputs[0]
        inputs = list(node.inputs) + [""] * (3 - len(node.inputs))
        attrs = {**node.attrs, "residual": 1}
        outputs = list(add.outputs)
        relu = single_consumer(graph, uses, add.outputs[0])
        if is_onnx(relu, "Relu"):
            attrs.update(activation="Relu", activation_attrs={})
            outputs = list(relu.outputs)
            removed.add(id(relu))
        node.op_type, node.domain, node.attrs = "FusedConv", FACADE_DOMAIN, attrs
        node.inputs, node.outputs = [*inputs, other], outputs
        removed.add(id(node))
        at_add[id(add)] = node
    graph.nodes = [at_add.get(id(n), n) for n in graph.nodes if id(n) not in removed]
    return graph
