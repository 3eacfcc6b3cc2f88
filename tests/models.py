"""Small test models built in code: one registry every test module draws from."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _model(nodes, inputs, outputs, inits=(), opset: int = 17, name: str = "test") -> onnx.ModelProto:
    graph = helper.make_graph(nodes, name, inputs, outputs, list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


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
