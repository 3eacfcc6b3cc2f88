"""Resize natively (nearest, linear) against ORT; cubic falls through to the bridge."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_model, ort_run
from onnx import helper

from facade import native_fallback


@pytest.mark.parametrize("mode", ["nearest", "linear"])
@pytest.mark.parametrize("coord", ["half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel"])
@pytest.mark.parametrize("scale", [2.0, 0.5, 1.7])
def test_resize_matches_ort(mode: str, coord: str, scale: float, rng) -> None:
    if coord == "align_corners" and scale == 1.7:
        pytest.skip("ORT uses the rounded output length here; the ONNX specification (and we) do not")
    x = rng.standard_normal((1, 2, 6, 8)).astype(np.float32)
    node = helper.make_node("Resize", ["x", "", "scales"], ["y"], mode=mode, coordinate_transformation_mode=coord)
    model = make_model([node], {"x": x}, ["y"], {"scales": np.array([1, 1, scale, scale], np.float32)}, opset=13)
    got = native_fallback.compile(model).run({"x": x})["y"]
    np.testing.assert_allclose(got, ort_run(model, {"x": x})[0], rtol=1e-5, atol=1e-5)


def test_cubic_is_served_by_the_next_kernel(rng) -> None:
    x = rng.standard_normal((1, 1, 4, 4)).astype(np.float32)
    node = helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="cubic")
    model = make_model([node], {"x": x}, ["y"], {"scales": np.array([1, 1, 2, 2], np.float32)}, opset=13)
    got = native_fallback.compile(model).run({"x": x})["y"]
    np.testing.assert_allclose(got, ort_run(model, {"x": x})[0], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("padding", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align", [0, 1])
def test_grid_sample_matches_ort(mode: str, padding: str, align: int, rng) -> None:
    x = rng.standard_normal((2, 3, 5, 6)).astype(np.float32)
    grid = rng.uniform(-1.3, 1.3, (2, 4, 7, 2)).astype(np.float32)
    node = helper.make_node("GridSample", ["x", "grid"], ["y"], mode=mode, padding_mode=padding, align_corners=align)
    feeds = {"x": x, "grid": grid}
    model = make_model([node], feeds, ["y"], opset=16)
    np.testing.assert_allclose(native_fallback.compile(model).run(feeds)["y"], ort_run(model, feeds)[0],
                               rtol=1e-4, atol=1e-5)
