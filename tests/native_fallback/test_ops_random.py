"""Random generators: shapes, dtypes, ranges, and reproducibility under a seed."""

from __future__ import annotations

import numpy as np
from conftest import make_model
from onnx import TensorProto, helper

from facade import native_fallback


def test_seeded_uniform_is_reproducible_and_in_range() -> None:
    node = helper.make_node("RandomUniformLike", ["x"], ["y"], low=2.0, high=3.0, seed=5.0)
    x = np.zeros((4, 5), np.float32)
    prog = native_fallback.compile(make_model([node], {"x": x}, ["y"]))
    first, second = prog.run({"x": x})["y"], prog.run({"x": x})["y"]
    assert first.shape == (4, 5) and first.dtype == np.float32
    assert np.array_equal(first, second) and first.min() >= 2 and first.max() < 3


def test_normal_and_bernoulli_and_multinomial_shapes() -> None:
    nodes = [helper.make_node("RandomNormal", [], ["n"], shape=[3, 2], dtype=TensorProto.DOUBLE),
             helper.make_node("Bernoulli", ["p"], ["b"]),
             helper.make_node("Multinomial", ["logits"], ["m"], sample_size=4)]
    feeds = {"p": np.full((6,), 0.5, np.float32), "logits": np.zeros((2, 3), np.float32)}
    out = native_fallback.compile(make_model(nodes, feeds, ["n", "b", "m"], opset=15)).run(feeds)
    assert out["n"].shape == (3, 2) and out["n"].dtype == np.float64
    assert set(np.unique(out["b"])) <= {0.0, 1.0}
    assert out["m"].shape == (2, 4) and out["m"].dtype == np.int32 and out["m"].max() < 3
