"""The few lines every builder in the zoo shares: a checked model at the zoo's opset, seeded weights."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import onnx
from onnx import helper, numpy_helper

OPSET = 17


def make_model(name: str, nodes: list, inputs: list, outputs: list, inits: Iterable[onnx.TensorProto] = (), *,
               opset: int = OPSET, producer: str = "", check: bool = True) -> onnx.ModelProto:
    """A model of one graph at IR 8 (every engine here reads it), checked by ``onnx.checker`` unless
    ``check=False`` (a model of an operator ONNX does not know)."""
    graph = helper.make_graph(nodes, name, inputs, outputs, list(inits))
    kwargs = {"producer_name": producer} if producer else {}
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], **kwargs)
    model.ir_version = 8
    if check:
        onnx.checker.check_model(model)
    return model


def initializers(arrays: dict[str, np.ndarray]) -> list[onnx.TensorProto]:
    """Initializers from ``{name: array}``, in that order."""
    return [numpy_helper.from_array(v, k) for k, v in arrays.items()]


def he(rng: np.random.Generator, *shape: int) -> np.ndarray:
    """He-normal float32 weights: fan-in is every axis but the first (the only one for a vector)."""
    fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)


class GraphBuilder:
    """Just enough of a builder to write CNNs with seeded weights in a few lines."""

    def __init__(self, seed: int, producer: str):
        self.rng = np.random.default_rng(seed)
        self.producer = producer
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._n = 0

    def name(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}_{self._n}"

    def const(self, array: np.ndarray, prefix: str = "w") -> str:
        name = self.name(prefix)
        self.inits.append(numpy_helper.from_array(np.asarray(array, dtype=np.float32), name))
        return name

    def node(self, op: str, inputs: list[str], **attrs) -> str:
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def conv_bn(self, x: str, cin: int, cout: int, k: int, stride: int = 1, groups: int = 1,
                act: bool = True) -> str:
        fan_in = cin // groups * k * k
        w = self.rng.standard_normal((cout, cin // groups, k, k)) * np.sqrt(2.0 / fan_in)
        y = self.node("Conv", [x, self.const(w)], kernel_shape=[k, k], strides=[stride, stride],
                      pads=[k // 2] * 4, group=groups)
        scale = self.const(1.0 + 0.1 * self.rng.standard_normal(cout), "gamma")
        bias = self.const(0.1 * self.rng.standard_normal(cout), "beta")
        mean = self.const(0.1 * self.rng.standard_normal(cout), "mean")
        var = self.const(1.0 + 0.5 * self.rng.random(cout), "var")
        y = self.node("BatchNormalization", [y, scale, bias, mean, var], epsilon=1e-5)
        if act:
            y = self.node("Clip", [y, self.const(np.array(0.0), "lo"), self.const(np.array(6.0), "hi")])
        return y

    def model(self, name: str, inputs: list[onnx.ValueInfoProto], outputs: list[onnx.ValueInfoProto]) -> onnx.ModelProto:
        return make_model(name, self.nodes, inputs, outputs, self.inits, producer=self.producer)
