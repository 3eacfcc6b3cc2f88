"""1-D convolutions lifted to 2-D ones of height 1 (``ops/conv/rank1.py``): every kind against ORT, in C
and in numpy, with a residual, and with the kernel's caches kept across runs."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_model, ort_run
from onnx import helper

from facade import native_fallback
from facade.native_fallback.ir import Node
from facade.native_fallback.ops.conv import WeightCache, conv
from facade.native_fallback.ops.conv.rank1 import lifted_node

# (channels in, out, kernel, stride, pads, group, dilation, auto_pad)
CASES = {
    "im2col": (16, 32, 3, 1, [1, 1], 1, 1, None),
    "strided": (32, 32, 3, 2, [1, 1], 1, 1, None),
    "pointwise": (16, 24, 1, 1, [0, 0], 1, 1, None),
    "pointwise_strided": (16, 24, 1, 2, [0, 0], 1, 1, None),
    "grouped": (8, 12, 3, 1, [0, 2], 2, 1, None),
    "depthwise": (16, 16, 5, 1, [2, 2], 16, 1, None),
    "depthwise_dilated_strided": (8, 8, 3, 2, [2, 2], 8, 2, None),
    "same_upper": (6, 10, 4, 3, None, 1, 1, "SAME_UPPER"),
    "same_lower": (6, 10, 4, 1, None, 1, 1, "SAME_LOWER"),
    "valid": (6, 10, 5, 2, None, 1, 1, "VALID"),
}


def _node(case: tuple) -> dict:
    _, _, k, s, pads, g, d, auto = case
    padding = dict(auto_pad=auto) if auto else dict(pads=pads)
    return dict(strides=[s], group=g, dilations=[d], kernel_shape=[k], **padding)


@pytest.mark.parametrize("kernels", ["c", "numpy"])
@pytest.mark.parametrize("name", CASES)
def test_1d_convolutions_match_ort(name: str, kernels: str, monkeypatch, rng) -> None:
    if kernels == "numpy":
        monkeypatch.setenv("FACADE_NATIVE_KERNELS", "numpy")
    c, m, k, *_, g, _d, _a = CASES[name]
    x = rng.standard_normal((2, c, 37)).astype(np.float32)
    w = rng.standard_normal((m, c // g, k)).astype(np.float32)
    b = rng.standard_normal(m).astype(np.float32)
    model = make_model([helper.make_node("Conv", ["x", "w", "b"], ["y"], **_node(CASES[name]))], {"x": x}, ["y"],
                       {"w": w, "b": b})
    want = ort_run(model, {"x": x})[0]
    for threads in (1, 2):
        got = native_fallback.compile(model, threads=threads).run({"x": x})["y"]
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_float64_1d_convolution_is_the_oracle(rng) -> None:
    """float64 (the conformance oracle) lifts too and stays float64, equal to a direct sum."""
    x = rng.standard_normal((1, 4, 11))
    w = rng.standard_normal((3, 4, 3))
    node = Node("Conv", ["x", "w"], ["y"], attrs=dict(pads=[1, 1], strides=[2]))
    got = conv(x, w, None, node, cache=WeightCache())
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1)))
    want = np.stack([np.einsum("ck,mck->m", xp[0, :, 2 * i:2 * i + 3], w) for i in range(6)], axis=-1)[None]
    assert got.dtype == np.float64 and got.shape == (1, 3, 6)
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("rshape", [(2, 12, 37), (12, 1), (37,)])
def test_residual_is_added_with_its_broadcast(rshape: tuple, rng) -> None:
    x = rng.standard_normal((2, 8, 37)).astype(np.float32)
    w = rng.standard_normal((12, 8, 3)).astype(np.float32)
    r = rng.standard_normal(rshape).astype(np.float32)
    node = Node("FusedConv", ["x", "w", "b", "", "r"], ["y"], attrs=dict(pads=[1, 1]))
    model = make_model([helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1])], {"x": x}, ["y"], {"w": w})
    got = conv(x, w, None, node, cache=WeightCache(), residual=r)
    np.testing.assert_allclose(got, ort_run(model, {"x": x})[0] + r, rtol=1e-4, atol=1e-4)


def test_the_lifted_weight_keeps_the_kernel_caches(rng) -> None:
    """The 2-D view of a weight is made once, so the kernel's derived weights and specialised closure
    are built at the first run and reused (a fresh view each run would rebuild them every time)."""
    x = rng.standard_normal((1, 16, 64)).astype(np.float32)
    w = rng.standard_normal((32, 16, 3)).astype(np.float32)
    node, cache = Node("Conv", ["x", "w"], ["y"], attrs=dict(pads=[1, 1])), WeightCache()
    first = conv(x, w, None, node, cache=cache)
    fast = dict(cache.fast)
    for _ in range(3):
        np.testing.assert_array_equal(conv(x, w, None, node, cache=cache), first)
    assert cache.rank1(node).weight(w) is cache.rank1(node).weight(w)
    assert cache.fast.keys() == fast.keys() and all(cache.fast[k] is fast[k] for k in fast)


def test_lifted_node_attributes() -> None:
    node = Node("Conv", ["x", "w"], ["y"], attrs=dict(kernel_shape=[3], strides=[2], dilations=[3], pads=[1, 2],
                                                      group=4))
    assert lifted_node(node).attrs == dict(kernel_shape=[1, 3], strides=[1, 2], dilations=[1, 3], pads=[0, 1, 0, 2],
                                           group=4)
    assert node.attrs["pads"] == [1, 2]  # the 1-D node is left as it was
