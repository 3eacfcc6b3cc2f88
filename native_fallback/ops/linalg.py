"""Matrix products: Gemm, MatMul, Einsum and the optimizer's FusedGemm, through numpy's BLAS (small float32
ones in transformer.c, large ones split across the threads by ``matmul_job``)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .. import registry
from ..ir import Node
from ._util import address, c_operands, transformer_kernels
from .activation import exact_gelu_kernel, in_place_activation
from .conv.epilogue import fused_activation
from .matmul_job import c_product


def narrow_float(dtype: np.dtype) -> bool:
    """float16, bfloat16 and float8: types numpy's BLAS lacks, computed in float32 and rounded back.

    ml_dtypes' bfloat16 matmul returns float32 and its einsum refuses the type, so
    without the round trip a bfloat16 model would silently turn float32.
    """
    return dtype.itemsize <= 2 and (dtype == np.float16 or dtype.name.startswith(("bfloat16", "float8")))


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """numpy matmul; narrow floats go through float32 BLAS (see :func:`narrow_float`).

    A stack of rows times one matrix (a transformer's every linear layer: (batch, tokens, k) by (k, n))
    is one (rows, k) GEMM: numpy's matmul runs a GEMM per leading index instead (7.7 us against 4.3 us
    for (16, 2, 32) by (32, 96), measured); a strided ``a`` is copied into rows for it."""
    if a.dtype == b.dtype and narrow_float(a.dtype):
        return np.matmul(a.astype(np.float32), b.astype(np.float32)).astype(a.dtype)
    if a.ndim > 2 and b.ndim == 2:
        lead = a.shape[:-1]
        return np.matmul(a.reshape(math.prod(lead), a.shape[-1]), b).reshape(*lead, b.shape[1])
    return np.matmul(a, b)


def gemm(a: np.ndarray, b: np.ndarray, c: np.ndarray | None, attrs: dict) -> np.ndarray:
    """alpha * A' B' + beta * C into one preallocated output."""
    if narrow_float(a.dtype):
        c32 = None if c is None else c.astype(np.float32)
        return gemm(a.astype(np.float32), b.astype(np.float32), c32, attrs).astype(a.dtype)
    a = a.T if attrs.get("transA", 0) else a
    b = b.T if attrs.get("transB", 0) else b
    alpha, beta = attrs.get("alpha", 1.0), attrs.get("beta", 1.0)
    out = np.empty((a.shape[0], b.shape[1]), dtype=np.result_type(a, b))
    np.matmul(a, b, out=out)
    if alpha != 1.0:
        out *= out.dtype.type(alpha)
    if c is not None and beta != 0.0:
        out += c if beta == 1.0 else c * c.dtype.type(beta)
    return out


#: Products (rows x k x n) up to this many go to transformer.c's linear_f32, which beats numpy's BLAS
#: dispatch below it and loses to BLAS's cache blocking well above (measured: 2.8 against 4.1 us at
#: (32 x 32) by (32 x 96), 86 against 45 us at (197 x 64) by (64 x 256)).
SMALL_LINEAR = 1 << 17
_LANES = 16  # linear_f32's vector width: other column counts stay with BLAS (its tail is scalar)
_F32 = np.dtype(np.float32)


def c_linear(gelu: bool = False) -> Callable[..., np.ndarray | None] | None:
    """x W (+ bias) (then the exact GELU) through linear_f32 for a small float32 product of a stack of rows
    by one matrix, as a function returning None where it does not apply; None without the C kernels.

    The checks and addresses of a call are kept for the next one with the same input shape and the same
    weight and bias objects (a node's constants): the Python around a 1.2 us kernel was 2.6 us."""
    lib = transformer_kernels()
    if lib is None:
        return None
    call, flag = lib.linear_f32, int(gelu)
    last: list = [None]  # the plan of the last call that may be reused (see plan)

    def plan(a: np.ndarray, w: np.ndarray, bias: np.ndarray | None) -> tuple | None:
        """(a's shape, w, bias, their C-ordered arrays, w and bias addresses, output shape, m, k, n)."""
        if a.dtype != _F32 or w.dtype != _F32 or a.ndim < 2 or w.ndim != 2 or not a.size:
            return None
        k, n = w.shape
        if a.shape[-1] != k or n % _LANES or (a.size // k) * k * n > SMALL_LINEAR or \
                (bias is not None and (bias.dtype != _F32 or bias.shape != (n,))):
            return None
        kept, (wp, bp), reusable = c_operands(w, bias)
        found = (a.shape, w, bias, kept, wp, bp, (*a.shape[:-1], n), a.size // k, k, n)
        if reusable:
            last[0] = found  # one assignment: a concurrent call sees the old plan or the new
        return found

    def run(a: np.ndarray, w: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray | None:
        p = last[0]
        if p is None or p[0] != a.shape or p[1] is not w or p[2] is not bias or a.dtype is not _F32:
            p = plan(a, w, bias)
            if p is None:
                return None
        x = a if a.flags.c_contiguous else np.ascontiguousarray(a)
        y = np.empty(p[6], _F32)
        call(address(x), p[4], p[5], address(y), p[7], p[8], p[9], flag)
        return y
    return run


def _split_gemm(attrs: dict, act_name: str | None = None) -> Callable[..., np.ndarray | None] | None:
    """Gemm (then a fused activation) as a C pool job (``matmul_job``) where alpha is 1 and C, if used, is a
    bias per column added with beta 1; None where that cannot hold for this node, or without the C kernels.
    An activation conv.c lacks runs in numpy after the job."""
    beta = attrs.get("beta", 1.0)
    if attrs.get("alpha", 1.0) != 1.0 or beta not in (0.0, 1.0):
        return None
    act = None if act_name is None else fused_activation(act_name, attrs.get("activation_attrs", {}))
    job = c_product(act if act is None or act.code is not None else None)
    if job is None:
        return None
    after = act.fn if act is not None and act.code is None else None
    ta, tb = bool(attrs.get("transA", 0)), bool(attrs.get("transB", 0))

    def run(a, b, c=None):
        y = job(a, b, c if beta else None, ta, tb)
        return y if y is None or after is None else after(y)
    return run


def _first(*ways: Callable[..., np.ndarray | None] | None) -> Callable[..., tuple]:
    """A kernel trying each of ``ways`` (None: skipped) in order, the last of which always answers."""
    ways = tuple(w for w in ways if w is not None)
    *tries, last = ways

    def run(*args):
        for way in tries:
            y = way(*args)
            if y is not None:
                return (y,)
        return (last(*args),)
    return run


@registry.register("Gemm", 1)
def gemm_kernel(node: Node, opset: int):
    """ONNX Gemm (C optional from opset 11); a large float32 one split across the threads in C."""
    return _first(_split_gemm(node.attrs), lambda a, b, c=None: gemm(a, b, c, node.attrs))


@registry.register("FusedGemm", 1, domain=registry.FACADE_DOMAIN)
def fused_gemm_kernel(node: Node, opset: int):
    """Gemm followed by an activation, produced by the optimizer's fusion pass."""
    act = in_place_activation(node.attrs["activation"], node.attrs.get("activation_attrs", {}))
    return _first(_split_gemm(node.attrs, node.attrs["activation"]), lambda a, b, c=None: act(gemm(a, b, c, node.attrs)))


@registry.register("MatMul", 1)
def matmul_kernel(node: Node, opset: int):
    """ONNX MatMul (numpy semantics, including 1-D promotion); small float32 rows by a matrix in C, large
    ones split across the threads in C."""
    return _first(c_linear(), c_product(), matmul)


@registry.register("FusedMatMul", 1, domain=registry.FACADE_DOMAIN)
def fused_matmul_kernel(node: Node, opset: int):
    """MatMul then a bias Add, from the optimizer's matmul_bias pass: the bias added in place on the
    product (the same float operations as the two nodes), then the fused exact GELU if there is one."""
    gelu = node.attrs.get("activation") == "Gelu"
    act = exact_gelu_kernel() if gelu else None
    small, big = c_linear(gelu), c_product()

    def run(a, b, bias):
        y = small(a, b, bias) if small is not None else None
        if y is not None:
            return (y,)
        y = big(a, b, bias) if big is not None else None
        if y is None:
            y = matmul(a, b)
            y += bias
        return (y,) if act is None else act(y)
    return run


@registry.register("Einsum", 12)
def einsum_kernel(node: Node, opset: int):
    """Einsum, with numpy choosing the contraction order."""
    eq = node.attrs["equation"].replace(" ", "")

    def run(*xs):
        dtype = xs[0].dtype
        if narrow_float(dtype):
            xs = [x.astype(np.float32) for x in xs]
        return (np.asarray(np.einsum(eq, *xs, optimize=True)).astype(dtype, copy=False),)
    return run


@registry.register("Det", 11)
def det_kernel(node: Node, opset: int):
    """Determinant of the trailing square matrices."""
    return lambda x: (np.linalg.det(x).astype(x.dtype),)
