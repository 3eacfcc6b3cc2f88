"""Channels-last (N,H,W,C) tensors around depthwise convolutions, for the numpy CPU kernels.

Why: a depthwise tap multiplies each channel by its own weight. In N,C,H,W that
weight changes with every plane, so numpy either loops over channels or streams
a plane-sized copy of each weight; in N,H,W,C one output row's weights are a
short vector every row reuses, and a tap is one long multiply-add. A 1x1
convolution reads and writes either layout at no cost (a transposed GEMM
operand is a BLAS flag). So the tensor a 1x1 convolution hands to a depthwise
one (or an ungrouped im2col convolution, its GEMM swapped), and the one the
depthwise hands to a 1x1, become channels-last: the inverted-residual and
ShuffleNet blocks of mobile networks never transpose.

Only the convolutions at both ends see such a tensor, and it is renamed, so a
dump of intermediates never shows an N,H,W,C array under an ONNX value's name.
OpenCL programs do not run this pass: their kernels are N,C,H,W only.
"""

from __future__ import annotations

import itertools

from ..ir import Graph, Node
from ..ops.conv import winograd_shaped
from ..registry import FACADE_DOMAIN
from ._graph import const, consumers, is_onnx, single_consumer, values_only_pool

_CONVS = {("Conv", ""), ("Conv", "ai.onnx"), ("FusedConv", FACADE_DOMAIN)}
#: Elementwise operators that read and write any layout alike (their other inputs are scalars).
LAYOUT_FREE = frozenset({"Relu", "LeakyRelu", "Clip", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Elu"})
#: Suffix of a value the pass made channels-last.
SUFFIX = "/channels_last"


def weight_shape(graph: Graph, node: Node) -> tuple[int, ...] | None:
    """The constant 4-D weight shape of a 2-D convolution, or None."""
    if (node.op_type, node.domain) not in _CONVS or len(node.inputs) < 2:
        return None
    w = const(graph, node.inputs[1])
    return None if w is None or w.ndim != 4 else tuple(w.shape)


def is_pointwise(graph: Graph, node: Node) -> bool:
    """A 2-D 1x1 convolution with no padding (any stride or group)."""
    shape = weight_shape(graph, node)
    return (shape is not None and shape[2:] == (1, 1) and not any(node.attrs.get("pads", ()))
            and node.attrs.get("auto_pad", "NOTSET") in ("NOTSET", "", "VALID"))


def writes_channels_last(graph: Graph, node: Node) -> bool:
    """A 2-D convolution whose GEMM produces N,H,W,C at no cost: 1x1, or ungrouped and not Winograd's.

    A Winograd convolution would need a transposing pass; the depthwise convolution
    transposes for free instead, while it pads its input.
    """
    shape = weight_shape(graph, node)
    if shape is None:
        return False
    return is_pointwise(graph, node) or (node.attrs.get("group", 1) == 1 and not winograd_shaped(
        shape, 1, node.attrs.get("strides", (1, 1)), node.attrs.get("dilations", (1, 1))))


def is_depthwise(graph: Graph, node: Node) -> bool:
    """A 2-D convolution with one input channel per group and one output channel per group."""
    shape = weight_shape(graph, node)
    return shape is not None and shape[1] == 1 and node.attrs.get("group", 1) == shape[0]


def is_pool(node: Node) -> bool:
    """A 2-D MaxPool or AveragePool that returns values only."""
    return values_only_pool(node, ("MaxPool", "AveragePool")) and len(node.attrs.get("kernel_shape", ())) == 2


def _layout_free(node: Node) -> bool:
    return is_onnx(node, *LAYOUT_FREE)


def is_channel_concat(node: Node) -> bool:
    """A Concat of N,C,H,W tensors along C (its inputs' rank is checked by the caller's producers)."""
    return is_onnx(node, "Concat") and node.attrs.get("axis") in (1, -3)


def _mark(node: Node, key: str) -> None:
    """Flag a convolution or pool; a channel Concat moves to the last axis; elementwise nodes need nothing."""
    if node.op_type == "Concat":  # only channel Concats are handed tensors
        node.attrs = {**node.attrs, "axis": 3}
    elif not _layout_free(node):
        node.attrs = {**node.attrs, key: 1}


def channels_last(graph: Graph) -> Graph:
    """Make the tensors between 1x1 and depthwise convolutions (and pools between them) channels-last."""
    uses = consumers(graph)
    producers = {n.outputs[0]: n for n in graph.nodes if n.outputs}

    def handover(src: Node, dst: Node) -> None:
        old = src.outputs[0]
        new = old + SUFFIX
        src.outputs = [new, *src.outputs[1:]]
        dst.inputs = [new if name == old else name for name in dst.inputs]
        _mark(src, "channels_last_out")
        _mark(dst, "channels_last_in")

    def fed_by_gemm(node: Node) -> Node | None:
        """The convolution that can write ``node``'s input channels-last for it alone, if any."""
        producer = producers.get(node.inputs[0])
        if (producer is not None and writes_channels_last(graph, producer)
                and single_consumer(graph, uses, node.inputs[0]) is node):
            return producer
        return None

    def feeding(pool: Node) -> list[tuple[Node, Node]] | None:
        """The handovers that make a pool's input channels-last: from the convolution producing it, or
        from every convolution of a channel Concat that feeds it alone (SqueezeNet's fire modules)."""
        producer = fed_by_gemm(pool)
        if producer is not None:
            return [(producer, pool)]
        concat = producers.get(pool.inputs[0])
        if concat is None or not is_channel_concat(concat) or single_consumer(graph, uses, pool.inputs[0]) is not pool:
            return None
        convs = [producers.get(name) for name in concat.inputs]
        if not all(c is not None and writes_channels_last(graph, c)
                   and single_consumer(graph, uses, c.outputs[0]) is concat for c in convs):
            return None
        return [*((c, concat) for c in convs), (concat, pool)]

    def pool_chain(pool: Node) -> list[Node] | None:
        """The pool, the elementwise nodes after it and the 1x1 or depthwise convolution that ends the chain."""
        chain = [pool]
        reader = single_consumer(graph, uses, pool.outputs[0])
        while reader is not None and reader.inputs[0] == chain[-1].outputs[0] and _layout_free(reader):
            chain.append(reader)
            reader = single_consumer(graph, uses, reader.outputs[0])
        if (reader is None or reader.inputs[0] != chain[-1].outputs[0]
                or not (is_pointwise(graph, reader) or is_depthwise(graph, reader))):
            return None
        return [*chain, reader]

    for node in graph.nodes:
        if is_pool(node):
            feed, chain = feeding(node), pool_chain(node)
            if feed is not None and chain is not None:
                for src, dst in [*feed, *itertools.pairwise(chain)]:
                    handover(src, dst)
            continue
        if not is_depthwise(graph, node):
            continue
        producer = fed_by_gemm(node)
        if producer is not None and not node.attrs.get("channels_last_in"):
            handover(producer, node)
        reader = single_consumer(graph, uses, node.outputs[0])
        if reader is not None and reader.inputs[0] == node.outputs[0] and is_pointwise(graph, reader):
            handover(node, reader)
    return graph
