"""Per-kernel cache of arrays derived from a weight, and of the plan resolved per input shape."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ... import threads
from ...compiled import blas
from ...ir import Node
from .epilogue import library
from .plan import ConvPlan, plan_conv
from .rank1 import Rank1


def gemm_weights(w: np.ndarray, group: int, b: np.ndarray | None, dtype: np.dtype,
                  cache: WeightCache | None, channels_last: bool = False) -> np.ndarray:
    """Grouped GEMM weights (group, M/group, K), with each output's bias appended as column K when
    ``b`` is given. ``channels_last`` orders K as (kh, kw, c) to match N,H,W,C windows (a copy, cached)."""
    def make() -> np.ndarray:
        w3 = (w.transpose(0, *range(2, w.ndim), 1) if channels_last else w).reshape(group, w.shape[0] // group, -1)
        if b is not None:
            w3 = np.concatenate([w3, b.reshape(group, -1, 1)], axis=2)
        return w3.astype(dtype, copy=False)
    return make() if cache is None else cache.get(w, ("gemm_weights", channels_last, b is not None), make, also=b)


def c_jobs_available() -> bool:
    """Whether a GEMM convolution can run as a ``compiled/pool.c`` job here (``c_job.py``): the pool
    compiled and numpy's BLAS found (float32 contiguous operands are checked per call)."""
    return threads.c_pool_available() and isinstance(blas.sgemm(), tuple)


class WeightCache:
    """Per-kernel cache of arrays derived from a weight (Winograd's U, depthwise tap plans, weights
    with a bias column), and of the plan resolved for each input shape (tens of microseconds of
    Python a call, which add up over the many small convolutions of mobile networks); it also
    holds the C library the kernel uses, which is why builders make it.

    Weight entries are dropped when a different weight array arrives (a weight fed at run time);
    an entry built from a bias too is rebuilt when a different bias array arrives.
    """

    def __init__(self) -> None:
        #: conv.c's kernels for this node (None: numpy), looked up once as the kernel is built.
        self.lib = library()
        #: Per input shape, weight and bias: the specialised closure of ``fast.py`` (or None).
        self.fast: dict = {}
        self._weight: np.ndarray | None = None
        self._values: dict = {}
        self._plans: dict = {}
        self._rank1: Rank1 | None = None

    def rank1(self, node: Node) -> Rank1:
        """This kernel's lift of its 1-D node to 2-D (see ``rank1``), made at its first call."""
        if self._rank1 is None:
            self._rank1 = Rank1(node)
        return self._rank1

    def plan(self, node: Node, x_shape: tuple[int, ...], dtype: np.dtype, w: np.ndarray, in_last: bool,
             out_last: bool) -> ConvPlan:
        """:func:`plan_conv` for this node, resolved once per input shape, dtype and weight shape."""
        key = (x_shape, dtype, w.shape)
        p = self._plans.get(key)
        if p is None:
            # numpy's Winograd only where no C job can run the convolution as im2col + GEMM (float32 with
            # C): the C job was faster at every size measured (ResNet's 3x3 over 56x56, 64 channels: 3.3
            # against 6.4 ms)
            winograd = dtype != np.float32 or self.lib is None or not c_jobs_available()
            p = self._plans[key] = plan_conv(node, x_shape, w.shape, dtype.kind == "f", in_last, out_last, winograd)
        return p

    def get(self, w: np.ndarray, key: object, make: Callable[[], np.ndarray],
            also: np.ndarray | None = None) -> np.ndarray:
        """The array ``make()`` builds for ``w`` and ``key`` (and ``also``, e.g. a bias), built once."""
        if self._weight is not w:
            self._weight, self._values = w, {}
            self.fast.clear()  # a closure may hold the address of an entry just dropped
        hit = self._values.get(key)
        if hit is None or hit[0] is not also:  # entries hold ``also``, so its identity cannot be reused
            if hit is not None:
                self.fast.clear()
            hit = self._values[key] = (also, make())
        return hit[1]
