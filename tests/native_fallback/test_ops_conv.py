"""Convolution paths (1x1 GEMM, grouped, depthwise, Winograd, blocked im2col, 1-D/3-D) against ORT."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_model, ort_run
from onnx import helper

from facade import native_fallback
from facade.native_fallback.ops import conv as conv_module

CASES = {
    "pointwise": dict(c=16, m=24, k=1, s=1, p=0, g=1, d=1),
    "pointwise_strided": dict(c=16, m=24, k=1, s=2, p=0, g=1, d=1),
    "pointwise_grouped": dict(c=16, m=24, k=1, s=1, p=0, g=4, d=1),
    "pointwise_expanding": dict(c=8, m=48, k=1, s=2, p=0, g=1, d=1),  # bias folded into the GEMM
    "depthwise": dict(c=16, m=16, k=3, s=1, p=1, g=16, d=1),
    "depthwise_strided": dict(c=16, m=16, k=3, s=2, p=1, g=16, d=1),
    "depthwise_dilated_5x5": dict(c=8, m=8, k=5, s=1, p=4, g=8, d=2),
    "winograd": dict(c=64, m=64, k=3, s=1, p=1, g=1, d=1),
    "im2col_strided": dict(c=8, m=12, k=3, s=2, p=1, g=1, d=1),
    "im2col_grouped": dict(c=8, m=12, k=3, s=1, p=0, g=2, d=1),
    "im2col_7x7": dict(c=3, m=8, k=7, s=2, p=3, g=1, d=1),
    "im2col_dilated": dict(c=6, m=10, k=3, s=1, p=2, g=1, d=2),
}


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


def test_winograd_is_exact_in_float64(monkeypatch, rng) -> None:
    x = rng.standard_normal((1, 64, 14, 14))  # 64 channels, 196 pixels: the Winograd path
    w = rng.standard_normal((64, 64, 3, 3))
    model = make_model([helper.make_node("Conv", ["x", "w"], ["y"], pads=[1] * 4)], {"x": x.astype(np.float32)},
                       ["y"], {"w": w.astype(np.float32)})
    fast = native_fallback.compile(model, dtype="float64").run({"x": x})["y"]
    monkeypatch.setattr(conv_module, "WINOGRAD_MIN_CHANNELS", 10**9)
    direct = native_fallback.compile(model, dtype="float64").run({"x": x})["y"]
    assert fast.dtype == np.float64
    assert not np.array_equal(fast, direct)  # two different algorithms ran
    assert np.abs(fast - direct).max() <= 1e-12 * np.abs(direct).max()


def test_blocked_im2col_matches_unblocked(monkeypatch, rng) -> None:
    x = rng.standard_normal((1, 4, 20, 20)).astype(np.float32)
    w = rng.standard_normal((6, 4, 3, 3)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    model = make_model([helper.make_node("Conv", ["x", "w", "b"], ["y"], strides=[2, 2])], {"x": x}, ["y"],
                       {"w": w, "b": b})
    whole = native_fallback.compile(model).run({"x": x})["y"]
    monkeypatch.setattr(conv_module, "IM2COL_BLOCK_BYTES", 1024)
    np.testing.assert_allclose(native_fallback.compile(model).run({"x": x})["y"], whole, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dims", [1, 3])
def test_conv_any_rank(dims: int, rng) -> None:
    x = rng.standard_normal((1, 3, *([7] * dims))).astype(np.float32)
    w = rng.standard_normal((4, 3, *([3] * dims))).astype(np.float32)
    model = make_model([helper.make_node("Conv", ["x", "w"], ["y"], pads=[1] * 2 * dims)], {"x": x}, ["y"], {"w": w})
    np.testing.assert_allclose(native_fallback.compile(model).run({"x": x})["y"], ort_run(model, {"x": x})[0],
                               rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("attrs", [dict(strides=[2, 2]), dict(strides=[2, 2], output_padding=[1, 1]),
                                   dict(group=2, pads=[1, 1, 1, 1])])
def test_conv_transpose(attrs: dict, rng) -> None:
    x = rng.standard_normal((1, 4, 5, 5)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    model = make_model([helper.make_node("ConvTranspose", ["x", "w"], ["y"], **attrs)], {"x": x}, ["y"], {"w": w})
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


def _to_last(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(a, 1, -1))


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
    want = conv_module.conv(x, w, b, node)
    got = conv_module.conv(_to_last(x) if in_last else x, w, b, node, cache=conv_module.WeightCache(),
                           in_last=in_last, out_last=out_last)
    np.testing.assert_allclose(got, _to_last(want) if out_last else want, rtol=1e-4, atol=1e-4)


def test_depthwise_channels_last_with_asymmetric_pads(rng) -> None:
    """SAME_UPPER on an even input pads more at the end: each stride phase gets its own border."""
    x = rng.standard_normal((1, 6, 10, 9)).astype(np.float32)
    w = rng.standard_normal((6, 1, 3, 3)).astype(np.float32)
    node = native_fallback.ir.Node("Conv", ["x", "w"], ["y"], attrs=dict(strides=[2, 3], group=6,
                                                                          auto_pad="SAME_UPPER"))
    want = conv_module.conv(x, w, None, node)
    got = conv_module.conv(_to_last(x), w, None, node, in_last=True, out_last=True)
    np.testing.assert_allclose(got, _to_last(want), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["winograd", "im2col_strided", "im2col_7x7"])
def test_ungrouped_convolutions_write_channels_last(name: str, monkeypatch, rng) -> None:
    """Ungrouped convolutions write N,H,W,C through im2col, blocked or not (a Winograd-shaped one too)."""
    p = CASES[name]
    x = rng.standard_normal((2, p["c"], 16, 16)).astype(np.float32)
    w = rng.standard_normal((p["m"], p["c"], p["k"], p["k"])).astype(np.float32)
    node = native_fallback.ir.Node("Conv", ["x", "w"], ["y"], attrs=dict(strides=[p["s"]] * 2, pads=[p["p"]] * 4))
    want = conv_module.conv(x, w, None, node, cache=conv_module.WeightCache())
    got = conv_module.conv(x, w, None, node, cache=conv_module.WeightCache(), out_last=True)
    np.testing.assert_allclose(got, _to_last(want), rtol=1e-4, atol=1e-4)
    monkeypatch.setattr(conv_module, "IM2COL_BLOCK_BYTES", 1024)
    blocked = conv_module.conv(x, w, None, node, out_last=True)
    np.testing.assert_allclose(blocked, _to_last(want), rtol=1e-4, atol=1e-4)


def test_folded_bias_follows_a_bias_fed_at_run_time(rng) -> None:
    """The cached [weights | bias] GEMM operand is rebuilt when another bias array arrives."""
    x = rng.standard_normal((1, 4, 5, 5)).astype(np.float32)
    w = rng.standard_normal((12, 4, 1, 1)).astype(np.float32)
    node = native_fallback.ir.Node("Conv", ["x", "w", "b"], ["y"])
    cache = conv_module.WeightCache()
    for b in (np.zeros(12, np.float32), np.arange(12, dtype=np.float32)):
        got = conv_module.conv(x, w, b, node, cache=cache)
        np.testing.assert_allclose(got, conv_module.conv(x, w, None, node) + b.reshape(1, 12, 1, 1), rtol=1e-5,
                                   atol=1e-5)


def test_channels_last_input_needs_a_2d_convolution(rng) -> None:
    node = native_fallback.ir.Node("Conv", ["x", "w"], ["y"], attrs=dict(pads=[1] * 6))
    x = rng.standard_normal((1, 5, 5, 5, 4)).astype(np.float32)
    with pytest.raises(ValueError, match="channels-last input needs a 2-D convolution"):
        conv_module.conv(x, np.ones((4, 4, 3, 3, 3), np.float32), None, node, in_last=True)


@pytest.mark.parametrize("out_last", [False, True])
def test_blocked_im2col_reads_channels_last(out_last: bool, monkeypatch, rng) -> None:
    """A channels-last input's column matrix built in blocks of output rows, per group, bias folded."""
    x = rng.standard_normal((2, 8, 11, 11)).astype(np.float32)
    w = rng.standard_normal((12, 4, 3, 3)).astype(np.float32)
    b = rng.standard_normal(12).astype(np.float32)
    node = native_fallback.ir.Node("Conv", ["x", "w", "b"], ["y"], attrs=dict(pads=[1, 0, 2, 1], group=2,
                                                                              strides=[2, 1]))
    want = conv_module.conv(x, w, b, node)
    monkeypatch.setattr(conv_module, "IM2COL_BLOCK_BYTES", 1024)
    got = conv_module.conv(_to_last(x), w, b, node, cache=conv_module.WeightCache(), in_last=True,
                           out_last=out_last)
    np.testing.assert_allclose(got, _to_last(want) if out_last else want, rtol=1e-5, atol=1e-5)


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
    want = conv_module.conv(x, w, b, node, cache=conv_module.WeightCache(), out_last=out_last)
    pixels = want.size // (2 * p["m"])
    joined = np.full((2, pixels, p["m"] + 5) if out_last else (2, p["m"] + 5, pixels), np.nan, np.float32)
    into = joined[:, :, 3:3 + p["m"]] if out_last else joined[:, 3:3 + p["m"]]
    got = conv_module.conv(x, w, b, node, cache=conv_module.WeightCache(), out_last=out_last, into=into)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert np.shares_memory(got, joined)
    rest = np.concatenate([joined[:, :, :3], joined[:, :, 3 + p["m"]:]], axis=2) if out_last else \
        np.concatenate([joined[:, :3], joined[:, 3 + p["m"]:]], axis=1)
    assert np.isnan(rest).all()  # nothing outside the slice was written


