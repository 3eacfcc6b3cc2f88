"""A 1x1 convolution read only by a depthwise one writes that convolution's padded input directly.

In an inverted-residual block (MobileNetV2, MnasNet, EfficientNet) the 1x1 expansion's
output is the block's largest tensor, six times its input. The depthwise convolution
then copies all of it into zero-padded column phases before its taps run
(``ops/conv.py``). As one ``PointwiseDepthwise`` node, the expansion's GEMM writes
those phases itself (its input is copied in their pixel order, with zeros at the
padding), so that copy is never made.

For the CPU kernels only, after the layout pass: the tensor between the two must be
channels-last, and the 1x1's activation must map 0 to 0, or the padding would not
stay zero.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..ir import Graph, Node
from ..ops.activation import in_place_activation
from ..registry import FACADE_DOMAIN
from ._graph import consumers, single_consumer
from .channels_last import is_depthwise, is_pointwise


def _keeps_zero(node: Node) -> bool:
    """Whether the activation fused into ``node`` (if any) maps 0 to 0: Relu, Clip around 0, LeakyRelu..."""
    if "activation" not in node.attrs:
        return True
    act = in_place_activation(node.attrs["activation"], node.attrs.get("activation_attrs", {}))
    return bool(act(np.zeros(1, np.float32))[0] == 0)


def _fusable(graph: Graph, pointwise: Node | None, depthwise: Node) -> bool:
    return (pointwise is not None and is_pointwise(graph, pointwise) and pointwise.attrs.get("group", 1) == 1
            and all(s == 1 for s in pointwise.attrs.get("strides", (1, 1)))
            and pointwise.attrs.get("channels_last_out") and depthwise.attrs.get("channels_last_in")
            and _keeps_zero(pointwise))


def pointwise_depthwise(graph: Graph) -> Graph:
    """Fold each channels-last 1x1 -> depthwise pair, the 1x1 read by nothing else, into one node."""
    uses = consumers(graph)
    producers = {n.outputs[0]: n for n in graph.nodes if n.outputs}
    dropped: set[int] = set()
    for node in graph.nodes:
        if not is_depthwise(graph, node):
            continue
        first = producers.get(node.inputs[0])
        if not _fusable(graph, first, node) or single_consumer(graph, uses, node.inputs[0]) is not node:
            continue
        second = dataclasses.replace(node, inputs=list(node.inputs), attrs=dict(node.attrs))
        node.op_type, node.domain = "PointwiseDepthwise", FACADE_DOMAIN
        node.inputs = [*[*first.inputs, ""][:3], *[*second.inputs, ""][1:3]]
        node.attrs = {"convs": [first, second]}
        dropped.add(id(first))
    graph.nodes = [n for n in graph.nodes if id(n) not in dropped]
    return graph
