"""Shape-subgraph folding: Shape/Size of a statically known tensor become constants.

Constant folding then evaluates the Gather/Concat/Unsqueeze arithmetic that
typically feeds a Reshape, so the whole shape subgraph disappears.
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph


def _static(shape: tuple | None) -> bool:
    return shape is not None and all(isinstance(d, int) and d > 0 for d in shape)


def fold_shapes(graph: Graph) -> Graph:
    """Turn Shape and Size of tensors with fully static inferred shapes into initializers."""
    kept = []
    for node in graph.nodes:
        src = node.inputs[0] if node.inputs else ""
        shape = graph.initializers[src].shape if src in graph.initializers else graph.shapes.get(src)
        if node.op_type in ("Shape", "Size") and _static(shape) and src not in graph.inputs:
            if node.op_type == "Shape":
                value = np.array(shape[node.attrs.get("start", 0): node.attrs.get("end")], dtype=np.int64)
            else:
                value = np.array(int(np.prod(shape)), dtype=np.int64)
            graph.initializers[node.outputs[0]] = value
            continue
        kept.append(node)
    graph.nodes = kept
    return graph
