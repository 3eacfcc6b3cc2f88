"""Large float32 matrix products split across the engine's threads as one job of the C pool
(``compiled/conv.c``'s ``matmul_piece``): MatMul, Gemm, FusedMatMul and FusedGemm above a size.

Why: the engine holds numpy's BLAS at one thread (``threads.py``: its spinning workers collapse on a busy
machine), so every matrix product ran on one core at any ``threads``: a transformer's linear layers and
a CNN's classifier did not get faster with threads at all. Here each piece calls the same BLAS sgemm on a
block of output rows, or of output columns when there are too few rows (a classifier's single row reads
each piece's own columns of the weights), then adds the bias and runs the activation on its block while
it is in cache. Below the split size (or at one thread) the product stays with numpy and
``linalg.c_linear``: one sgemm call is then as fast, and the job would only add its hand-off.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .. import compiled, threads
from ..compiled import blas
from ._util import c_operands
from .conv.epilogue import Activation

#: conv.c's ``matmul_piece`` context fields (``enum { L_A = 2, ... }`` after sgemm and ilp64), in order.
FIELDS = ("sgemm", "ilp64", "a", "b", "y", "m", "n", "k", "ta", "tb", "bias", "act", "aa", "ab", "by_rows",
          "pieces")
L = {name: k for k, name in enumerate(FIELDS)}
#: Rows a row-split piece keeps at least (fewer make BLAS's blocking inefficient), and the column block
#: a column-split piece starts on (conv.c's ``column_edge``).
MIN_ROWS, COLUMN_ALIGN = 16, 16
#: A product of fewer rows costs as if it had this many: it is bound by reading the weights, not by its
#: multiply-adds (one row by (576, 1024): 5.9 multiply-adds a ns; 16 rows: 18; measured on one core).
WEIGHT_BOUND_ROWS = 4
_F32 = np.dtype(np.float32)

Product = Callable[..., "np.ndarray | None"]


def c_product(act: Activation | None = None) -> Product | None:
    """``run(a, b, bias=None, ta=False, tb=False)``: ``a' @ b'`` (+ ``bias`` per column) then ``act`` (which
    must have a C code, or be None) as a C pool job on the running program's threads, or None where it
    does not apply: one thread, a product too small to split (:data:`threads.MIN_PIECE` ``c_gemm``), not
    float32, ``b`` not 2-D, ``a`` transposed but not 2-D, a bias not of ``n`` values, shapes that do not
    multiply (numpy then raises its own error). Returns None at build without the C kernels or BLAS.

    ``a`` is (..., k), its leading axes the rows; with ``ta`` it is (k, m). ``b`` is (k, n), (n, k) with
    ``tb``. A job is kept for the next call with the same shape, operands (the node's constants: see
    :func:`~._util.c_operands`) and pool."""
    piece = compiled.address("conv", "matmul_piece")
    if piece is None or not isinstance(blas.sgemm(), tuple) or (act is not None and act.code is None):
        return None
    code, aa, ab = (0, 0.0, 0.0) if act is None else (act.code, act.a, act.b)
    act_bits = np.array([aa, ab], np.float64).view(np.int64)
    last: list = [None]  # (key, b, bias, job or None, output shape) of the last reusable plan

    def plan(a: np.ndarray, b: np.ndarray, bias: np.ndarray | None, ta: bool, tb: bool,
             pool: threads.Pool) -> tuple[threads.CJob | None, tuple, bool]:
        """(the job, None where it does not apply; the output shape; whether the plan may be kept)."""
        if a.dtype != _F32 or b.dtype != _F32 or b.ndim != 2 or a.ndim < 1 or (ta and a.ndim != 2):
            return None, (), True
        k, m = (a.shape[0], a.shape[1]) if ta else (a.shape[-1], math.prod(a.shape[:-1]))
        n = b.shape[0] if tb else b.shape[1]
        if ((b.shape[1] if tb else b.shape[0]) != k or not (m and n and k) or
                (bias is not None and (bias.dtype != _F32 or bias.shape not in ((n,), (1, n))))):
            return None, (), True
        by_rows = m >= MIN_ROWS * pool.threads
        _, count = threads.c_split("c_gemm", max(m, WEIGHT_BOUND_ROWS) * n * k, m // MIN_ROWS if by_rows else n // COLUMN_ALIGN)
        if count < 2:
            return None, (), True
        kept, (bp, biasp), reusable = c_operands(b, None if bias is None else bias.reshape(n))
        ctx = np.zeros(len(FIELDS), np.int64)
        fn, ilp64 = blas.sgemm()
        for name, value in (("sgemm", fn), ("ilp64", ilp64), ("b", bp), ("m", m), ("n", n), ("k", k), ("ta", ta),
                            ("tb", tb), ("bias", biasp or 0), ("act", code), ("aa", act_bits[0]),
                            ("ab", act_bits[1]), ("by_rows", by_rows), ("pieces", count)):
            ctx[L[name]] = value
        out_shape = (m, n) if ta else (*a.shape[:-1], n)
        return threads.CJob(ctx, [(piece, count)], x=L["a"], y=L["y"], keep=kept), out_shape, reusable

    def run(a: np.ndarray, b: np.ndarray, bias: np.ndarray | None = None, ta: bool = False,
            tb: bool = False) -> np.ndarray | None:
        pool = threads.current()
        if pool.threads == 1:
            return None
        key = (a.shape, a.dtype, ta, tb, pool)
        p = last[0]
        if p is None or p[0] != key or p[1] is not b or p[2] is not bias:
            job, out_shape, reusable = plan(a, b, bias, ta, tb, pool)
            p = (key, b, bias, job, out_shape)
            if reusable:
                last[0] = p  # one assignment: a concurrent call sees the old plan or the new
        if p[3] is None:
            return None
        x = a if a.flags.c_contiguous else np.ascontiguousarray(a)
        y = np.empty(p[4], _F32)
        p[3].run(pool, x, y)
        return y
    return run
