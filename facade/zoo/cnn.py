"""Demo and benchmark models: MobileNetV2-shaped classifiers and an MLP, seeded, nothing downloaded.

Nothing can be downloaded where facade is tested, and a model built from a seed
is the same on every machine, so these stand in for a model zoo. Weights are
He-normal and BatchNormalization statistics keep activations of order one, so
agreement between engines is measured on realistic magnitudes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper

from facade.zoo.graph import GraphBuilder

PRODUCER = "facade.builtin_models"  # kept: the bytes (and so the cache keys) of every build stay as they were


# (expansion, channels, repeats, stride) of MobileNetV2 (Sandler et al., 2018)
_MOBILENET_V2 = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                 (6, 160, 3, 2), (6, 320, 1, 1)]


def mobilenet_v2(seed: int = 0, *, resolution: int = 224, classes: int = 1000, width: float = 1.0) -> onnx.ModelProto:
    """A MobileNetV2-shaped classifier: inverted residual blocks, depthwise convs, ReLU6, softmax."""
    b = GraphBuilder(seed, PRODUCER)
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
    b = GraphBuilder(seed, PRODUCER)
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


def calibrated_mobilenet_v2(seed: int = 0, size: int = 224) -> onnx.ModelProto:
    """:func:`mobilenet_v2` with BatchNorm statistics calibrated on a sample (outputs of order one)."""
    from facade.zoo.weights import materialize

    return materialize(mobilenet_v2(seed, resolution=size), seed)


MODELS: dict[str, Callable[[], onnx.ModelProto]] = {
    "mobilenet_v2": mobilenet_v2,
    # A narrow, low-resolution MobileNetV2 (width 0.35 at 96x96), as shipped for wake-word/face-gate models.
    "mobilenet_v2_035_96": lambda: mobilenet_v2(resolution=96, width=0.35, classes=100),
    "mlp": mlp,
}
