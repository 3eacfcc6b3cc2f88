"""LSTM, GRU and RNN (directions, layouts, sequence lengths) against ORT."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_model, ort_run
from onnx import helper

from facade import native_fallback

GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


@pytest.mark.parametrize("op", list(GATES))
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_recurrent_matches_ort(op: str, direction: str, rng) -> None:
    seq, batch, inp, hidden = 5, 3, 4, 6
    dirs = 2 if direction == "bidirectional" else 1
    g = GATES[op]
    x = rng.standard_normal((seq, batch, inp)).astype(np.float32)
    inits = {"w": rng.standard_normal((dirs, g * hidden, inp)).astype(np.float32) * 0.5,
             "r": rng.standard_normal((dirs, g * hidden, hidden)).astype(np.float32) * 0.5,
             "b": rng.standard_normal((dirs, 2 * g * hidden)).astype(np.float32) * 0.1,
             "lens": np.array([5, 3, 1], np.int32)}
    extra = {"linear_before_reset": 1} if op == "GRU" else {}
    node = helper.make_node(op, ["x", "w", "r", "b", "lens"], ["y", "yh"], hidden_size=hidden,
                            direction=direction, **extra)
    model = make_model([node], {"x": x}, ["y", "yh"], inits, opset=14)
    got = native_fallback.compile(model).run({"x": x})
    want = ort_run(model, {"x": x})
    np.testing.assert_allclose(got["y"], want[0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got["yh"], want[1], rtol=1e-4, atol=1e-5)
