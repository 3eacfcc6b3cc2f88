"""Pooling over strided views against ORT: padding, ceil mode, dilation, count_include_pad."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_model, ort_run
from onnx import helper

from facade import native_fallback
from facade.errors import UnsupportedModelError
from facade.native_fallback.ops import pool as pool_module

POOLS = [
    ("MaxPool", dict(kernel_shape=[3, 3], strides=[2, 2])),
    ("MaxPool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1)),
    ("MaxPool", dict(kernel_shape=[2, 2], dilations=[2, 2])),
    ("MaxPool", dict(kernel_shape=[3, 2], strides=[1, 3], dilations=[1, 2])),  # column stride, rows unstrided
    ("MaxPool", dict(kernel_shape=[1, 3], strides=[2, 2], pads=[0, 1, 0, 2])),
    ("MaxPool", dict(kernel_shape=[3, 1], strides=[1, 2])),  # one window column: the strided copy alone
    ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])),
    ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1)),
    ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)),
    ("AveragePool", dict(kernel_shape=[2, 3], strides=[3, 2], dilations=[2, 1], pads=[1, 0, 0, 1])),
    ("GlobalAveragePool", {}),
    ("GlobalMaxPool", {}),
]


@pytest.mark.parametrize(("op", "attrs"), POOLS)
def test_pool_matches_ort(op: str, attrs: dict, rng) -> None:
    x = rng.standard_normal((2, 3, 10, 11)).astype(np.float32)
    model = make_model([helper.make_node(op, ["x"], ["y"], **attrs)], {"x": x}, ["y"], opset=19)
    np.testing.assert_allclose(native_fallback.compile(model).run({"x": x})["y"], ort_run(model, {"x": x})[0],
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("op", "attrs"), [p for p in POOLS if p[0] in ("MaxPool", "AveragePool")])
def test_channels_last_pool_matches_channels_first(op: str, attrs: dict, rng) -> None:
    """The CPU layout pass may run a 2-D pool N,H,W,C on both sides; every geometry must agree."""
    x = rng.standard_normal((2, 5, 10, 11)).astype(np.float32)
    first = native_fallback.ir.Node(op, ["x"], ["y"], attrs=dict(attrs))
    last = native_fallback.ir.Node(op, ["x"], ["y"], attrs={**attrs, "channels_last_in": 1, "channels_last_out": 1})
    run = {"MaxPool": pool_module.max_pool, "AveragePool": pool_module.avg_pool}[op]
    want = run(x, first)
    got = run(np.ascontiguousarray(x.transpose(0, 2, 3, 1)), last, last=pool_module.channels_last(last))
    assert got.flags.c_contiguous
    np.testing.assert_allclose(got, want.transpose(0, 2, 3, 1), rtol=1e-6, atol=1e-6)


def test_pool_layout_flags_must_agree() -> None:
    node = native_fallback.ir.Node("MaxPool", ["x"], ["y"], attrs=dict(kernel_shape=[2, 2], channels_last_in=1))
    with pytest.raises(UnsupportedModelError, match="channels_last_in"):
        pool_module.channels_last(node)


#: Channel counts of the C pool tests: 85 = a block of four vectors, one vector and 5 channels one by one
#: in the channels-last kernel (a NaN and an all -inf plane in each part).
CHANNELS = [5, 85]


def _special_values(x: np.ndarray) -> np.ndarray:
    """NaN at one place, and -inf over a whole plane, in each channel part of the channels-last kernel."""
    for c in (1, 66, 82):
        if c < x.shape[1]:
            x[0, c, 3, 4] = np.nan
            x[1, c + 1, :, :] = -np.inf
    return x


@pytest.mark.parametrize("channels", CHANNELS)
@pytest.mark.parametrize("threads_n", [1, 2, 3])
@pytest.mark.parametrize("last", [False, True])
@pytest.mark.parametrize(("op", "attrs"), [p for p in POOLS if p[0] in ("MaxPool", "AveragePool")], ids=str)
def test_c_pool_equals_the_numpy_path_in_both_layouts_and_split(op, attrs, last, threads_n, channels, monkeypatch,
                                                                 rng):
    """conv.c's MaxPool and AveragePool (every padding, ceil_mode and count_include_pad divisor) give numpy's
    answer: the max exactly (NaN wins, as in np.maximum), the average to float32 rounding (another sum order)."""
    from facade.native_fallback import compiled, threads
    from facade.native_fallback.ir import Node

    x = _special_values(rng.standard_normal((2, channels, 11, 12)).astype(np.float32))
    xin = np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if last else x
    node = Node(op, ["x"], ["y"], attrs=attrs)
    run = {"MaxPool": pool_module.max_pool, "AveragePool": pool_module.avg_pool}[op]
    monkeypatch.setattr(threads, "MIN_PIECE", dict.fromkeys(threads.MIN_PIECE, 1))
    monkeypatch.setattr(pool_module, "C_PLANE_MIN_PIXELS", 1)  # these small planes go to C too
    called = []
    monkeypatch.setattr(pool_module, "_pool_c", lambda *a, f=pool_module._pool_c: called.append(1) or f(*a))
    previous = threads.running(threads.pool(threads_n))
    try:
        got = run(xin, node, last=last)
        monkeypatch.setenv(compiled.ENV_VAR, "numpy")
        expected = run(xin, node, last=last)
    finally:
        threads.running(previous)
    assert called == [1], f"the C {op} did not run (or ran with the C kernels off)"
    if op == "MaxPool":
        np.testing.assert_array_equal(got, expected)
    else:
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(("threads_n", "c_runs"), [(1, False), (3, True)])
def test_small_planes_pool_in_c_only_when_the_job_splits(threads_n, c_runs, monkeypatch, rng):
    """N,C,H,W planes under C_PLANE_MIN_PIXELS pool faster in numpy on one core, but numpy's pool runs a
    small pool whole: split across threads, the C job is the faster."""
    from facade.native_fallback import threads
    from facade.native_fallback.ir import Node

    x = rng.standard_normal((1, 48, 14, 14)).astype(np.float32)
    node = Node("AveragePool", ["x"], ["y"], attrs={"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1] * 4})
    monkeypatch.setattr(threads, "MIN_PIECE", {**threads.MIN_PIECE, "c_pool": 256})
    called = []
    monkeypatch.setattr(pool_module, "_pool_c", lambda *a, f=pool_module._pool_c: called.append(1) or f(*a))
    previous = threads.running(threads.pool(threads_n))
    try:
        got = pool_module.avg_pool(x, node)
    finally:
        threads.running(previous)
    assert bool(called) == c_runs
    model = make_model([helper.make_node("AveragePool", ["x"], ["y"], **node.attrs)], {"x": x}, ["y"], opset=19)
    np.testing.assert_allclose(got, ort_run(model, {"x": x})[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("channels", CHANNELS)
@pytest.mark.parametrize("threads_n", [1, 3])
@pytest.mark.parametrize("last", [False, True])
@pytest.mark.parametrize("kernels", ["c", "numpy"])
def test_a_max_pool_with_relu_equals_relu_after_it(kernels, last, threads_n, channels, monkeypatch, rng):
    """The ``relu`` attribute (a Relu folded in by the optimizer): relu(max) exactly, NaN and -inf windows
    included, in C (each max starting at 0) and in numpy."""
    from facade.native_fallback import compiled, threads
    from facade.native_fallback.ir import Node

    x = _special_values(rng.standard_normal((2, channels, 11, 12)).astype(np.float32))
    x[1, 3] = -np.abs(x[1, 3])  # every window negative
    if channels > 70:
        x[0, 70] = -np.abs(x[0, 70])  # and one in a vector block
    if kernels == "numpy":
        monkeypatch.setenv(compiled.ENV_VAR, "numpy")
    monkeypatch.setattr(threads, "MIN_PIECE", dict.fromkeys(threads.MIN_PIECE, 1))
    monkeypatch.setattr(pool_module, "C_PLANE_MIN_PIXELS", 1)
    attrs = {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 0, 1, 1]}
    flags = {"channels_last_in": 1, "channels_last_out": 1} if last else {}
    xin = np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if last else x
    called = []
    monkeypatch.setattr(pool_module, "_pool_c", lambda *a, f=pool_module._pool_c: called.append(1) or f(*a))
    previous = threads.running(threads.pool(threads_n))
    try:
        got = pool_module.max_pool(xin, Node("MaxPool", ["x"], ["y"], attrs={**attrs, **flags, "relu": 1}), last)
        plain = pool_module.max_pool(xin, Node("MaxPool", ["x"], ["y"], attrs={**attrs, **flags}), last)
    finally:
        threads.running(previous)
    assert bool(called) == (kernels == "c")
    np.testing.assert_array_equal(got, np.maximum(plain, 0))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool"])
def test_a_global_pool_of_a_channels_last_input_gives_the_channels_first_answer(op, dtype, rng) -> None:
    """``channels_last_in`` (the pass channels_last_regions): an N,H,W,C input, the (N, C, 1, 1) output."""
    x = rng.standard_normal((2, 7, 5, 6)).astype(dtype)
    first = pool_module._global(op)(native_fallback.ir.Node(op, ["x"], ["y"]), 19)
    last = pool_module._global(op)(native_fallback.ir.Node(op, ["x"], ["y"], attrs={"channels_last_in": 1}), 19)
    (want,), (got,) = first(x), last(np.ascontiguousarray(x.transpose(0, 2, 3, 1)))
    assert got.shape == want.shape == (2, 7, 1, 1) and got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7 if dtype == np.float32 else 1e-15)


def test_global_lp_pool_refuses_a_channels_last_input() -> None:
    node = native_fallback.ir.Node("GlobalLpPool", ["x"], ["y"], attrs={"channels_last_in": 1})
    with pytest.raises(UnsupportedModelError, match="channels_last_in"):
        pool_module._global("GlobalLpPool")(node, 19)
