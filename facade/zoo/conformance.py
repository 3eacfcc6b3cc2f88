"""The conformance set: small models, each covering what engines get wrong.

Layouts (an NHWC graph wrapped around NCHW convolutions), broadcasting of every
rank, dynamic dimensions (run at a size other than 1), several outputs of mixed
dtypes, a transformer block, and a MobileNetV2-shaped classifier (for top-k).
Weights are seeded He-normal, so magnitudes are realistic and every build is the
same on every machine.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper

from facade.zoo.cnn import mobilenet_v2
from facade.zoo.graph import he, initializers, make_model

F = TensorProto.FLOAT


def _model(name: str, nodes: list, inputs: list, outputs: list, inits: dict[str, np.ndarray]) -> onnx.ModelProto:
    return make_model(name, nodes, inputs, outputs, initializers(inits), producer="facade.conformance.builtin")


def nhwc_conv(seed: int = 0) -> onnx.ModelProto:
    """NHWC in and out around NCHW Conv+BatchNorm+Relu: engines that re-layout must keep the contract."""
    rng = np.random.default_rng(seed)
    inits = {"w": he(rng, 16, 3, 3, 3), "b": (0.1 * rng.standard_normal(16)).astype(np.float32),
             "gamma": (1 + 0.1 * rng.standard_normal(16)).astype(np.float32),
             "beta": (0.1 * rng.standard_normal(16)).astype(np.float32),
             "mean": (0.1 * rng.standard_normal(16)).astype(np.float32),
             "var": (1 + 0.5 * rng.random(16)).astype(np.float32), "w2": he(rng, 8, 16, 1, 1)}
    nodes = [helper.make_node("Transpose", ["image"], ["nchw"], perm=[0, 3, 1, 2]),
             helper.make_node("Conv", ["nchw", "w", "b"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                              strides=[2, 2]),
             helper.make_node("BatchNormalization", ["c1", "gamma", "beta", "mean", "var"], ["bn"]),
             helper.make_node("Relu", ["bn"], ["r"]),
             helper.make_node("Conv", ["r", "w2"], ["c2"], kernel_shape=[1, 1]),
             helper.make_node("Transpose", ["c2"], ["features"], perm=[0, 2, 3, 1])]
    return _model("nhwc_conv", nodes, [helper.make_tensor_value_info("image", F, [1, 32, 32, 3])],
                  [helper.make_tensor_value_info("features", F, [1, 16, 16, 8])], inits)


def broadcasting(seed: int = 0) -> onnx.ModelProto:
    """Binary ops broadcasting rank 4 against ranks 2, 1 and 0, then a Where on a broadcast mask."""
    rng = np.random.default_rng(seed)
    inits = {"row": rng.standard_normal((1, 5)).astype(np.float32), "scale": np.array(0.5, np.float32)}
    nodes = [helper.make_node("Mul", ["a", "b"], ["ab"]),
             helper.make_node("Add", ["ab", "c"], ["abc"]),
             helper.make_node("Sub", ["abc", "row"], ["d"]),
             helper.make_node("Mul", ["d", "scale"], ["e"]),
             helper.make_node("Greater", ["e", "c"], ["mask"]),
             helper.make_node("Where", ["mask", "e", "b"], ["y"]),
             helper.make_node("Max", ["y", "c"], ["out"])]
    return _model("broadcasting", nodes,
                  [helper.make_tensor_value_info("a", F, [2, 3, 4, 5]), helper.make_tensor_value_info("b", F, [4, 1]),
                   helper.make_tensor_value_info("c", F, [5])],
                  [helper.make_tensor_value_info("out", F, [2, 3, 4, 5])], inits)


def dynamic_shapes(seed: int = 0) -> onnx.ModelProto:
    """Symbolic batch and spatial dims: Conv, global pooling, Gemm and Softmax on whatever size comes in."""
    rng = np.random.default_rng(seed)
    inits = {"w": he(rng, 8, 3, 3, 3), "fc": he(rng, 10, 8), "fcb": np.zeros(10, np.float32)}
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("GlobalAveragePool", ["r"], ["g"]),
             helper.make_node("Flatten", ["g"], ["f"], axis=1),
             helper.make_node("Gemm", ["f", "fc", "fcb"], ["logits"], transB=1),
             helper.make_node("Softmax", ["logits"], ["probs"], axis=1)]
    return _model("dynamic_shapes", nodes, [helper.make_tensor_value_info("x", F, ["N", 3, "H", "W"])],
                  [helper.make_tensor_value_info("probs", F, ["N", 10])], inits)


def several_outputs(seed: int = 0) -> onnx.ModelProto:
    """Three outputs of different dtypes and ranks from one input: a reduction, an argmax, a split."""
    rng = np.random.default_rng(seed)
    inits = {"w": he(rng, 16, 12), "axes": np.array([1], np.int64), "halves": np.array([6, 6], np.int64)}
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]),
             helper.make_node("Tanh", ["h"], ["t"]),
             helper.make_node("ReduceSum", ["t", "axes"], ["total"], keepdims=0),
             helper.make_node("ArgMax", ["t"], ["best"], axis=1, keepdims=0),
             helper.make_node("Split", ["t", "halves"], ["left", "right"], axis=1)]
    return _model("several_outputs", nodes, [helper.make_tensor_value_info("x", F, [4, 16])],
                  [helper.make_tensor_value_info("total", F, [4]),
                   helper.make_tensor_value_info("best", TensorProto.INT64, [4]),
                   helper.make_tensor_value_info("left", F, [4, 6]),
                   helper.make_tensor_value_info("right", F, [4, 6])], inits)


def attention_block(seed: int = 0) -> onnx.ModelProto:
    """Single-head self-attention with LayerNormalization and a residual: MatMul/Softmax heavy."""
    rng = np.random.default_rng(seed)
    d = 32
    inits = {k: he(rng, d, d) for k in ("wq", "wk", "wv", "wo")}
    inits |= {"gamma": np.ones(d, np.float32), "beta": np.zeros(d, np.float32),
              "inv_sqrt_d": np.array(1 / np.sqrt(d), np.float32)}
    nodes = [helper.make_node("LayerNormalization", ["x", "gamma", "beta"], ["n"], axis=-1),
             *(helper.make_node("MatMul", ["n", f"w{k}"], [k]) for k in "qkv"),
             helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 2, 1]),
             helper.make_node("MatMul", ["q", "kt"], ["s"]),
             helper.make_node("Mul", ["s", "inv_sqrt_d"], ["ss"]),
             helper.make_node("Softmax", ["ss"], ["p"], axis=-1),
             helper.make_node("MatMul", ["p", "v"], ["a"]),
             helper.make_node("MatMul", ["a", "wo"], ["o"]),
             helper.make_node("Add", ["x", "o"], ["y"])]
    return _model("attention_block", nodes, [helper.make_tensor_value_info("x", F, [1, 16, d])],
                  [helper.make_tensor_value_info("y", F, [1, 16, d])], inits)


def small_classifier(seed: int = 0) -> onnx.ModelProto:
    """A half-width MobileNetV2 at 96x96 with 1000 classes: depthwise convs, residuals, top-k."""
    return mobilenet_v2(seed, resolution=96, width=0.5)


def non_finite(seed: int = 0) -> onnx.ModelProto:
    """Mul by a weight then Relu, fed NaN and +-inf by :func:`non_finite_feeds`: NaN must stay NaN."""
    rng = np.random.default_rng(seed)
    return _model("non_finite", [helper.make_node("Mul", ["x", "s"], ["m"]), helper.make_node("Relu", ["m"], ["y"])],
                  [helper.make_tensor_value_info("x", F, [1, 8, 8, 8])], [helper.make_tensor_value_info("y", F, [1, 8, 8, 8])],
                  {"s": (rng.random((1, 8, 1, 1)) + 0.5).astype(np.float32)})


def non_finite_feeds(seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded values with whole channels of NaN, +inf and -inf: QNN's HTP returns 0.0 for them."""
    x = np.random.default_rng(seed).standard_normal((1, 8, 8, 8)).astype(np.float32)
    x[:, 0], x[:, 1], x[:, 2] = np.nan, np.inf, -np.inf
    return {"x": x}


#: name -> builder. Dynamic dims are fed at :data:`DYNAMIC_SIZE` so "1" is never the only size tested.
MODELS: dict[str, Callable[[], onnx.ModelProto]] = {
    "nhwc_conv": nhwc_conv,
    "broadcasting": broadcasting,
    "dynamic_shapes": dynamic_shapes,
    "several_outputs": several_outputs,
    "attention_block": attention_block,
    "small_classifier": small_classifier,
}
DYNAMIC_SIZE = 5
