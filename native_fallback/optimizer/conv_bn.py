"""Conv+BatchNormalization folding: scale the Conv's weights and shift its bias, drop the BN.

Valid only for inference BN with constant statistics on a Conv with constant
weights whose output nothing else reads; computed in float64, stored in the
weights' dtype.
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph
from ._graph import const, consumers, single_consumer


def fold_conv_bn(graph: Graph) -> Graph:
    """Fold every eligible BatchNormalization into the Conv before it."""
    uses = consumers(graph)
    removed = set()
    for conv in graph.nodes:
        if conv.op_type != "Conv" or const(graph, conv.inputs[1]) is None:
            continue
        bn = single_consumer(graph, uses, conv.outputs[0])
        if bn is None or bn.op_type != "BatchNormalization" or bn.attrs.get("training_mode", 0) \
                or len([o for o in bn.outputs if o]) != 1 or bn.inputs[0] != conv.outputs[0]:
            continue
        params = [const(graph, n) for n in bn.inputs[1:5]]
        if any(p is None for p in params):
            continue
        scale, shift, mean, var = (p.astype(np.float64) for p in params)
        w = graph.initializers[conv.inputs[1]]
        k = scale / np.sqrt(var + bn.attrs.get("epsilon", 1e-5))
        old_b = const(graph, conv.inputs[2]) if len(conv.inputs) > 2 else None
        b = np.zeros(w.shape[0]) if old_b is None else old_b.astype(np.float64)
        new_w = (w.astype(np.float64) * k.reshape(-1, *([1] * (w.ndim - 1)))).astype(w.dtype)
        new_b = ((b - mean) * k + shift).astype(w.dtype)
        w_name, b_name = f"{conv.outputs[0]}__bnw", f"{conv.outputs[0]}__bnb"
        graph.initializers[w_name], graph.initializers[b_name] = new_w, new_b
        conv.inputs = [conv.inputs[0], w_name, b_name]
        conv.outputs = [bn.outputs[0]]
        removed.add(id(bn))
    graph.nodes = [n for n in graph.nodes if id(n) not in removed]
    return graph
