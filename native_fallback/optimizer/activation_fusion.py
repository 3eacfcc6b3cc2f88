"""Conv/Gemm + activation fusion into FusedConv/FusedGemm (domain ai.facade).

The activation then runs in place on the GEMM's output while it is still in
cache, saving one full read and write of the tensor.
"""

from __future__ import annotations

from ..ir import Graph, Node
from ..registry import FACADE_DOMAIN
from ._graph import consumers, single_consumer

#: Activations fused, with the attributes each carries across.
FUSABLE = {"Relu": (), "LeakyRelu": ("alpha",), "Sigmoid": (), "Tanh": (), "HardSigmoid": ("alpha", "beta"),
           "HardSwish": (), "Elu": ("alpha",)}


def _clip_attrs(graph: Graph, node: Node) -> dict | None:
    """Clip's bounds as attributes, when they are constant (Relu6 in MobileNets)."""
    if "min" in node.attrs or "max" in node.attrs or len(node.inputs) == 1:
        return {k: node.attrs[k] for k in ("min", "max") if k in node.attrs}
    bounds = {}
    for key, name in zip(("min", "max"), node.inputs[1:], strict=False):
        if name:
            if name not in graph.initializers:
                return None
            bounds[key] = float(graph.initializers[name].reshape(-1)[0])
    return bounds


def fuse_activations(graph: Graph) -> Graph:
    """Fuse each Conv/Gemm with the single activation that reads it."""
    uses = consumers(graph)
    removed = set()
    for node in graph.nodes:
        if node.op_type not in ("Conv", "Gemm") or node.domain not in ("", "ai.onnx"):
            continue
        act = single_consumer(graph, uses, node.outputs[0])
        if act is None or act.inputs[0] != node.outputs[0]:
            continue
        if act.op_type in FUSABLE:
            attrs = {k: act.attrs[k] for k in FUSABLE[act.op_type] if k in act.attrs}
        elif act.op_type == "Clip":
            attrs = _clip_attrs(graph, act)
            if attrs is None:
                continue
        else:
            continue
        node.attrs = {**node.attrs, "activation": act.op_type, "activation_attrs": attrs}
        node.op_type, node.domain = "Fused" + node.op_type, FACADE_DOMAIN
        node.outputs = list(act.outputs)
        removed.add(id(act))
    graph.nodes = [n for n in graph.nodes if id(n) not in removed]
    return graph
