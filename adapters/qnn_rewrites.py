"""Graph rewrites that work around measured QNN HTP faults, applied only to the graph HTP compiles.

Measured with QNN 2.51 on the x86-64 simulator (see the repository's QNN notes): an
``Add`` that broadcasts over the batch (``[2, 16, 32] + [1, 16, 32]``: BERT, GPT-2
and CLIP add position embeddings so) and feeds ``LayerNormalization`` is computed
wrong in fp16 (relative error 0.14 to 0.73) and fails to finalize in float32.
The same Add with its smaller operand expanded to the full shape first is right
(4.6e-4 in fp16) and finalizes in float32. The rewrite inserts that ``Expand``;
the session is still verified against the unmodified model on the CPU.
"""

from __future__ import annotations

_ELEMENTWISE = ("Add",)


def _static_shape(vi) -> tuple[int, ...] | None:
    t = vi.type.tensor_type
    if not vi.type.HasField("tensor_type") or not t.HasField("shape"):
        return None
    dims = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
    return None if any(d is None for d in dims) else tuple(dims)


def expand_batch_broadcasts(proto):
    """``(rewritten model, names of the rewritten nodes)``; the model itself when nothing applies."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    try:
        inferred = onnx.shape_inference.infer_shapes(proto, data_prop=True)
    except Exception:  # without shapes nothing is rewritten
        return proto, []
    g = inferred.graph
    shapes = {vi.name: s for vi in (*g.input, *g.value_info, *g.output) if (s := _static_shape(vi)) is not None}
    shapes |= {t.name: tuple(t.dims) for t in g.initializer}
    readers: dict[str, list[str]] = {}
    for node in g.node:
        for name in node.input:
            readers.setdefault(name, []).append(node.op_type)
    targets = []
    for index, node in enumerate(proto.graph.node):
        if node.op_type not in _ELEMENTWISE or "LayerNormalization" not in readers.get(node.output[0], []):
            continue
        a, b = (shapes.get(n) for n in node.input[:2])
        out = shapes.get(node.output[0])
        if a is None or b is None or out is None or len(a) != len(b) or len(a) < 2:
            continue
        if {a[0], b[0]} == {1, out[0]} and out[0] > 1:
            targets.append((index, 0 if a[0] == 1 else 1, out))
    if not targets:
        return proto, []
    model = onnx.ModelProto()
    model.CopyFrom(proto)
    nodes = []
    for original in model.graph.node:  # detached copies: the repeated field is rebuilt below
        copy = onnx.NodeProto()
        copy.CopyFrom(original)
        nodes.append(copy)
    done = []
    for index, operand, out in reversed(targets):
        node = nodes[index]
        small = node.input[operand]
        shape_name, expanded = f"{node.name or node.output[0]}/facade_shape", f"{small}/facade_expanded_{index}"
        model.graph.initializer.append(numpy_helper.from_array(np.array(out, np.int64), shape_name))
        node.input[operand] = expanded
        nodes.insert(index, helper.make_node("Expand", [small, shape_name], [expanded],
                                             name=f"{node.name or node.output[0]}/facade_expand"))
        done.append(node.name or node.output[0])
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return model, list(reversed(done))
