"""A channel shuffle read only by a depthwise convolution that writes channels-last is done by that
convolution as it reads its input.

ShuffleNet's blocks shuffle channels between a grouped 1x1 and a depthwise convolution: Reshape to
(N, G, C/G, H, W), Transpose (0, 2, 1, 3, 4), Reshape back, which ``fuse_layout_chains`` makes one
``Relayout``: a copy of the whole tensor in numpy, on one core whatever the thread count (16 of them took
0.35-0.39 ms of ShuffleNet's ~9 at one thread here, 0.48-0.54 at two). Where the depthwise convolution
writes channels-last from an N,C,H,W input, it already copies that input channels-last first; reading
input plane ``(c % G) * (C / G) + c // G`` for channel ``c`` in that copy applies the shuffle at no cost.
So the Relayout goes and the convolution carries ``shuffle_groups`` and ``shuffle_shape`` (``ops/conv``'s
kernels read them: an input of another shape gets the Relayout's copy, or its error, as before).

For the CPU kernels only, after ``fuse_layout_chains``.
"""

from __future__ import annotations

from ..ir import Graph, Node
from ..registry import FACADE_DOMAIN
from ._graph import consumers, single_consumer
from .channels_last import is_depthwise


def shuffle_groups(node: Node) -> int | None:
    """G when ``node`` is a Relayout that shuffles the channels of an (N, C, H, W) tensor in G groups (its
    last step's shape)."""
    if node.op_type != "Relayout" or node.domain != FACADE_DOMAIN or len(node.attrs["chain"]) != 3:
        return None
    (op1, *first), (op2, *perm), (op3, *last) = node.attrs["chain"]
    if (op1, op2, op3) != ("Reshape", "Transpose", "Reshape") or perm != [(0, 2, 1, 3, 4)]:
        return None
    (split, _), (joined, _) = first, last
    if len(split) != 5 or len(joined) != 4 or min(*split, *joined) <= 0:
        return None  # only explicit sizes: a 0 or -1 would need the input's shape to read
    n, g, cg, h, w = split
    return g if joined == (n, g * cg, h, w) and g > 1 and cg > 1 else None


def fold_channel_shuffles(graph: Graph) -> Graph:
    """Drop each channel-shuffle Relayout whose only reader is a depthwise convolution from an N,C,H,W
    input to a channels-last output, which then reads the unshuffled tensor with ``shuffle_groups``."""
    uses = consumers(graph)
    removed: set[int] = set()
    for node in graph.nodes:
        g = shuffle_groups(node)
        reader = None if g is None else single_consumer(graph, uses, node.outputs[0])
        if (reader is None or reader.op_type not in ("Conv", "FusedConv") or reader.inputs[0] != node.outputs[0]
                or node.outputs[0] in reader.inputs[1:] or not is_depthwise(graph, reader)
                or reader.attrs.get("channels_last_in") or not reader.attrs.get("channels_last_out")
                or "shuffle_groups" in reader.attrs or len(reader.attrs.get("kernel_shape", (1, 1))) != 2):
            continue
        reader.inputs = [node.inputs[0], *reader.inputs[1:]]
        reader.attrs = {**reader.attrs, "shuffle_groups": g, "shuffle_shape": node.attrs["chain"][-1][1]}
        removed.add(id(node))
    graph.nodes = [n for n in graph.nodes if id(n) not in removed]
    return graph
