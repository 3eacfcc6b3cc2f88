"""Channels-last regions: N,H,W,C carried through residual Adds, elementwise nodes and pools, up to global pools.

Why: ``channels_last`` makes a tensor N,H,W,C only between the convolutions of one block (a 1x1 and the
depthwise convolution reading it, a pool between two). The blocks of a residual network meet at an Add of
the block's input and its last convolution, so every block input stayed N,C,H,W:

- MobileNetV2's expansion 1x1s read N,C,H,W and write channels-last for their depthwise convolution.
  Split across threads, each piece's BLAS call packs the whole input again: on the 16-core host a
  32 -> 192 channel one over 28x28 took 0.19 ms on one thread and 0.48 ms on four (measured), where an
  N,H,W,C input is read in place by conv.c's tiles.
- ResNet's 3x3s transposed their inputs into the tiles' slabs, and stored their tiles back to N,C,H,W
  one value at a time.
- SqueezeNet's squeeze 1x1s read each fire's joined N,C,H,W output; with fewer than 256 pixels a piece,
  they split by channels, each piece packing the whole input again (384 -> 48 over 13x13: 0.10 ms on one
  thread, 0.11 on two; measured).

Here a tensor becomes channels-last when the node writing it can write N,H,W,C and every node reading it
can read it. Writers: a convolution that ``writes_channels_last``, and nodes whose output follows their
inputs' layout (an elementwise node of ``LAYOUT_FREE``, a 2-D pool, an Add or Sum of same-shaped 4-D
tensors, a channel Concat, which then joins axis 3, when those inputs are channels-last). Readers: a
convolution's data input (not Winograd's, and not a grouped one's unless depthwise: OpenBLAS ran
ShuffleNet's group-4 1x1s 1.5x slower from N,H,W,C, 0.18 against 0.09 ms a node), such a following node
whose output is channels-last too, and a global pool, whose (N, C, 1, 1) output is the same array either
way. The largest such set of tensors is found by dropping tensors that break a rule
until none does. Graph outputs and (N, C, 1, 1) maps stay N,C,H,W, and the names change as in
``channels_last``.
"""

from __future__ import annotations

from ..ir import Graph, Node
from ..ops.conv.cache import c_jobs_available
from ..ops.conv.epilogue import library
from ._graph import consumers, is_onnx
from .channels_last import (
    LAYOUT_FREE,
    SUFFIX,
    is_depthwise,
    is_pool,
    reads_channels_last,
    weight_shape,
    writes_channels_last,
)

#: Global pools that read N,H,W,C given ``channels_last_in`` (their output has the same values in either
#: layout).
GLOBAL_POOLS = ("GlobalAveragePool", "GlobalMaxPool")


def _same_shape_sum(graph: Graph, node: Node) -> bool:
    """An Add, or a Sum, of 4-D tensors all of one known shape (no broadcast: they must then share a layout)."""
    if not ((is_onnx(node, "Add") and len(node.inputs) == 2) or (is_onnx(node, "Sum") and len(node.inputs) >= 2)):
        return False
    shapes = {graph.shapes.get(name) for name in node.inputs}
    shape = shapes.pop()
    return not shapes and shape is not None and len(shape) == 4


def _channel_concat(graph: Graph, node: Node) -> bool:
    """A Concat of 4-D tensors along their channel axis: channels-last, it joins along axis 3 instead."""
    return (is_onnx(node, "Concat") and node.attrs.get("axis") in (1, -3)
            and all(len(graph.shapes.get(name) or ()) == 4 for name in node.inputs))


def _without_winograd() -> bool:
    """Whether float32 convolutions run as conv.c jobs here: ``WeightCache.plan`` then never takes numpy's
    Winograd (N,C,H,W only), so a Winograd-shaped convolution reads and writes N,H,W,C like any other."""
    return library() is not None and c_jobs_available()


def _follows(graph: Graph, node: Node, c: bool) -> list[str] | None:
    """The inputs that must be channels-last for ``node``'s output to be: [] for a convolution that writes
    it at no cost (``c``: any ungrouped one, see :func:`_without_winograd`), the data input of an
    elementwise node or a pool, every input of a same-shape Add or Sum; None for a node that cannot write
    N,H,W,C."""
    if node.attrs.get("channels_last_out"):
        return None  # its output is already channels-last (a channels_last handover)
    if weight_shape(graph, node) is not None:
        ok = writes_channels_last(graph, node) or (c and node.attrs.get("group", 1) == 1)
        return [] if ok else None
    if is_onnx(node, *LAYOUT_FREE) or (is_pool(node) and not node.attrs.get("channels_last_in")):
        return [node.inputs[0]]
    if _same_shape_sum(graph, node) or _channel_concat(graph, node):
        return list(node.inputs)
    return None


def _reads(graph: Graph, reader: Node, name: str, last: set[str], c: bool) -> bool:
    """Whether ``reader`` can take ``name`` channels-last, given the tensors in ``last`` are."""
    if weight_shape(graph, reader) is not None:
        return (reader.inputs[0] == name and name not in reader.inputs[1:]
                and (c or reads_channels_last(graph, reader)) and not reader.attrs.get("channels_last_in")
                and (reader.attrs.get("group", 1) == 1 or is_depthwise(graph, reader)))
    if is_onnx(reader, *GLOBAL_POOLS):
        return len(graph.shapes.get(name) or ()) == 4
    needs = _follows(graph, reader, c)
    return needs is not None and name in needs and reader.outputs[0] in last


def channels_last_regions(graph: Graph) -> Graph:
    """Make every tensor channels-last that its writer can write and all its readers can read so."""
    uses, c = consumers(graph), _without_winograd()
    writer: dict[str, tuple[Node, list[str]]] = {}
    for node in graph.nodes:
        needs = _follows(graph, node, c) if node.outputs and len([o for o in node.outputs if o]) == 1 else None
        name = node.outputs[0] if node.outputs else ""
        shape = graph.shapes.get(name) or ()
        # an (N, C, 1, 1) map is the same array in both layouts (a squeeze-excite's): nothing to gain
        if needs is not None and name not in graph.outputs and len(shape) == 4 and tuple(shape[2:]) != (1, 1):
            writer[name] = (node, needs)
    last = set(writer)
    changed = True
    while changed:
        changed = False
        for name in list(last):
            node, needs = writer[name]
            if not all(n in last for n in needs) or not all(_reads(graph, r, name, last, c) for r in uses.get(name, [])):
                last.discard(name)
                changed = True
    if not last:
        return graph
    for node in graph.nodes:
        reads_last = bool(node.inputs) and node.inputs[0] in last
        writes_last = bool(node.outputs) and node.outputs[0] in last
        if weight_shape(graph, node) is not None:
            if reads_last:
                node.attrs = {**node.attrs, "channels_last_in": 1}
            if writes_last:
                node.attrs = {**node.attrs, "channels_last_out": 1}
        elif is_pool(node) and writes_last:
            node.attrs = {**node.attrs, "channels_last_in": 1, "channels_last_out": 1}
        elif _channel_concat(graph, node) and writes_last:
            node.attrs = {**node.attrs, "axis": 3}
        elif is_onnx(node, *GLOBAL_POOLS) and reads_last:
            node.attrs = {**node.attrs, "channels_last_in": 1}
        node.inputs = [n + SUFFIX if n in last else n for n in node.inputs]
        node.outputs = [n + SUFFIX if n in last else n for n in node.outputs]
    return graph
