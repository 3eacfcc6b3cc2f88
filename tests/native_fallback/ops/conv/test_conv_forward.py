"""Conv forward on every path (1x1 GEMM, grouped, depthwise, Winograd, im2col, 1-D/3-D) against ORT,
in every layout, into channel slices, and in float16."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_model, ort_run
from conv_cases import CASES, to_last
from onnx import helper

from facade import native_fallback
from facade.native_fallback.ops.conv import WeightCache, conv


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("size", [13, 16])
def test_conv2d_paths_match_ort(name: str, size: int, rng) -> None:
    p = CASES[name]
    x = rng.standard_normal((2, p["c"], size, size)).astype(np.float32)
    w = rng.standard_normal((p["m"], p["c"] // p["g"], p["k"], p["k"])).astype(np.float32)
    b = rng.standard_normal(p["m"]).astype(np.float32)
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], strides=[p["s"]] * 2, pads=[p["p"]] * 4,
                            group=p["g"], dilations=[p["d"]] * 2)
    model = make_model([node], {"x": x}, ["y"], {"w": w, "b": b})
    got = native_fallback.compile(model).run({"x": x})["y"]
    np.testing.assert_allclose(got, ort_run(model, {"x": x})[0], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dims", [1, 3])
def test_conv_any_rank(dims: int, rng) -> None:
    x = rng.standard_normal((1, 3, *([7] * dims))).astype(np.float32)
    w = rng.standard_normal((4, 3, *([3] * dims))).astype(np.float32)
    model = make_model([helper.make_node("Conv", ["x", "w"], ["y"], pads=[1] * 2 * dims)], {"x": x}, ["y"], {"w": w})
    np.testing.assert_allclose(native_fallback.compile(model).run({"x": x})["y"], ort_run(model, {"x": x})[0],
                               rtol=1e-4, atol=1e-4)


def test_float16_conv_computes_in_float32(rng) -> None:
    x = rng.standard_normal((1, 8, 9, 9)).astype(np.float16)
    w = (rng.standard_normal((8, 8, 3, 3)) * 0.2).astype(np.float16)
    model = make_model([helper.make_node("Conv", ["x", "w"], ["y"], pads=[1] * 4)], {"x": x}, ["y"], {"w": w})
    got = native_fallback.compile(model).run({"x": x})["y"]
    assert got.dtype == np.float16
    np.testing.assert_allclose(got.astype(np.float32), ort_run(model, {"x": x})[0].astype(np.float32),
                               rtol=1e-2, atol=1e-2)


def test_float16_gemm_and_matmul(rng) -> None:
    a = rng.standard_normal((4, 8)).astype(np.float16)
    b = rng.standard_normal((8, 3)).astype(np.float16)
    nodes = [helper.make_node("Gemm", ["a", "b"], ["g"]), helper.make_node("MatMul", ["a", "b"], ["m"])]
    model = make_model(nodes, {"a": a, "b": b}, ["g", "m"])
    got = native_fallback.compile(model).run({"a": a, "b": b})
    for name, want in zip(("g", "m"), ort_run(model, {"a": a, "b": b}), strict=True):
        assert got[name].dtype == np.float16
        np.testing.assert_allclose(got[name].astype(np.float32), want.astype(np.float32), rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize(("in_last", "out_last"), [(True, False), (False, True), (True, True)])
@pytest.mark.parametrize("size", [13, 16])
def test_channels_last_layouts_match_channels_first(name: str, in_last: bool, out_last: bool, size: int,
                                                    rng) -> None:
    """Every 2-D convolution gives the N,C,H,W answer whichever side is channels-last (a
    Winograd-shaped one then takes im2col)."""
    p = CASES[name]
    x = rng.standard_normal((2, p["c"], size, size)).astype(np.float32)
    w = rng.standard_normal((p["m"], p["c"] // p["g"], p["k"], p["k"])).astype(np.float32)
    b = rng.standard_normal(p["m"]).astype(np.float32)
    node = native_fallback.ir.Node("Conv", ["x", "w", "b"], ["y"], attrs=dict(
        strides=[p["s"]] * 2, pads=[p["p"]] * 4, group=p["g"], dilations=[p["d"]] * 2))
    want = conv(x, w, b, node)
    got = conv(to_last(x) if in_last else x, w, b, node, cache=WeightCache(),
                           in_last=in_last, out_last=out_last)
    np.testing.assert_allclose(got, to_last(want) if out_last else want, rtol=1e-4, atol=1e-4)


def test_folded_bias_follows_a_bias_fed_at_run_time(rng) -> None:
    """The cached [weights | bias] GEMM operand is rebuilt when another bias array arrives."""
    x = rng.standard_normal((1, 4, 5, 5)).astype(np.float32)
    w = rng.standard_normal((12, 4, 1, 1)).astype(np.float32)
    node = native_fallback.ir.Node("Conv", ["x", "w", "b"], ["y"])
    cache = WeightCache()
    for b in (np.zeros(12, np.float32), np.arange(12, dtype=np.float32)):
        got = conv(x, w, b, node, cache=cache)
        np.testing.assert_allclose(got, conv(x, w, None, node) + b.reshape(1, 12, 1, 1), rtol=1e-5,
                                   atol=1e-5)


def test_channels_last_input_needs_a_2d_convolution(rng) -> None:
    node = native_fallback.ir.Node("Conv", ["x", "w"], ["y"], attrs=dict(pads=[1] * 6))
    x = rng.standard_normal((1, 5, 5, 5, 4)).astype(np.float32)
    with pytest.raises(ValueError, match="channels-last input needs a 2-D convolution"):
        conv(x, np.ones((4, 4, 3, 3, 3), np.float32), None, node, in_last=True)


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("out_last", [False, True])
def test_every_path_writes_into_a_channel_slice(name: str, out_last: bool, rng) -> None:
    """``into`` a slice of a joined output (ConvConcat): GEMM paths write it in place, others copy in."""
    p = CASES[name]
    x = rng.standard_normal((2, p["c"], 14, 14)).astype(np.float32)
    w = rng.standard_normal((p["m"], p["c"] // p["g"], p["k"], p["k"])).astype(np.float32)
    b = rng.standard_normal(p["m"]).astype(np.float32)
    node = native_fallback.ir.Node("Conv", ["x", "w", "b"], ["y"], attrs=dict(
        strides=[p["s"]] * 2, pads=[p["p"]] * 4, group=p["g"], dilations=[p["d"]] * 2))
    want = conv(x, w, b, node, cache=WeightCache(), out_last=out_last)
    pixels = want.size // (2 * p["m"])
    joined = np.full((2, pixels, p["m"] + 5) if out_last else (2, p["m"] + 5, pixels), np.nan, np.float32)
    into = joined[:, :, 3:3 + p["m"]] if out_last else joined[:, 3:3 + p["m"]]
    got = conv(x, w, b, node, cache=WeightCache(), out_last=out_last, into=into)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert np.shares_memory(got, joined)
    rest = np.concatenate([joined[:, :, :3], joined[:, :, 3 + p["m"]:]], axis=2) if out_last else \
        np.concatenate([joined[:, :3], joined[:, 3 + p["m"]:]], axis=1)
    assert np.isnan(rest).all()  # nothing outside the slice was written


def test_writing_into_an_array_of_another_shape_fails(rng) -> None:
    node = native_fallback.ir.Node("Conv", ["x", "w"], ["y"])
    x = rng.standard_normal((1, 4, 5, 5)).astype(np.float32)
    with pytest.raises(ValueError, match="cannot write a convolution of shape"):
        conv(x, np.ones((6, 4, 1, 1), np.float32), None, node, into=np.empty((1, 7, 25), np.float32))


def test_float16_writes_into_a_channel_slice(rng) -> None:
    """float16 runs in float32 and lands in the float16 slice."""
    x = rng.standard_normal((2, 4, 6, 6)).astype(np.float16)
    w = rng.standard_normal((5, 4, 3, 3)).astype(np.float16)
    node = native_fallback.ir.Node("Conv", ["x", "w"], ["y"], attrs=dict(pads=[1] * 4))
    joined = np.zeros((2, 8, 36), np.float16)
    got = conv(x, w, None, node, into=joined[:, 2:7])
    np.testing.assert_array_equal(got, conv(x, w, None, node))
    assert np.shares_memory(got, joined) and not joined[:, :2].any() and not joined[:, 7:].any()
