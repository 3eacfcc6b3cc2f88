"""Matrix products as C pool jobs (``ops/matmul_job.py``): split by rows and by columns on 2-4 threads,
transposed operands, bias and activation, against numpy and ORT; and where the job must not run."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_model, ort_run
from onnx import helper

from facade import native_fallback
from facade.native_fallback import threads
from facade.native_fallback.ops.conv.epilogue import fused_activation
from facade.native_fallback.ops.matmul_job import c_product

pytestmark = pytest.mark.skipif(c_product() is None, reason="no C kernels or no OpenBLAS sgemm here")

# (m, k, n, ta, tb): one row (split by columns, n not a multiple of 16), few rows, many rows, transposed A
SHAPES = [(1, 576, 1000, False, True), (7, 2048, 1000, False, True), (64, 256, 512, False, False),
          (200, 300, 130, True, True), (130, 256, 520, True, False)]


@pytest.fixture
def on_threads():
    """Run the body as if inside a program on ``t`` threads (the pool the job splits over)."""
    previous = []

    def enter(t: int) -> threads.Pool:
        previous.append(threads.running(threads.pool(t)))
        return threads.pool(t)
    yield enter
    for p in reversed(previous):
        threads.running(p)


@pytest.mark.parametrize("t", [2, 3, 4])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("act", [None, "Relu", "HardSigmoid"])
def test_job_matches_numpy(shape, t, act, on_threads, rng):
    m, k, n, ta, tb = shape
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
    bias = rng.standard_normal(n).astype(np.float32)
    activation = None if act is None else fused_activation(act, {})
    job = c_product(activation)
    on_threads(t)
    want = (a.T if ta else a) @ (b.T if tb else b) + bias
    if activation is not None:
        want = activation(want)
    for _ in range(2):  # the second call reuses the kept job
        got = job(a, b, bias, ta, tb)
        assert got is not None, "the product should have been split"
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_stacked_rows_keep_their_shape(on_threads, rng):
    a = rng.standard_normal((2, 64, 256)).astype(np.float32)
    b = rng.standard_normal((256, 384)).astype(np.float32)
    on_threads(2)
    got = c_product()(a[:, ::-1], b)  # a strided input is copied into rows
    assert got.shape == (2, 64, 384)
    np.testing.assert_allclose(got, a[:, ::-1] @ b, rtol=1e-4, atol=1e-4)


def test_where_the_job_does_not_run(on_threads, rng):
    job = c_product()
    a = rng.standard_normal((64, 256)).astype(np.float32)
    b = rng.standard_normal((256, 512)).astype(np.float32)
    assert job(a, b) is None  # one thread: numpy's single sgemm call is as fast
    on_threads(2)
    assert job(a[:4, :16], b[:16, :32]) is None  # too small to split
    assert job(a.astype(np.float64), b.astype(np.float64)) is None
    assert job(a, b[:100]) is None  # shapes that do not multiply: numpy raises its error
    assert job(a, b, np.ones((64, 512), np.float32)) is None  # not a bias per column
    assert c_product(fused_activation("Tanh", {})) is None  # no C code for it


@pytest.mark.parametrize("attrs", [dict(transB=1), dict(transA=1, transB=1), dict(alpha=0.5), dict(beta=0.0),
                                   dict(beta=2.0)])
def test_gemm_nodes_match_ort_on_threads(attrs, rng):
    """Gemm through the job where it applies (alpha 1, beta 0 or 1) and numpy elsewhere, FusedGemm (a Gemm
    and its Relu), and MatMul on stacked rows: ORT's answer at 1 and 3 threads."""
    ta, tb = attrs.get("transA", 0), attrs.get("transB", 0)
    a = rng.standard_normal((256, 96) if ta else (96, 256)).astype(np.float32)
    w = rng.standard_normal((384, 256) if tb else (256, 384)).astype(np.float32)
    c = rng.standard_normal(384).astype(np.float32)
    x = rng.standard_normal((2, 48, 256)).astype(np.float32)
    w2 = rng.standard_normal((256, 192)).astype(np.float32)
    nodes = [helper.make_node("Gemm", ["a", "w", "c"], ["y"], **attrs),
             helper.make_node("Gemm", ["a", "w", "c"], ["g"], **attrs), helper.make_node("Relu", ["g"], ["r"]),
             helper.make_node("MatMul", ["x", "w2"], ["z"])]
    model = make_model(nodes, {"a": a, "x": x}, ["y", "r", "z"], {"w": w, "c": c, "w2": w2})
    want = ort_run(model, {"a": a, "x": x})
    for t in (1, 3):
        program = native_fallback.compile(model, threads=t)
        assert "FusedGemm" in [s.node.op_type for s in program.steps]
        got = program.run({"a": a, "x": x})
        for name, ref in zip(("y", "r", "z"), want, strict=True):
            np.testing.assert_allclose(got[name], ref, rtol=1e-4, atol=1e-4)
