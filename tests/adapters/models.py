"""Models for engine tests: CNNs and a two-input model built here, and the onnx wheel's light models.

Every model is built from a seed, so the engines are compared on the same
weights everywhere. The onnx wheel's "light" models replace each weight by a
ConstantOfShape of its shape; :func:`light_model` materializes seeded weights.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


def _model(nodes, name, inputs, outputs, inits) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, name, inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def cnn(batch: int | str = 1, seed: int = 0) -> onnx.ModelProto:
    """Strided conv, grouped conv, residual add, concat, pooling, two outputs (logits, features)."""
    rng = np.random.default_rng(seed)

    def w(name, *shape):
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
        return numpy_helper.from_array((rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32), name)

    inits = [w("w1", 8, 3, 3, 3), w("b1", 8), w("w2", 8, 2, 3, 3), w("w3", 6, 16, 1, 1), w("fc", 6, 5), w("fcb", 5)]
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], group=4, pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["r1", "c2"], ["res"]),
        helper.make_node("Concat", ["res", "r1"], ["cat"], axis=1),
        helper.make_node("Conv", ["cat", "w3"], ["features"]),
        helper.make_node("GlobalAveragePool", ["features"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"]),
        helper.make_node("Gemm", ["flat", "fc", "fcb"], ["logits"]),
    ]
    return _model(nodes, "cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, 16, 16])],
                  [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, 5]),
                   helper.make_tensor_value_info("features", TensorProto.FLOAT, [batch, 6, 8, 8])], inits)


def two_inputs(seed: int = 1) -> onnx.ModelProto:
    """Two inputs with broadcasting: (a * b + bias) then Tanh and a MatMul, two outputs."""
    rng = np.random.default_rng(seed)
    inits = [numpy_helper.from_array(rng.standard_normal((1, 4, 1)).astype(np.float32), "bias"),
             numpy_helper.from_array((rng.standard_normal((8, 3)) / 3).astype(np.float32), "proj")]
    nodes = [helper.make_node("Mul", ["a", "b"], ["ab"]),
             helper.make_node("Add", ["ab", "bias"], ["shifted"]),
             helper.make_node("Tanh", ["shifted"], ["act"]),
             helper.make_node("MatMul", ["act", "proj"], ["proj_out"])]
    return _model(nodes, "two_inputs",
                  [helper.make_tensor_value_info("a", TensorProto.FLOAT, [1, 4, 8]),
                   helper.make_tensor_value_info("b", TensorProto.FLOAT, [1, 1, 8])],
                  [helper.make_tensor_value_info("proj_out", TensorProto.FLOAT, [1, 4, 3]),
                   helper.make_tensor_value_info("act", TensorProto.FLOAT, [1, 4, 8])], inits)


def light_model(name: str, seed: int = 0) -> onnx.ModelProto:
    """``onnx/backend/test/data/light/light_<name>.onnx`` with seeded weights in place of ConstantOfShape."""
    path = Path(onnx.__file__).parent / "backend/test/data/light" / f"light_{name}.onnx"
    model = onnx.load(str(path))
    rng = np.random.default_rng(seed)
    shapes = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    keep, weights = [], []
    for node in model.graph.node:
        if node.op_type == "ConstantOfShape" and node.input[0] in shapes:
            shape = tuple(int(d) for d in shapes[node.input[0]])
            fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
            values = rng.standard_normal(shape) / np.sqrt(max(fan_in, 1))
            if len(shape) == 1:  # biases, BN statistics: keep variances positive and scales near one
                values = 1.0 + 0.1 * rng.standard_normal(shape) if "var" in node.output[0] or "scale" in \
                    node.output[0] else 0.1 * rng.standard_normal(shape)
            weights.append(numpy_helper.from_array(values.astype(np.float32), node.output[0]))
        else:
            keep.append(node)
    used = {i for n in keep for i in n.input}
    del model.graph.node[:]
    model.graph.node.extend(keep)
    inits = [t for t in model.graph.initializer if t.name in used] + weights
    del model.graph.initializer[:]
    model.graph.initializer.extend(inits)
    model.ir_version = max(model.ir_version, 7)  # initializers need not be graph inputs from IR 4 on
    kept = {t.name for t in model.graph.initializer}
    real_inputs = [i for i in model.graph.input if i.name not in shapes and i.name not in kept]
    del model.graph.input[:]
    model.graph.input.extend(real_inputs)
    return model
