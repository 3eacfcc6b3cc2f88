"""A GEMM convolution as one job of compiled/pool.c (ops/conv/c_job.py): split by output rows and by
output channels, on 1 to 4 C threads, in every layout, grouped and strided, against the numpy path."""

from __future__ import annotations

import numpy as np
import pytest

from facade.native_fallback import compiled, threads
from facade.native_fallback.compiled import blas
from facade.native_fallback.ir import Node
from facade.native_fallback.ops.conv import WeightCache
from facade.native_fallback.ops.conv import c_job as jobs
from facade.native_fallback.ops.conv.forward import conv
from facade.native_fallback.ops.conv.kernels import activation_of

pytestmark = pytest.mark.skipif(not isinstance(blas.sgemm(), tuple) or compiled.library("pool", {}) is None,
                                reason="no C pool or no BLAS address here: the numpy path runs instead")

# (in channels, out channels, kernel, stride, pad, group, spatial, dilation)
CONVS = [(24, 40, 1, 1, 0, 1, (13, 11), 1), (16, 48, 1, 2, 0, 4, (12, 12), 1), (9, 37, 3, 1, 1, 1, (10, 13), 1),
         (12, 36, 3, 2, 1, 3, (15, 9), 1), (3, 20, 7, 2, 3, 1, (17, 17), 1), (8, 70, 3, 1, 2, 1, (9, 30), 2)]
LAYOUTS = [(False, False), (True, True), (True, False), (False, True)]


def _conv(x, w, b, node, layout, cache, pool) -> np.ndarray:
    xin = np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if layout[0] else x
    previous = threads.running(pool)
    try:
        y = conv(xin, w, b, node, activation_of(node), cache, in_last=layout[0], out_last=layout[1])
    finally:
        threads.running(previous)
    return y.transpose(0, 3, 1, 2) if layout[1] else y


