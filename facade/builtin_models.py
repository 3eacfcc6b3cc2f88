"""Models built in code with deterministic weights: the demo, tests, examples, benchmarks.

Nothing can be downloaded where facade is tested, and a model built from a seed
is the same on every machine, so these stand in for a model zoo. Weights are
He-normal and BatchNormalization statistics keep activations of order one, so
agreement between engines is measured on realistic magnitudes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from facade.cache import atomic_write, cache_dir

OPSET = 17


class _GraphBuilder:
    """Just enough of a builder to write CNNs with seeded weights in a few lines."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
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
        graph = helper.make_graph(self.nodes, name, inputs, outputs, self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="facade.builtin_models")
        model.ir_version = 8
        onnx.checker.check_model(model)
        return model


# (expansion, channels, repeats, stride) of MobileNetV2 (Sandler et al., 2018)
_MOBILENET_V2 = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                 (6, 160, 3, 2), (6, 320, 1, 1)]


def mobilenet_v2(seed: int = 0, *, resolution: int = 224, classes: int = 1000, width: float = 1.0) -> onnx.ModelProto:
    """A MobileNetV2-shaped classifier: inverted residual blocks, depthwise convs, ReLU6, softmax."""
    b = _GraphBuilder(seed)
    ch = lambda c: max(8, int(c * width + 4) // 8 * 8)  # noqa: E731
    cin = ch(32)
    x = b.conv_bn("input", 3, cin, 3, stride=2)
    for t, c, n, s in _MOBILENET_V2:
        cout = ch(c)
        for i in range(n):
            stride = s if i == 0 else 1
            hidden = cin * t
            y = b.conv_bn(x, cin, hidden, 1) if t != 1 else x
            y = b.conv_bn(y, hidden, hidden, 3, stride=stride, groups=hidden)
            y = b.conv_bn(y, hidden, cout, 1, act=False)
            x = b.node("Add", [x, y]) if stride == 1 and cin == cout else y
            cin = cout
    x = b.conv_bn(x, cin, ch(1280), 1)
    x = b.node("GlobalAveragePool", [x])
    x = b.node("Flatten", [x], axis=1)
    w = b.rng.standard_normal((classes, ch(1280))) * np.sqrt(1.0 / ch(1280))
    x = b.node("Gemm", [x, b.const(w), b.const(np.zeros(classes), "fc_bias")], transB=1)
    b.nodes.append(helper.make_node("Softmax", [x], ["output"], name="softmax", axis=1))
    return b.model("mobilenet_v2",
                   [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, resolution, resolution])],
                   [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, classes])])


def mlp(seed: int = 0, *, features: int = 256, hidden: int = 512, classes: int = 10) -> onnx.ModelProto:
    """A three-layer perceptron (Gemm, Relu): small dense work where engine overheads dominate."""
    b = _GraphBuilder(seed)
    x, width = "input", features
    for out in (hidden, hidden, classes):
        w = b.rng.standard_normal((out, width)) * np.sqrt(2.0 / width)
        x = b.node("Gemm", [x, b.const(w), b.const(np.zeros(out), "bias")], transB=1)
        if out != classes:
            x = b.node("Relu", [x])
        width = out
    b.nodes.append(helper.make_node("Identity", [x], ["output"], name="output"))
    return b.model("mlp", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, features])],
                   [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, classes])])


BUILTIN: dict[str, Callable[[], onnx.ModelProto]] = {
    "mobilenet_v2": mobilenet_v2,
    # A narrow, low-resolution MobileNetV2 (width 0.35 at 96x96), as shipped for wake-word/face-gate models.
    "mobilenet_v2_035_96": lambda: mobilenet_v2(resolution=96, width=0.35, classes=100),
    "mlp": mlp,
}


def builtin_model_path(name: str = "mobilenet_v2") -> Path:
    """Build ``name`` once and cache it as an .onnx file (atomic write); return its path."""
    path = cache_dir("models") / f"{name}-opset{OPSET}.onnx"
    if not path.exists():
        atomic_write(path, BUILTIN[name]().SerializeToString())
    return path
