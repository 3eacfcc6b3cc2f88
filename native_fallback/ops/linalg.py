"""Matrix products: Gemm, MatMul, Einsum and the optimizer's FusedGemm, through numpy's BLAS."""

from __future__ import annotations

import math

import numpy as np

from .. import registry
from ..ir import Node
from .activation import exact_gelu_kernel, in_place_activation


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


@registry.register("Gemm", 1)
def gemm_kernel(node: Node, opset: int):
    """ONNX Gemm (C optional from opset 11)."""
    return lambda a, b, c=None: (gemm(a, b, c, node.attrs),)


@registry.register("FusedGemm", 1, domain=registry.FACADE_DOMAIN)
def fused_gemm_kernel(node: Node, opset: int):
    """Gemm followed by an activation, produced by the optimizer's fusion pass."""
    act = in_place_activation(node.attrs["activation"], node.attrs.get("activation_attrs", {}))
    return lambda a, b, c=None: (act(gemm(a, b, c, node.attrs)),)


@registry.register("MatMul", 1)
def matmul_kernel(node: Node, opset: int):
    """ONNX MatMul (numpy semantics, including 1-D promotion)."""
    return lambda a, b: (matmul(a, b),)


@registry.register("FusedMatMul", 1, domain=registry.FACADE_DOMAIN)
def fused_matmul_kernel(node: Node, opset: int):
    """MatMul then a bias Add, from the optimizer's matmul_bias pass: the bias added in place on the
    product (the same float operations as the two nodes), then the fused exact GELU if there is one."""
    act = exact_gelu_kernel() if node.attrs.get("activation") == "Gelu" else None

    def run(a, b, bias):
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
