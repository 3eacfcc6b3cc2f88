"""Shape operators against ONNX Runtime, on every native device: Flatten at every legal axis."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_model, ort_run
from onnx import helper

from facade import native_fallback

_DEVICES = ["cpu", pytest.param("opencl", marks=pytest.mark.skipif(
    not native_fallback.opencl_available()[0], reason="no OpenCL device here"))]


@pytest.mark.parametrize("device", _DEVICES)
@pytest.mark.parametrize(("shape", "axis"), [((2, 16), 2), ((2, 16), 0), ((2, 16), -1), ((2, 16), -2),
                                             ((2, 3, 4), 3), ((2, 3, 4), -3), ((0, 3), 2), ((5,), 1)])
def test_flatten_matches_ort_at_every_axis(shape: tuple, axis: int, device: str, rng) -> None:
    x = rng.standard_normal(shape).astype(np.float32)
    model = make_model([helper.make_node("Flatten", ["x"], ["y"], axis=axis)], {"x": x}, ["y"])
    got = native_fallback.compile(model, device=device).run({"x": x})["y"]
    want = ort_run(model, {"x": x})[0]
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("device", _DEVICES)
def test_gather_after_flatten_at_the_last_axis(device: str, rng) -> None:
    """torch's advanced indexing ``x[arange(B), last]`` on a [B, T] tensor: Flatten(axis=2) then Gather.

    Flatten gave (1, 32) for (32, 1), and the Gather of row 17 raised IndexError
    on BERT/GPT-2 exports.
    """
    x = rng.standard_normal((2, 16)).astype(np.float32)
    idx = np.array([3, 17, 31], np.int64)
    nodes = [helper.make_node("Flatten", ["x"], ["flat"], axis=2),
             helper.make_node("Gather", ["flat", "idx"], ["y"], axis=0)]
    model = make_model(nodes, {"x": x}, ["y"], {"idx": idx})
    got = native_fallback.compile(model, device=device).run({"x": x})["y"]
    np.testing.assert_array_equal(got, ort_run(model, {"x": x})[0])


@pytest.mark.parametrize(("start", "end", "step"), [(-1, -9223372036854775807, -1), (3, -100, -1), (-1, 0, -1),
                                                    (10, -10, -2), (0, 9223372036854775807, 1), (-3, -1, 1)])
def test_slice_clamps_ends_as_ort_does(start: int, end: int, step: int) -> None:
    """A negative step with a very negative end reverses the whole axis (torch's legacy F.pad export)."""
    x = np.arange(8, dtype=np.float32).reshape(4, 2)
    inits = {k: np.array([v], np.int64) for k, v in (("s", start), ("e", end), ("a", 0), ("st", step))}
    model = make_model([helper.make_node("Slice", ["x", "s", "e", "a", "st"], ["y"])], {"x": x}, ["y"], inits)
    got = native_fallback.compile(model).run({"x": x})["y"]
    want = ort_run(model, {"x": x})[0]
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)