@pytest.mark.parametrize("gemm", ["tiles", "blas"])
@pytest.mark.parametrize("split", ["rows", "channels"])
@pytest.mark.parametrize("count", [1, 2, 3, 4])
@pytest.mark.parametrize("case", CONVS, ids=lambda c: "c{}m{}k{}s{}p{}g{}hw{}d{}".format(*c))
def test_job_equals_the_numpy_path_split_either_way(case, count, split, gemm, monkeypatch, rng):
    c, m, k, s, p, group, hw, d = case
    if gemm == "tiles" and not jobs.direct_tiles(WeightCache().lib):
        pytest.skip("conv.c has no direct tiles on this CPU (not AVX-512): BLAS runs every convolution")
    if gemm == "blas":
        monkeypatch.setattr(jobs, "direct_tiles", lambda lib: False)
    monkeypatch.setattr(jobs, "DIRECT_MIN_DEPTH", 1)  # the tiles for every case with a window
    x = rng.standard_normal((2, c, *hw)).astype(np.float32)
    w = rng.standard_normal((m, c // group, k, k)).astype(np.float32)
    b = rng.standard_normal(m).astype(np.float32)
    monkeypatch.setattr(threads, "MIN_PIECE", dict.fromkeys(threads.MIN_PIECE, 1))
    monkeypatch.setattr(jobs, "ROW_SPLIT_MIN_PIXELS", 1 if split == "rows" else 1 << 40)
    monkeypatch.setattr(jobs, "TILES_ROW_SPLIT_MIN_PIXELS", 1 if split == "rows" else 1 << 40)
    runs = []
    monkeypatch.setattr(threads.CJob, "run", lambda self, *a, run=threads.CJob.run: runs.append(self) or run(self, *a))
    attrs = dict(group=group, kernel_shape=[k, k], strides=[s, s], pads=[p] * 4, dilations=[d, d])
    for layout in LAYOUTS:
        flags = {"channels_last_in": int(layout[0]), "channels_last_out": int(layout[1])}
        node = Node("FusedConv", ["x", "w", "b"], ["y"], domain="ai.facade",
                    attrs={**attrs, **flags, "activation": "Clip", "activation_attrs": {"min": -0.5, "max": 2.0}})
        monkeypatch.setenv(compiled.ENV_VAR, "numpy")
        numpy_cache = WeightCache()  # one per layout: a kernel's cache plans for its node's one layout
        monkeypatch.delenv(compiled.ENV_VAR)
        expected = _conv(x, w, b, node, layout, numpy_cache, None)
        got = _conv(x, w, b, node, layout, WeightCache(), threads.pool(count))
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5, err_msg=f"layout {layout}")
    assert runs, "the C job never ran: this test checked the numpy path against itself"
    sources = {int(j.ctx[jobs.G["source"]]) for j in runs}
    if k == 1 and s == 1:  # an N,H,W,C input (ungrouped) takes the tiles, split or whole
        want = {jobs.SRC_INPUT, jobs.SRC_DIRECT_INPUT} if gemm == "tiles" and group == 1 else {jobs.SRC_INPUT}
    elif gemm == "tiles" and k > 1:
        want = {jobs.SRC_DIRECT}
    else:  # a whole job builds its own columns
        want = {jobs.SRC_OWN_COLUMNS if split == "rows" or count == 1 else jobs.SRC_SHARED_COLUMNS}
    assert sources == want


def test_the_job_is_not_taken_for_an_activation_c_lacks(rng):
    x = rng.standard_normal((1, 8, 6, 6)).astype(np.float32)
    w = rng.standard_normal((16, 8, 1, 1)).astype(np.float32)
    node = Node("FusedConv", ["x", "w", "b"], ["y"], domain="ai.facade",
                attrs={"activation": "Tanh", "activation_attrs": {}})
    cache, out = WeightCache(), np.empty((1, 16, 36), np.float32)
    g = cache.plan(node, x.shape, x.dtype, w, False, False).g
    assert jobs.c_job(x, w, None, g, 1, "pointwise", out, activation_of(node), False, False, cache,
                       threads.pool(2)) is None
    np.testing.assert_allclose(conv(x, w, None, node, activation_of(node), cache),
                               np.tanh(np.einsum("mc,nchw->nmhw", w[:, :, 0, 0], x)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("out_last", [False, True])
def test_job_writes_a_channel_slice_of_a_joined_output(out_last, monkeypatch, rng):
    x = rng.standard_normal((2, 12, 9, 7)).astype(np.float32)
    w = rng.standard_normal((20, 12, 3, 3)).astype(np.float32)
    b = rng.standard_normal(20).astype(np.float32)
    monkeypatch.setattr(threads, "MIN_PIECE", dict.fromkeys(threads.MIN_PIECE, 1))
    runs = []
    monkeypatch.setattr(threads.CJob, "run", lambda self, *a, run=threads.CJob.run: runs.append(self) or run(self, *a))
    node = Node("Conv", ["x", "w", "b"], ["y"], attrs={"pads": [1] * 4, "channels_last_out": int(out_last)})
    joined = np.full((2, 63, 31) if out_last else (2, 31, 63), 7.0, np.float32)  # 31 channels, 63 pixels
    into = joined[:, :, 5:25] if out_last else joined[:, 5:25]
    previous = threads.running(threads.pool(2))
    try:
        conv(x, w, b, node, None, WeightCache(), out_last=out_last, into=into)
    finally:
        threads.running(previous)
    assert runs
    expected = np.einsum("nchw->nhwc" if out_last else "nchw->nchw",
                         _conv(x, w, b, Node("Conv", ["x", "w", "b"], ["y"], attrs={"pads": [1] * 4}),
                               (False, False), WeightCache(), None)).reshape(into.shape)
    np.testing.assert_allclose(into, expected, rtol=1e-5, atol=1e-5)
    rest = np.delete(joined, np.s_[5:25], axis=2 if out_last else 1)
    assert (rest == 7.0).all(), "the job wrote outside its channel slice"


@pytest.mark.parametrize("gemm", ["tiles", "blas"])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("count", [1, 3])
@pytest.mark.parametrize("m", [40, 52])
def test_job_adds_a_residual_before_the_activation(gemm, layout, count, m, monkeypatch, rng):
    """The tiles' epilogue (residual, bias, activation per tile) and BLAS's passes after the GEMM. The last
    panel of 32 channels holds 8 or 20 (the tiles' masked loads and stores of one half, or of both)."""
    if gemm == "tiles" and not jobs.direct_tiles(WeightCache().lib):
        pytest.skip("conv.c has no direct tiles on this CPU (not AVX-512): BLAS runs every convolution")
    if gemm == "blas":
        monkeypatch.setattr(jobs, "direct_tiles", lambda lib: False)
    monkeypatch.setattr(threads, "MIN_PIECE", dict.fromkeys(threads.MIN_PIECE, 1))
    x = rng.standard_normal((2, 10, 9, 14)).astype(np.float32)
    w = rng.standard_normal((m, 10, 3, 3)).astype(np.float32)
    b = rng.standard_normal(m).astype(np.float32)
    attrs = {"pads": [1] * 4, "channels_last_in": int(layout[0]), "channels_last_out": int(layout[1]),
             "activation": "Relu", "activation_attrs": {}}
    node = Node("FusedConv", ["x", "w", "b"], ["y"], domain="ai.facade", attrs=attrs)
    plain = np.einsum("nchw->nhwc" if layout[1] else "nchw->nchw",
                      _conv(x, w, b, Node("Conv", ["x", "w", "b"], ["y"], attrs={"pads": [1] * 4}),
                            (False, False), WeightCache(), None))
    r = rng.standard_normal(plain.shape).astype(np.float32)
    runs = []
    monkeypatch.setattr(threads.CJob, "run", lambda self, *a, run=threads.CJob.run: runs.append(self) or run(self, *a))
    xin = np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if layout[0] else x
    previous = threads.running(threads.pool(count))
    try:
        got = conv(xin, w, b, node, activation_of(node), WeightCache(), in_last=layout[0], out_last=layout[1],
                   residual=r)
    finally:
        threads.running(previous)
    sources = {int(j.ctx[jobs.G["source"]]) for j in runs}
    assert runs and (sources == {jobs.SRC_DIRECT} if gemm == "tiles" else jobs.SRC_DIRECT not in sources)
    np.testing.assert_allclose(got, np.maximum(plain + r, 0), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("act", "act_attrs"), [(None, {}), ("Relu", {}), ("Clip", {"min": -0.5, "max": 1.5}),
                                                ("LeakyRelu", {"alpha": 0.1}),
                                                ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}),
                                                ("HardSwish", {}), ("Sigmoid", {})])
@pytest.mark.parametrize("layout", [(True, True), (False, True), (True, False)])
def test_tiles_apply_every_activation_stored_straight_or_through_the_tile(act, act_attrs, layout, monkeypatch, rng):
    """A whole channels-last tile is stored straight to the output with its bias and a Relu or Clip applied
    in registers, any other activation after it; other tiles go through the tile buffer. 70 output channels
    over 10x13 pixels: two whole panels and a partial one, whole tiles and a last short one."""
    if not jobs.direct_tiles(WeightCache().lib):
        pytest.skip("conv.c has no direct tiles on this CPU (not AVX-512): BLAS runs every convolution")
    x = rng.standard_normal((2, 24, 10, 13)).astype(np.float32)
    w = rng.standard_normal((70, 24, 1, 1)).astype(np.float32) / 4
    b = rng.standard_normal(70).astype(np.float32)
    flags = {"channels_last_in": int(layout[0]), "channels_last_out": int(layout[1])}
    extra = {"activation": act, "activation_attrs": act_attrs} if act else {}
    node = Node("FusedConv", ["x", "w", "b"], ["y"], domain="ai.facade", attrs={**flags, **extra})
    monkeypatch.setattr(jobs, "_tiles", lambda *a: "window")  # a 1x1 of either layout through the tiles
    runs = []
    monkeypatch.setattr(threads.CJob, "run", lambda self, *a, run=threads.CJob.run: runs.append(self) or run(self, *a))
    got = _conv(x, w, b, node, layout, WeightCache(), threads.pool(1))
    assert {int(j.ctx[jobs.G["source"]]) for j in runs} == {jobs.SRC_DIRECT}
    monkeypatch.setenv(compiled.ENV_VAR, "numpy")
    expected = _conv(x, w, b, node, (False, False), WeightCache(), None)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("m", "pieces"), [(32, 4), (128, 4)])
