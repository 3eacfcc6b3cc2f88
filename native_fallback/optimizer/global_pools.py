"""A 2-D AveragePool or MaxPool whose one window is its whole input, as the global pool it is.

Why: ResNet's exporters end its last block with a 7x7 AveragePool over a 7x7 map. As a global pool it
reads an N,H,W,C input (its (N, C, 1, 1) output is the same array in either layout), so the last block
can stay channels-last (``channels_last_regions``); a windowed pool there would need its output
channels-last too, and the Reshape after it reads N,C,H,W.
"""

from __future__ import annotations

from ..ir import Graph
from ._graph import values_only_pool

_GLOBAL = {"AveragePool": "GlobalAveragePool", "MaxPool": "GlobalMaxPool"}


def global_pools(graph: Graph) -> Graph:
    """Rewrite each values-only 2-D pool whose window covers its known input exactly, unpadded and
    undilated, into the global pool of the same kind. A MaxPool with a folded Relu (``relu``, from
    ``fold_relus_into_pools``) stays: the global pool has no such attribute."""
    for node in graph.nodes:
        if (not values_only_pool(node, tuple(_GLOBAL)) or node.attrs.get("relu")
                or node.attrs.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID")):
            continue
        shape = graph.shapes.get(node.inputs[0])
        kernel = tuple(node.attrs.get("kernel_shape", ()))
        if (shape is None or len(shape) != 4 or len(kernel) != 2 or tuple(shape[2:]) != kernel
                or any(node.attrs.get("pads", ())) or any(d != 1 for d in node.attrs.get("dilations", (1, 1)))):
            continue
        node.op_type, node.attrs = _GLOBAL[node.op_type], {}
    return graph
