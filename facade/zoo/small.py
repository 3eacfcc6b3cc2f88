"""Small models built in code for tests and probes: each one a contract engines must keep.

``conv_relu`` is also the tiny model a crash-isolated probe loads on a risky
target (:mod:`facade.probe`): enough to make a driver compile and run a kernel.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from facade.zoo.graph import make_model


def _model(nodes, inputs, outputs, inits=(), opset: int = 17, name: str = "test") -> onnx.ModelProto:
    return make_model(name, nodes, inputs, outputs, inits, opset=opset)


def conv_relu(batch: int | str = 1, seed: int = 0) -> onnx.ModelProto:
    """Conv 3->4, 3x3, then Relu: the smallest CNN."""
    w = np.random.default_rng(seed).standard_normal((4, 3, 3, 3)).astype(np.float32)
    return _model(
        [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 4, 8, 8])],
        [numpy_helper.from_array(w, "w")], name="conv_relu")


def two_outputs() -> onnx.ModelProto:
    """Two inputs with broadcasting, two outputs declared in non-alphabetical order."""
    return _model(
        [helper.make_node("Add", ["a", "b"], ["sum"]), helper.make_node("Mul", ["a", "b"], ["prod"])],
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [2, 3]),
         helper.make_tensor_value_info("b", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("sum", TensorProto.FLOAT, [2, 3]),
         helper.make_tensor_value_info("prod", TensorProto.FLOAT, [2, 3])], name="two_outputs")


def symbolic_pair() -> onnx.ModelProto:
    """Two inputs sharing the symbolic dim 'n'."""
    return _model(
        [helper.make_node("Add", ["p", "q"], ["r"])],
        [helper.make_tensor_value_info("p", TensorProto.FLOAT, ["n", 4]),
         helper.make_tensor_value_info("q", TensorProto.FLOAT, ["n", 4])],
        [helper.make_tensor_value_info("r", TensorProto.FLOAT, ["n", 4])], name="symbolic_pair")


def int_input() -> onnx.ModelProto:
    """An int32 input, to test which casts are safe."""
    return _model(
        [helper.make_node("Identity", ["i"], ["o"])],
        [helper.make_tensor_value_info("i", TensorProto.INT32, [3])],
        [helper.make_tensor_value_info("o", TensorProto.INT32, [3])], name="int_input")


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
    return _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, 16, 16])],
                  [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, 5]),
                   helper.make_tensor_value_info("features", TensorProto.FLOAT, [batch, 6, 8, 8])], inits, name="cnn")


def two_inputs(seed: int = 1) -> onnx.ModelProto:
    """Two inputs with broadcasting: (a * b + bias) then Tanh and a MatMul, two outputs."""
    rng = np.random.default_rng(seed)
    inits = [numpy_helper.from_array(rng.standard_normal((1, 4, 1)).astype(np.float32), "bias"),
             numpy_helper.from_array((rng.standard_normal((8, 3)) / 3).astype(np.float32), "proj")]
    nodes = [helper.make_node("Mul", ["a", "b"], ["ab"]),
             helper.make_node("Add", ["ab", "bias"], ["shifted"]),
             helper.make_node("Tanh", ["shifted"], ["act"]),
             helper.make_node("MatMul", ["act", "proj"], ["proj_out"])]
    return _model(nodes,
                  [helper.make_tensor_value_info("a", TensorProto.FLOAT, [1, 4, 8]),
                   helper.make_tensor_value_info("b", TensorProto.FLOAT, [1, 1, 8])],
                  [helper.make_tensor_value_info("proj_out", TensorProto.FLOAT, [1, 4, 3]),
                   helper.make_tensor_value_info("act", TensorProto.FLOAT, [1, 4, 8])], inits, name="two_inputs")


def fixed_rows(seed: int = 2) -> onnx.ModelProto:
    """A [4, 16] input whose leading dim is data, not a batch: MatMul+Relu and a row sum, two outputs."""
    rng = np.random.default_rng(seed)
    inits = [numpy_helper.from_array((rng.standard_normal((16, 6)) / 4).astype(np.float32), "w")]
    nodes = [helper.make_node("MatMul", ["x", "w"], ["mm"]),
             helper.make_node("Relu", ["mm"], ["rows"]),
             helper.make_node("ReduceSum", ["x"], ["total"], keepdims=0, noop_with_empty_axes=0)]
    return _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 16])],
                  [helper.make_tensor_value_info("rows", TensorProto.FLOAT, [4, 6]),
                   helper.make_tensor_value_info("total", TensorProto.FLOAT, [])], inits, name="fixed_rows")


def opset9_softmax(seed: int = 3) -> onnx.ModelProto:
    """Conv, global pooling, then an opset-9 Softmax without ``axis`` over [1, 8, 1, 1], as SqueezeNet ends:
    before opset 13 it normalises over the 8 channels, not the last unit axis."""
    w = np.random.default_rng(seed).standard_normal((8, 3, 3, 3)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("GlobalAveragePool", ["c"], ["g"]),
             helper.make_node("Softmax", ["g"], ["p"])]
    return _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                  [helper.make_tensor_value_info("p", TensorProto.FLOAT, [1, 8, 1, 1])],
                  [numpy_helper.from_array(w, "w")], opset=9, name="opset9_softmax")


def custom_op(op: str, domain: str) -> onnx.ModelProto:
    """One node of operator ``op`` from ``domain`` on a [2] float: a model only some engines (or none) know."""
    graph = helper.make_graph([helper.make_node(op, ["x"], ["y"], domain=domain)], "custom",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(domain, 1)])
    model.ir_version = 8
    return model


MODELS: dict[str, Callable[[], onnx.ModelProto]] = {
    "conv_relu": conv_relu,
    "two_outputs": two_outputs,
    "symbolic_pair": symbolic_pair,
    "int_input": int_input,
    "cnn": cnn,
    "two_inputs": two_inputs,
    "fixed_rows": fixed_rows,
    "opset9_softmax": opset9_softmax,
}
