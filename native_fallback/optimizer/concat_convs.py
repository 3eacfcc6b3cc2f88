"""Convolutions that only feed a channel Concat write straight into their slice of its output.

SqueezeNet's fire modules, and Inception's blocks, join the outputs of several
convolutions along channels. Each GEMM can write its rows (N,C,H,W) or columns
(N,H,W,C: a leading dimension, which BLAS takes as is) of the joined array, so
the Concat's copy of every joined tensor is never made. The convolutions and
the Concat become one ``ConvConcat`` node, which keeps each convolution's node
(attributes, fused activation, layout flags) to run it.

For the CPU kernels only, after the layout pass: a channel Concat is on axis 3
once that pass made its inputs channels-last.
"""

from __future__ import annotations

from ..ir import Graph, Node
from ..registry import FACADE_DOMAIN
from ._graph import consumers, is_onnx, single_consumer
from .channels_last import is_depthwise, weight_shape


def _joinable(graph: Graph, node: Node) -> bool:
    """A 2-D convolution, not depthwise: its kernels can write a channel slice (the GEMM paths
    directly; Winograd, with a batch above one, through a temporary)."""
    return weight_shape(graph, node) is not None and not is_depthwise(graph, node)


def _channel_axis(concat: Node, convs: list[Node]) -> bool:
    """Whether ``concat`` joins the channel axis of its (same-layout) convolutions' outputs."""
    last = {bool(c.attrs.get("channels_last_out", 0)) for c in convs}
    if len(last) != 1:
        return False
    return concat.attrs.get("axis") in ((3, -1) if last.pop() else (1, -3))


def concat_convs(graph: Graph) -> Graph:
    """Fold each channel Concat of GEMM convolutions (and those convolutions) into one ConvConcat."""
    uses = consumers(graph)
    producers = {o: n for n in graph.nodes for o in n.outputs if o}
    dropped: set[int] = set()
    for concat in graph.nodes:
        if not is_onnx(concat, "Concat") or len(concat.inputs) < 2:
            continue
        convs = [producers.get(name) for name in concat.inputs]
        if not all(c is not None and _joinable(graph, c) and c.outputs[0] == name
                   and single_consumer(graph, uses, name) is concat for c, name in zip(convs, concat.inputs, strict=True)):
            continue
        if not _channel_axis(concat, convs):
            continue
        inputs = [name for c in convs for name in [*c.inputs, "", ""][:3]]
        concat.op_type, concat.domain, concat.inputs = "ConvConcat", FACADE_DOMAIN, inputs
        concat.attrs = {"convs": convs}
        dropped.update(id(c) for c in convs)
    graph.nodes = [n for n in graph.nodes if id(n) not in dropped]
    return graph
