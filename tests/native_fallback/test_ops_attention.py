"""Attention natively (masks, causal, grouped-query heads, 3-D inputs) against ORT; caches go to the bridge."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_model, ort_run
from onnx import helper

from facade import native_fallback


@pytest.mark.parametrize("causal", [0, 1])
@pytest.mark.parametrize("kv_heads", [4, 2])
def test_attention_matches_ort(causal: int, kv_heads: int, rng) -> None:
    q = rng.standard_normal((2, 4, 5, 8)).astype(np.float32)
    k = rng.standard_normal((2, kv_heads, 6, 8)).astype(np.float32)
    v = rng.standard_normal((2, kv_heads, 6, 8)).astype(np.float32)
    mask = rng.uniform(size=(5, 6)) > 0.2
    node = helper.make_node("Attention", ["q", "k", "v", "mask"], ["y"], is_causal=causal)
    feeds = {"q": q, "k": k, "v": v, "mask": mask}
    model = make_model([node], feeds, ["y"], opset=23)
    got = native_fallback.compile(model).run(feeds)["y"]
    np.testing.assert_allclose(got, ort_run(model, feeds)[0], rtol=1e-5, atol=1e-5)


def test_attention_3d_inputs(rng) -> None:
    q, k, v = (rng.standard_normal((1, 5, 16)).astype(np.float32) for _ in range(3))
    node = helper.make_node("Attention", ["q", "k", "v"], ["y"], q_num_heads=2, kv_num_heads=2)
    feeds = {"q": q, "k": k, "v": v}
    model = make_model([node], feeds, ["y"], opset=23)
    np.testing.assert_allclose(native_fallback.compile(model).run(feeds)["y"], ort_run(model, feeds)[0],
                               rtol=1e-5, atol=1e-5)


def test_attention_with_kv_cache_is_served_by_the_bridge(rng) -> None:
    shape = (1, 2, 3, 4)
    names = ["q", "k", "v", "", "pk", "pv"]
    node = helper.make_node("Attention", names, ["y", "present_k", "present_v"])
    feeds = {n: rng.standard_normal(shape).astype(np.float32) for n in names if n}
    model = make_model([node], feeds, ["y", "present_k", "present_v"], opset=23)
    prog = native_fallback.compile(model)
    assert isinstance(prog, native_fallback.Program)
    got = prog.run(feeds)
    assert got["present_k"].shape == (1, 2, 6, 4)