def test_writing_into_an_array_of_another_shape_fails(rng) -> None:
    node = native_fallback.ir.Node("Conv", ["x", "w"], ["y"])
    x = rng.standard_normal((1, 4, 5, 5)).astype(np.float32)
    with pytest.raises(ValueError, match="cannot write a convolution of shape"):
        conv_module.conv(x, np.ones((6, 4, 1, 1), np.float32), None, node, into=np.empty((1, 7, 25), np.float32))


def test_float16_writes_into_a_channel_slice(rng) -> None:
    """float16 runs in float32 and lands in the float16 slice."""
    x = rng.standard_normal((2, 4, 6, 6)).astype(np.float16)
    w = rng.standard_normal((5, 4, 3, 3)).astype(np.float16)
    node = native_fallback.ir.Node("Conv", ["x", "w"], ["y"], attrs=dict(pads=[1] * 4))
    joined = np.zeros((2, 8, 36), np.float16)
    got = conv_module.conv(x, w, None, node, into=joined[:, 2:7])
    np.testing.assert_array_equal(got, conv_module.conv(x, w, None, node))
    assert np.shares_memory(got, joined) and not joined[:, :2].any() and not joined[:, 7:].any()


def _pointwise_depthwise(c: int, m: int, stride: int, in_last: bool, out_last: bool, act: dict, bias: bool,
                         **dw_attrs) -> tuple:
    """The kernel of a 1x1 -> depthwise pair, and the two convolutions' own kernels to check it against."""
    first = native_fallback.ir.Node("FusedConv" if act else "Conv", ["x", "w1", "b1"], ["e"], attrs=dict(
        channels_last_in=int(in_last), channels_last_out=1, **act))
    second = native_fallback.ir.Node("Conv", ["e", "w2", "b2"], ["y"], attrs=dict(
        group=m, strides=[stride] * 2, channels_last_in=1, channels_last_out=int(out_last), **dw_attrs))
    fused = native_fallback.ir.Node("PointwiseDepthwise", ["x", "w1", "b1", "w2", "b2"], ["y"],
                                    attrs={"convs": [first, second]})
    kernel = conv_module.pointwise_depthwise_kernel(fused, 1)
    one, two = (conv_module.fused_conv_kernel(n, 1) if n.op_type == "FusedConv" else conv_module.conv_kernel(n, 1)
                for n in (first, second))
    return kernel, lambda x, w1, b1, w2, b2: two(one(x, w1, b1)[0], w2, b2)[0]


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize(("in_last", "out_last"), [(False, True), (True, False)])
@pytest.mark.parametrize("act", ["Clip", "Relu", None])
@pytest.mark.parametrize("bias", [True, False])
def test_pointwise_writes_the_depthwise_phases(stride: int, in_last: bool, out_last: bool, act: str | None,
                                               bias: bool, monkeypatch, rng) -> None:
    """The 1x1's GEMM fills the padded phases (the padding exactly zero), whatever the layouts."""
    monkeypatch.setattr(conv_module, "PHASES_MAX_PADDED_RATIO", 10.0)  # the phases also at test sizes
    acts = {"Clip": dict(activation="Clip", activation_attrs={"min": np.float32(0), "max": np.float32(6)}),
            "Relu": dict(activation="Relu"), None: {}}
    kernel, reference = _pointwise_depthwise(6, 16, stride, in_last, out_last, acts[act], bias, pads=[1] * 4)
    x = rng.standard_normal((2, 6, 9, 11)).astype(np.float32)
    w1 = rng.standard_normal((16, 6, 1, 1)).astype(np.float32)
    w2 = rng.standard_normal((16, 1, 3, 3)).astype(np.float32)
    b1, b2 = (rng.standard_normal(16).astype(np.float32) + 1 if bias else None for _ in range(2))
    args = (_to_last(x) if in_last else x, w1, b1, w2, b2)
    got = kernel(*args)[0]
    np.testing.assert_allclose(got, reference(*args), rtol=1e-5, atol=1e-5)
    assert got.shape[-1 if out_last else 1] == 16