def test_tiles_split_by_rows_where_their_panels_are_fewer_than_the_pieces(m, pieces, monkeypatch, rng):
    """A 1x1 with one panel of output channels and few pixels a piece (a MobileNetV2 projection at 4 threads)
    splits by rows, so that every thread has a piece; with a panel for every piece, by channels as before."""
    if not jobs.direct_tiles(WeightCache().lib):
        pytest.skip("conv.c has no direct tiles on this CPU (not AVX-512): BLAS runs every convolution")
    monkeypatch.setattr(threads, "MIN_PIECE", dict.fromkeys(threads.MIN_PIECE, 1))
    x = rng.standard_normal((1, 40, 8, 8)).astype(np.float32)
    w = rng.standard_normal((m, 40, 1, 1)).astype(np.float32)
    node = Node("Conv", ["x", "w"], ["y"], attrs={"channels_last_in": 1, "channels_last_out": 1})
    runs = []
    monkeypatch.setattr(threads.CJob, "run", lambda self, *a, run=threads.CJob.run: runs.append(self) or run(self, *a))
    got = _conv(x, w, None, node, (True, True), WeightCache(), threads.pool(4))
    [job] = runs
    assert int(job.ctx[jobs.G["source"]]) == jobs.SRC_DIRECT_INPUT
    tasks = next(a for a in job.keep if isinstance(a, np.ndarray) and a.ndim == 2 and a.shape[1] == 6)
    assert len(tasks) == pieces
    by_rows = len({tuple(t[2:4]) for t in tasks}) == pieces  # (r0, r1) differ: rows; else (m0, m1) do
    assert by_rows == (m == 32)
    monkeypatch.setenv(compiled.ENV_VAR, "numpy")
    expected = _conv(x, w, None, Node("Conv", ["x", "w"], ["y"]), (False, False), WeightCache(), None)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("m", "group", "tiles"), [(32, 1, True), (64, 1, True), (24, 1, False), (16, 1, False),
                                                   (64, 2, True), (48, 2, False)])
