"""Converter options that widen coverage: GELU in its exact Erf form stays exact on MNN
(``--useGeluApproximation 0``) and stays in TFLite builtins through onnx2tf (``-rtpo Erf GeLU``)."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import facade
from facade.devices import devices
from facade.inputs import seeded_feeds
from facade.router import target_availability


def erf_gelu_block(seed: int = 0) -> onnx.ModelProto:
    """MatMul, LayerNorm, then GELU as torch exports it (x * 0.5 * (1 + erf(x / sqrt 2))), at batch 2."""
    rng = np.random.default_rng(seed)
    inits = [numpy_helper.from_array(rng.standard_normal((16, 16)).astype(np.float32), "w"),
             numpy_helper.from_array(np.ones(16, np.float32), "scale"),
             numpy_helper.from_array(np.zeros(16, np.float32), "bias")]
    inits += [numpy_helper.from_array(np.array(v, np.float32), n) for n, v in
              (("sqrt2", np.sqrt(2.0)), ("one", 1.0), ("half", 0.5))]
    nodes = [helper.make_node("MatMul", ["x", "w"], ["m"], name="/fc/MatMul"),
             helper.make_node("LayerNormalization", ["m", "scale", "bias"], ["n"], axis=-1, name="/ln"),
             helper.make_node("Div", ["n", "sqrt2"], ["d"], name="/gelu/Div"),
             helper.make_node("Erf", ["d"], ["e"], name="/gelu/Erf"),
             helper.make_node("Add", ["e", "one"], ["a"], name="/gelu/Add"),
             helper.make_node("Mul", ["n", "a"], ["p"], name="/gelu/Mul"),
             helper.make_node("Mul", ["p", "half"], ["y"], name="/gelu/Mul_1")]
    graph = helper.make_graph(nodes, "erf_gelu", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 8, 16])], inits)
    return helper.make_model(graph)


@pytest.mark.parametrize("target", ["mnn:cpu", "litert:cpu"])
def test_erf_gelu_converts_exactly(target):
    avail, _, _ = target_availability(target, devices())
    if not avail:
        pytest.skip(f"{target}: {avail.reason}")
    proto = erf_gelu_block(seed=3)
    with facade.Session(proto, target=target, allow_fallback=False) as sess:
        feeds = seeded_feeds(sess.inputs, 9)
        got = sess.run(feeds)["y"]
    want = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    # MNN's default tanh approximation is off by ~2e-4 of the output's scale here; the exact form agrees to 1e-5.
    assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()