def test_pointwise_phases_with_uneven_padding_and_dilation(monkeypatch, rng) -> None:
    monkeypatch.setattr(conv_module, "PHASES_MAX_PADDED_RATIO", 10.0)
    kernel, reference = _pointwise_depthwise(4, 8, 2, False, True, {}, True, auto_pad="SAME_UPPER", dilations=[2, 1])
    x = rng.standard_normal((1, 4, 10, 9)).astype(np.float32)
    args = (x, *(rng.standard_normal(s).astype(np.float32) for s in [(8, 4, 1, 1), (8,), (8, 1, 3, 3), (8,)]))
    np.testing.assert_allclose(kernel(*args)[0], reference(*args), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", ["small plane", "float16"])
def test_pointwise_depthwise_runs_both_convolutions_otherwise(case: str, monkeypatch, rng) -> None:
    """Padding worth more GEMM work than the copy it saves, or a float16 input: the two run in turn."""
    def not_here(*args, **kwargs):
        raise AssertionError("the phases were written")
    monkeypatch.setattr(conv_module, "_pointwise_phases", not_here)
    kernel, reference = _pointwise_depthwise(4, 8, 1, False, True, {}, True, pads=[1] * 4)
    dtype = np.float16 if case == "float16" else np.float32
    args = [rng.standard_normal(s).astype(dtype) for s in [(1, 4, 7, 7), (8, 4, 1, 1), (8,), (8, 1, 3, 3), (8,)]]
    got = kernel(*args)[0]
    assert got.dtype == dtype
    np.testing.assert_allclose(got.astype(np.float32), reference(*args).astype(np.float32), rtol=1e-5, atol=1e-5)