def test_a_shallow_window_takes_the_tiles_where_its_channels_fill_whole_panels(m, group, tiles, monkeypatch, rng):
    """A stem's 3x3 over 3 channels (27 terms a sum) takes the tiles when each group's output channels are
    whole panels of 32, im2col and BLAS otherwise; both equal the numpy path."""
    if not jobs.direct_tiles(WeightCache().lib):
        pytest.skip("conv.c has no direct tiles on this CPU (not AVX-512): BLAS runs every convolution")
    x = rng.standard_normal((1, 3 * group, 23, 23)).astype(np.float32)
    w = rng.standard_normal((m, 3, 3, 3)).astype(np.float32)
    b = rng.standard_normal(m).astype(np.float32)
    attrs = {"group": group, "strides": [2, 2], "pads": [1] * 4}
    node = Node("Conv", ["x", "w", "b"], ["y"], attrs={**attrs, "channels_last_out": 1})
    runs = []
    monkeypatch.setattr(threads.CJob, "run", lambda self, *a, run=threads.CJob.run: runs.append(self) or run(self, *a))
    got = _conv(x, w, b, node, (False, True), WeightCache(), threads.pool(1))
    assert {int(j.ctx[jobs.G["source"]]) for j in runs} == {jobs.SRC_DIRECT if tiles else jobs.SRC_OWN_COLUMNS}
    monkeypatch.setenv(compiled.ENV_VAR, "numpy")
    expected = _conv(x, w, b, Node("Conv", ["x", "w", "b"], ["y"], attrs=attrs), (False, False), WeightCache(), None)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def _tasks(job: threads.CJob) -> np.ndarray:
    """A job's (image, group, r0, r1, m0, m1) tasks: its pieces, in order (pool.c's shares cut them)."""
    return next(a for a in job.keep if isinstance(a, np.ndarray) and a.ndim == 2 and a.shape[1] == 6)


