"""Scaled-dot attention fusion: MatMul(Q, K^T), an optional Add of a mask, Softmax over the last axis and
MatMul(P, V) become one ``FusedAttention`` node of the facade domain (three or four steps, and two
temporaries of scores, fewer per attention).

Exporters write attention this way when the scale is applied to Q and K beforehand (torch's
nn.MultiheadAttention, Hugging Face's Whisper and ViT): each intermediate must have no other reader and
no name among the graph outputs. The kernel computes the nodes' values (see ops/attention.py).
"""

from __future__ import annotations

from ..ir import Graph, Node
from ..program import opset_for
from ..registry import FACADE_DOMAIN
from ._graph import consumers, is_onnx, single_consumer


def _last_axis(graph: Graph, softmax: Node) -> bool:
    """Whether the Softmax normalizes over its input's last axis (before opset 13 it works on the input
    made 2-D at ``axis``, whose rows are the same only for the last axis)."""
    axis = softmax.attrs.get("axis", -1 if opset_for(graph, softmax) >= 13 else 1)
    return axis == -1 or len(graph.shapes.get(softmax.inputs[0]) or ()) == axis + 1


def _after_scores(graph: Graph, uses: dict, scores: Node) -> tuple[str, Node, list[Node]] | None:
    """(the mask or "", the Softmax, the nodes between) that alone read the scores."""
    reader = single_consumer(graph, uses, scores.outputs[0])
    mask, between = "", []
    if is_onnx(reader, "Add") and len(reader.inputs) == 2 and reader.inputs[0] != reader.inputs[1]:
        mask = reader.inputs[1] if reader.inputs[0] == scores.outputs[0] else reader.inputs[0]
        between = [reader]
        reader = single_consumer(graph, uses, reader.outputs[0])
    if not is_onnx(reader, "Softmax") or not _last_axis(graph, reader):
        return None
    return mask, reader, between


def fuse_attention(graph: Graph) -> Graph:
    """Replace each MatMul -> (Add) -> Softmax -> MatMul chain by one FusedAttention where the last stood."""
    uses = consumers(graph)
    removed: set[int] = set()
    for scores in graph.nodes:
        if not is_onnx(scores, "MatMul") or id(scores) in removed:
            continue
        found = _after_scores(graph, uses, scores)
        if found is None:
            continue
        mask, softmax, between = found
        values = single_consumer(graph, uses, softmax.outputs[0])
        if not is_onnx(values, "MatMul") or values.inputs[0] != softmax.outputs[0] or \
                values.inputs[1] == softmax.outputs[0]:
            continue
        removed.update(id(n) for n in (scores, *between, softmax))
        q, kt = scores.inputs
        values.op_type, values.domain = "FusedAttention", FACADE_DOMAIN
        values.inputs = [q, kt, values.inputs[1], mask]
    graph.nodes = [n for n in graph.nodes if id(n) not in removed]
    return graph
