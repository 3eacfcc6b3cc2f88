"""Specialised convolutions (ops/conv/fast.py): a C pool job split across the program's threads runs from
the closure made at its first call, one closure per input shape and pool, with the general path's values."""

from __future__ import annotations

import numpy as np
import pytest

from facade.native_fallback import compiled, threads
from facade.native_fallback.compiled import blas
from facade.native_fallback.ir import Node
from facade.native_fallback.ops.conv import WeightCache
from facade.native_fallback.ops.conv.forward import conv
from facade.native_fallback.ops.conv.kernels import activation_of

pytestmark = pytest.mark.skipif(not isinstance(blas.sgemm(), tuple) or compiled.library("pool", {}) is None,
                                reason="no C pool or no BLAS address here: the numpy path runs instead")

ATTRS = {"channels_last_in": 1, "channels_last_out": 1, "activation": "Relu", "activation_attrs": {}}
# MobileNetV2's 14x14 block: a 1x1 from 64 to 384 channels, then a 3x3 depthwise over 384, both large
# enough to split at 2 threads under the default MIN_PIECE
KERNELS = {"pointwise": ((1, 14, 14, 64), (384, 64, 1, 1), {}),
           "depthwise": ((1, 14, 14, 384), (384, 1, 3, 3), {"group": 384, "pads": [1] * 4})}


def _run(x, w, b, node, cache, pool) -> np.ndarray:
    previous = threads.running(pool)
    try:
        return conv(x, w, b, node, activation_of(node), cache, in_last=True, out_last=True)
    finally:
        threads.running(previous)


def _case(kind, rng):
    xs, ws, extra = KERNELS[kind]
    x = rng.standard_normal(xs).astype(np.float32)
    w = (rng.standard_normal(ws) * 0.2).astype(np.float32)
    b = rng.standard_normal(ws[0]).astype(np.float32)
    return x, w, b, Node("FusedConv", ["x", "w", "b"], ["y"], domain="ai.facade", attrs={**ATTRS, **extra})


@pytest.fixture
def jobs(monkeypatch) -> list:
    """Every C pool job run, with the pool it ran on (its last phase's piece count is ``job[-1]``)."""
    seen: list = []
    run = threads.CJob.run
    monkeypatch.setattr(threads.CJob, "run", lambda self, pool, *a: seen.append((self, pool)) or run(self, pool, *a))
    return seen


@pytest.mark.parametrize("kind", sorted(KERNELS))
def test_a_split_job_runs_from_its_closure_with_the_general_paths_values(kind, jobs, rng):
    x, w, b, node = _case(kind, rng)
    cache = WeightCache()
    first = _run(x, w, b, node, cache, threads.pool(2))  # makes the closure
    [(job, pool)] = jobs
    assert pool.threads == 2 and job.job[-1] == 2, "the convolution was not split: this test checks nothing"
    [(_, _, closure)] = cache.fast.values()
    assert closure is not None and closure.__name__ == "pool_job"
    again = _run(x, w, b, node, cache, threads.pool(2))
    assert jobs[-1][0] is job
    general = _run(x, w, b, node, None, threads.pool(2))  # no cache: the general (numpy) path
    np.testing.assert_array_equal(again, first)
    np.testing.assert_allclose(again, general, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", sorted(KERNELS))
def test_one_closure_per_pool(kind, jobs, rng):
    """A kernel's cache serves the one-thread pool and a threaded one (a control-flow body's caller, a test):
    each gets its own closure, so the threaded run splits though the one-thread closure came first."""
    x, w, b, node = _case(kind, rng)
    cache = WeightCache()
    alone = _run(x, w, b, node, cache, threads.pool(1))
    assert all(job.job[-1] == 1 for job, _ in jobs)  # a job in the caller, or one conv.c call
    split = _run(x, w, b, node, cache, threads.pool(2))
    assert jobs[-1][1].threads == 2 and jobs[-1][0].job[-1] == 2
    assert len(cache.fast) == 2 and all(fn is not None for _, _, fn in cache.fast.values())
    np.testing.assert_allclose(split, alone, rtol=1e-6, atol=1e-6)


def test_an_nchw_input_read_channels_last_takes_the_job_unsplit(jobs, rng):
    """A depthwise convolution from N,C,H,W to channels-last runs as a job even on one piece: its first
    phase copies the input channels-last (faster than numpy's transposing copy)."""
    x = rng.standard_normal((1, 16, 6, 6)).astype(np.float32)
    w = rng.standard_normal((16, 1, 3, 3)).astype(np.float32)
    node = Node("FusedConv", ["x", "w"], ["y"], domain="ai.facade",
                attrs={**ATTRS, "channels_last_in": 0, "group": 16, "pads": [1] * 4})
    cache = WeightCache()
    previous = threads.running(threads.pool(2))
    try:
        got = conv(x, w, None, node, activation_of(node), cache, in_last=False, out_last=True)
    finally:
        threads.running(previous)
    [(job, _)] = jobs
    assert job.job[0] == 2 and job.job[-1] == 1  # the copy, then the convolution, each one piece
    assert next(iter(cache.fast.values()))[2].__name__ == "pool_job"
    expected = conv(np.ascontiguousarray(x.transpose(0, 2, 3, 1)), w, None, node, activation_of(node), None,
                    in_last=True, out_last=True)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