@pytest.mark.parametrize(("hw", "pieces", "by_rows"), [(14, 2, True), (7, 2, True), (8, 4, False)])
def test_a_channels_last_tiles_job_splits_by_rows_while_each_piece_keeps_two_tiles(hw, pieces, by_rows,
                                                                                    monkeypatch, rng):
    """A 1x1 in tiles writing N,H,W,C splits by rows down to 24 pixels a piece, however many panels it has, so
    that the depthwise convolution after it reads on each thread the rows that thread wrote; fewer pixels, by
    channels. Both equal the numpy path."""
    if not jobs.direct_tiles(WeightCache().lib):
        pytest.skip("conv.c has no direct tiles on this CPU (not AVX-512): BLAS runs every convolution")
    monkeypatch.setattr(threads, "MIN_PIECE", dict.fromkeys(threads.MIN_PIECE, 1))
    x = rng.standard_normal((1, 40, hw, hw)).astype(np.float32)
    w = rng.standard_normal((256, 40, 1, 1)).astype(np.float32)
    node = Node("Conv", ["x", "w"], ["y"], attrs={"channels_last_in": 1, "channels_last_out": 1})
    runs = []
    monkeypatch.setattr(threads.CJob, "run", lambda self, *a, run=threads.CJob.run: runs.append(self) or run(self, *a))
    got = _conv(x, w, None, node, (True, True), WeightCache(), threads.pool(pieces))
    [job] = runs
    tasks = _tasks(job)
    assert len(tasks) == pieces
    assert (len({tuple(t[2:4]) for t in tasks}) == pieces) == by_rows
    monkeypatch.setenv(compiled.ENV_VAR, "numpy")
    expected = _conv(x, w, None, Node("Conv", ["x", "w"], ["y"]), (False, False), WeightCache(), None)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("hw", "across"), [(32, True), (12, False)])
def test_a_grouped_job_split_by_rows_takes_each_row_block_across_its_groups(hw, across, monkeypatch, rng):
    """A grouped 1x1 (ShuffleNet's, four groups) split by rows at two threads: with enough pixels a GEMM, the
    first half of its pieces is the top half of every group's output (what the next kernel's first piece
    reads), not the first two groups; with few, one piece a group as before. Both equal the numpy path."""
    monkeypatch.setattr(jobs, "direct_tiles", lambda lib: False)
    monkeypatch.setattr(threads, "MIN_PIECE", dict.fromkeys(threads.MIN_PIECE, 1))
    x = rng.standard_normal((1, 32, hw, hw)).astype(np.float32)
    w = rng.standard_normal((64, 8, 1, 1)).astype(np.float32)
    b = rng.standard_normal(64).astype(np.float32)
    node = Node("Conv", ["x", "w", "b"], ["y"], attrs={"group": 4})
    runs = []
    monkeypatch.setattr(threads.CJob, "run", lambda self, *a, run=threads.CJob.run: runs.append(self) or run(self, *a))
    got = _conv(x, w, b, node, (False, False), WeightCache(), threads.pool(2))
    [job] = runs
    tasks = _tasks(job)
    first, rows = tasks[: len(tasks) // 2], tasks[:, 3].max()  # pool.c's share of the caller; a 1x1's rows are pixels
    if across:
        assert sorted(first[:, 1].tolist()) == [0, 1, 2, 3] and first[:, 3].max() <= rows // 2
    else:
        assert len(tasks) == 4 and set(first[:, 1].tolist()) == {0, 1} and (tasks[:, 2:4] == (0, rows)).all()
    monkeypatch.setenv(compiled.ENV_VAR, "numpy")
    expected = _conv(x, w, b, node, (False, False), WeightCache(), None)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
