"""The oracle must never be the one that is wrong: onnx 1.23's reference BatchNormalization (opsets 9-13)
and LRN are wrong, so both oracle paths are checked against the formulas of the ONNX spec."""

import numpy as np
import pytest
from onnx import helper, numpy_helper

from facade.conformance.oracle import NATIVE, native_outputs, oracle_outputs, reference_outputs

X = np.random.default_rng(0).standard_normal((2, 3, 4, 4)).astype(np.float32)  # batch 2 on purpose


def _model(node, opset, inits=()):
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", 1, X.shape)],
                              [helper.make_tensor_value_info("y", 1, X.shape)],
                              [numpy_helper.from_array(a, k) for k, a in inits])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _bn_case(opset):
    s, b, m, v = (np.array(a, np.float32) for a in ([1, 2, 3], [0.1, 0.2, 0.3], [0.5, -0.5, 1], [2, 3, 4]))
    node = helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], epsilon=1e-5)
    shape = (1, 3, 1, 1)
    want = (X - m.reshape(shape)) / np.sqrt(v.reshape(shape) + 1e-5) * s.reshape(shape) + b.reshape(shape)
    return _model(node, opset, zip("sbmv", (s, b, m, v), strict=True)), want


def _lrn_case():
    size, alpha, beta, bias = 3, 1e-2, 0.75, 1.0
    node = helper.make_node("LRN", ["x"], ["y"], size=size, alpha=alpha, beta=beta, bias=bias)
    sq = X.astype(np.float64) ** 2
    total = np.stack([sq[:, max(0, c - 1):c + 2].sum(axis=1) for c in range(3)], axis=1)
    return _model(node, 13), X / (bias + alpha / size * total) ** beta


@pytest.mark.parametrize("case", ["bn9", "bn13", "bn15", "lrn"])
@pytest.mark.parametrize("path", [reference_outputs, native_outputs, lambda m, f: oracle_outputs(m, f)[0]])
def test_oracle_paths_follow_the_spec(case, path):
    model, want = _lrn_case() if case == "lrn" else _bn_case(int(case[2:]))
    got = path(model, {"x": X})["y"]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_native_float64_is_the_first_choice():
    model, _ = _bn_case(9)
    out, name = oracle_outputs(model, {"x": X})
    assert name == NATIVE and out["y"].dtype == np.float64
