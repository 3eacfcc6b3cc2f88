"""PointwiseDepthwise: the 1x1 GEMM writing the depthwise phases equals the two convolutions in turn."""

from __future__ import annotations

import numpy as np
import pytest
from conv_cases import to_last

from facade import native_fallback
from facade.native_fallback.ops.conv import kernels, pointwise_depthwise


def _pointwise_depthwise(c: int, m: int, stride: int, in_last: bool, out_last: bool, act: dict, bias: bool,
                         **dw_attrs) -> tuple:
    """The kernel of a 1x1 -> depthwise pair, and the two convolutions' own kernels to check it against."""
    first = native_fallback.ir.Node("FusedConv" if act else "Conv", ["x", "w1", "b1"], ["e"], attrs=dict(
        channels_last_in=int(in_last), channels_last_out=1, **act))
    second = native_fallback.ir.Node("Conv", ["e", "w2", "b2"], ["y"], attrs=dict(
        group=m, strides=[stride] * 2, channels_last_in=1, channels_last_out=int(out_last), **dw_attrs))
    fused = native_fallback.ir.Node("PointwiseDepthwise", ["x", "w1", "b1", "w2", "b2"], ["y"],
                                    attrs={"convs": [first, second]})
    kernel = pointwise_depthwise.pointwise_depthwise_kernel(fused, 1)
    one, two = (kernels.fused_conv_kernel(n, 1) if n.op_type == "FusedConv" else kernels.conv_kernel(n, 1)
                for n in (first, second))
    return kernel, lambda x, w1, b1, w2, b2: two(one(x, w1, b1)[0], w2, b2)[0]


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize(("in_last", "out_last"), [(False, True), (True, False)])
@pytest.mark.parametrize("act", ["Clip", "Relu", None])
@pytest.mark.parametrize("bias", [True, False])
def test_pointwise_writes_the_depthwise_phases(stride: int, in_last: bool, out_last: bool, act: str | None,
                                               bias: bool, monkeypatch, rng) -> None:
    """The 1x1's GEMM fills the padded phases (the padding exactly zero), whatever the layouts."""
    monkeypatch.setattr(pointwise_depthwise, "PHASES_MAX_PADDED_RATIO", 10.0)  # the phases also at test sizes
    acts = {"Clip": dict(activation="Clip", activation_attrs={"min": np.float32(0), "max": np.float32(6)}),
            "Relu": dict(activation="Relu"), None: {}}
    kernel, reference = _pointwise_depthwise(6, 16, stride, in_last, out_last, acts[act], bias, pads=[1] * 4)
    x = rng.standard_normal((2, 6, 9, 11)).astype(np.float32)
    w1 = rng.standard_normal((16, 6, 1, 1)).astype(np.float32)
    w2 = rng.standard_normal((16, 1, 3, 3)).astype(np.float32)
    b1, b2 = (rng.standard_normal(16).astype(np.float32) + 1 if bias else None for _ in range(2))
    args = (to_last(x) if in_last else x, w1, b1, w2, b2)
    got = kernel(*args)[0]
    np.testing.assert_allclose(got, reference(*args), rtol=1e-5, atol=1e-5)
    assert got.shape[-1 if out_last else 1] == 16


def test_pointwise_phases_with_uneven_padding_and_dilation(monkeypatch, rng) -> None:
    monkeypatch.setattr(pointwise_depthwise, "PHASES_MAX_PADDED_RATIO", 10.0)
    kernel, reference = _pointwise_depthwise(4, 8, 2, False, True, {}, True, auto_pad="SAME_UPPER", dilations=[2, 1])
    x = rng.standard_normal((1, 4, 10, 9)).astype(np.float32)
    args = (x, *(rng.standard_normal(s).astype(np.float32) for s in [(8, 4, 1, 1), (8,), (8, 1, 3, 3), (8,)]))
    np.testing.assert_allclose(kernel(*args)[0], reference(*args), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", ["small plane", "float16"])
def test_pointwise_depthwise_runs_both_convolutions_otherwise(case: str, monkeypatch, rng) -> None:
    """Padding worth more GEMM work than the copy it saves, or a float16 input: the two run in turn."""
    def not_here(*args, **kwargs):
        raise AssertionError("the phases were written")
    monkeypatch.setattr(pointwise_depthwise, "pointwise_phases", not_here)
    kernel, reference = _pointwise_depthwise(4, 8, 1, False, True, {}, True, pads=[1] * 4)
    dtype = np.float16 if case == "float16" else np.float32
    args = [rng.standard_normal(s).astype(dtype) for s in [(1, 4, 7, 7), (8, 4, 1, 1), (8,), (8, 1, 3, 3), (8,)]]
    got = kernel(*args)[0]
    assert got.dtype == dtype
    np.testing.assert_allclose(got.astype(np.float32), reference(*args).astype(np.float32), rtol=1e-5, atol=1e-5)
