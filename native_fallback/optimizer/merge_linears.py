"""Linear layers of one input merged: the separate Q, K and V projections that Whisper and ViT export
(FusedMatMul or MatMul by a constant 2-D weight, all reading the same tensor) become one FusedMatMul by
the weights side by side, and a ``SplitColumns`` node of the facade domain hands each former output its
columns as a view. Three steps and three kernel calls become two steps and one call.

Runs after matmul_bias. A projection without a bias gets zeros: each column of a product is the same sum
whatever other columns are computed beside it (transformer.c's linear_f32 adds over k in order per
column, starting from the bias), so the values are those of the separate nodes; BLAS, for larger products,
may block the wider product differently (float32 rounding). Layers with a fused activation stay apart.
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from ..registry import FACADE_DOMAIN
from ._graph import consumers, is_onnx


def _weight(graph: Graph, node: Node) -> np.ndarray | None:
    """The constant 2-D weight of a plain linear layer (FusedMatMul without activation, or MatMul)."""
    linear = (node.op_type == "FusedMatMul" and node.domain == FACADE_DOMAIN and not node.attrs) or is_onnx(node, "MatMul")
    w = graph.initializers.get(node.inputs[1]) if linear and len(node.inputs) >= 2 else None
    return w if w is not None and w.ndim == 2 and w.dtype.kind == "f" and node.inputs[0] != node.inputs[1] else None


def merge_linears(graph: Graph) -> Graph:
    """Merge the linear layers that read one tensor (two or more, one weight dtype and row count)."""
    uses = consumers(graph)
    merged: dict[int, list[Node]] = {}  # id of the first layer of a group -> the group
    grouped: set[int] = set()
    for name, readers in uses.items():
        group = [n for n in readers if n.inputs and n.inputs[0] == name and _weight(graph, n) is not None]
        if len(group) < 2:
            continue
        first = _weight(graph, group[0])
        group = [n for n in group if (w := _weight(graph, n)).shape[0] == first.shape[0] and w.dtype == first.dtype]
        if len(group) >= 2 and not any(id(n) in grouped for n in group):
            grouped.update(id(n) for n in group)
            merged[id(min(group, key=graph.nodes.index))] = group
    if not merged:
        return graph
    nodes = []
    for node in graph.nodes:
        if id(node) in merged:
            nodes.extend(_merge(graph, merged[id(node)]))
        elif id(node) not in grouped:
            nodes.append(node)
    graph.nodes = nodes
    return graph


def _merge(graph: Graph, group: list[Node]) -> list[Node]:
    """The merged FusedMatMul and its SplitColumns, which take the first layer's place."""
    weights = [_weight(graph, n) for n in group]
    biases = [graph.initializers[n.inputs[2]] if len(n.inputs) > 2 and n.inputs[2] else np.zeros(w.shape[1], w.dtype)
              for n, w in zip(group, weights, strict=True)]
    if any(b.ndim != 1 or b.dtype != w.dtype for b, w in zip(biases, weights, strict=True)):
        return group
    base = group[0].outputs[0]
    w_name, b_name, joined = f"{base}\0merged_w", f"{base}\0merged_b", f"{base}\0merged"
    graph.initializers[w_name] = np.ascontiguousarray(np.concatenate(weights, axis=1))
    graph.initializers[b_name] = np.concatenate(biases)
    linear = Node("FusedMatMul", [group[0].inputs[0], w_name, b_name], [joined], name=f"{base}/merged",
                  domain=FACADE_DOMAIN)
    split = Node("SplitColumns", [joined], [n.outputs[0] for n in group], name=f"{base}/split", domain=FACADE_DOMAIN,
                 attrs={"sizes": [int(w.shape[1]) for w in weights]})
    return [linear, split]
