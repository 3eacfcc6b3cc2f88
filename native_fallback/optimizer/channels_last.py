"""Channels-last (N,H,W,C) tensors around depthwise convolutions, for the numpy CPU kernels.

Why: a depthwise tap multiplies each channel by its own weight. In N,C,H,W that
weight changes with every plane, so numpy either loops over channels or streams
a plane-sized copy of each weight; in N,H,W,C one output row's weights are a
short vector every row reuses, and a tap is one long multiply-add. A 1x1
convolution reads and writes either layout at no cost (a transposed GEMM
operand is a BLAS flag). So the tensor a 1x1 convolution hands to a depthwise
one (or an ungrouped im2col convolution, its GEMM swapped), and the one the
depthwise hands to a 1x1, become channels-last: the inverted-residual and
ShuffleNet blocks of mobile networks never transpose. A GEMM convolution read
only by convolutions hands them N,H,W,C too when one of them runs im2col and its
column copy then reads longer runs (kw*C values instead of one output row):
SqueezeNet's 3x3 expansions over 27x27 and 13x13, ResNet's strided and 7x7 3x3s.

Only the convolutions at both ends see such a tensor, and it is renamed, so a
dump of intermediates never shows an N,H,W,C array under an ONNX value's name.
OpenCL programs do not run this pass: their kernels are N,C,H,W only.
"""

from __future__ import annotations

import itertools

from ..ir import Graph, Node
from ..ops.conv import WINOGRAD_MIN_PIXELS, winograd_shaped
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
    return weight_shape(graph, node) is not None and (
        is_pointwise(graph, node) or (node.attrs.get("group", 1) == 1 and not takes_winograd(graph, node)))


def takes_winograd(graph: Graph, node: Node) -> bool:
    """Whether the CPU kernel may run this 2-D convolution through Winograd: Winograd-shaped, and its
    output not known to be below ``WINOGRAD_MIN_PIXELS`` (a 3x3 over 7x7 or 13x13 runs im2col)."""
    shape = weight_shape(graph, node)
    if shape is None or not winograd_shaped(shape, node.attrs.get("group", 1), node.attrs.get("strides", (1, 1)),
                                            node.attrs.get("dilations", (1, 1))):
        return False
    out = graph.shapes.get(node.outputs[0], ())
    return not (len(out) == 4 and all(isinstance(d, int) for d in out[2:]) and out[2] * out[3] < WINOGRAD_MIN_PIXELS)


def reads_channels_last(graph: Graph, node: Node) -> bool:
    """A 2-D convolution that takes an N,H,W,C input: 1x1, depthwise, or on the im2col path (anything
    that does not take Winograd), whose column matrix is then copied in runs of kw*C values."""
    return weight_shape(graph, node) is not None and not takes_winograd(graph, node)


def longer_runs_last(graph: Graph, node: Node) -> bool:
    """Whether an im2col convolution's column copy reads longer contiguous runs from an N,H,W,C input
    (kw*C values per kernel row, C per tap when grouped) than from N,C,H,W (one output row, OW values).
    Measured on SqueezeNet's 3x3 expansions: 48 against 55 loses 3%, 96 against 27 gains 5%."""
    shape, out = weight_shape(graph, node), graph.shapes.get(node.outputs[0], ())
    if shape is None or len(out) != 4 or not isinstance(out[3], int):
        return False
    return shape[1] * (shape[3] if node.attrs.get("group", 1) == 1 else 1) > out[3]


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
    """Make the tensors between 1x1 and depthwise convolutions (and pools between them), and those read by
    im2col convolutions that copy longer runs so, channels-last."""
    uses = consumers(graph)
    producers = {n.outputs[0]: n for n in graph.nodes if n.outputs}

    def handover(src: Node, *dsts: Node) -> None:
        old = src.outputs[0]
        new = old + SUFFIX
        src.outputs = [new, *src.outputs[1:]]
        _mark(src, "channels_last_out")
        for dst in dsts:
            dst.inputs = [new if name == old else name for name in dst.inputs]
            _mark(dst, "channels_last_in")

    def im2col_readers(node: Node) -> list[Node] | None:
        """The convolutions reading a GEMM convolution's output, when all of them take it channels-last
        as their data input, some on the im2col path, and every one of those copies longer runs so
        (a 1x1 reader alone gains nothing)."""
        if not writes_channels_last(graph, node) or node.attrs.get("channels_last_out"):
            return None
        name = node.outputs[0]
        readers = uses.get(name, [])
        if (name in graph.outputs or not readers
                or not all(r.inputs[0] == name and name not in r.inputs[1:] and reads_channels_last(graph, r)
                           and not r.attrs.get("channels_last_in") for r in readers)):
            return None
        im2col = [r for r in readers if not (is_pointwise(graph, r) or is_depthwise(graph, r))]
        return readers if im2col and all(longer_runs_last(graph, r) for r in im2col) else None

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
        readers = im2col_readers(node)
        if readers is not None:
            handover(node, *readers)
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
