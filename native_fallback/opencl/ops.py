"""OpenCL implementations of the hot operators, overriding numpy kernels by operator name.

Each entry says which inputs it wants on the device (the rest, such as shape
tensors, arrive as host arrays), whether it accepts a given node (attributes it
does not cover send that node back to numpy), and builds a kernel callable. numpy
stays the definition: an operator missing here, or a node an entry declines,
runs the numpy kernel, with data moved between host and device only at those
boundaries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..ir import Node
from ..ops.conv import conv_geometry
from ..ops.pool import _ceil_geometry
from ..ops.tensor import flatten_shape, reshape_shape
from .runtime import Device

#: Activation codes understood by kernels.cl's activate().
ACTIVATIONS = {None: 0, "Relu": 1, "Clip": 2, "LeakyRelu": 3, "Sigmoid": 4, "Tanh": 5}
_BINARY = {"Add": 0, "Sub": 1, "Mul": 2, "Div": 3}
_LOCAL = 16


@dataclass(frozen=True)
class ClOp:
    """One OpenCL operator: which inputs go to the device, when it applies, how to build it."""

    device_inputs: tuple[int, ...]
    accepts: Callable[[Node, int], bool]
    build: Callable[[Node, int, Device, np.dtype], Callable[..., tuple]]


def _round(n: int, to: int = _LOCAL) -> int:
    return -(-n // to) * to


def _act(node: Node) -> tuple[int, float, float]:
    """(code, a, b) of a fused activation; Clip bounds default to +-inf."""
    name = node.attrs.get("activation")
    attrs = node.attrs.get("activation_attrs", {})
    if name == "Clip":
        return 2, attrs.get("min", -np.inf), attrs.get("max", np.inf)
    return ACTIVATIONS[name], attrs.get("alpha", 0.01), 0.0


def _fused_ok(node: Node) -> bool:
    return node.attrs.get("activation") in ACTIVATIONS


def _conv_accepts(node: Node, opset: int) -> bool:
    return (node.op_type == "Conv" or _fused_ok(node)) and len(node.attrs.get("kernel_shape", [0, 0])) == 2


def _conv(node: Node, opset: int, dev: Device, dtype: np.dtype):
    prg = dev.kernels(dtype)
    act, a, b = _act(node)
    group = node.attrs.get("group", 1)

    def run(x, w, bias=None):
        if x.ndim != 4:
            raise NotImplementedError("OpenCL Conv is 2-D only")
        n, c, h, wd = x.shape
        m, _, kh, kw = w.shape
        g = conv_geometry(node, (h, wd), (kh, kw))
        oh, ow = g.out_shape
        y = dev.empty((n, m, oh, ow), dtype)
        prg.conv2d(dev.queue, (_round(ow), _round(oh), n * m), (_LOCAL, _LOCAL, 1), x.data, w.data,
                   (bias if bias is not None else w).data, y.data,
                   *np.int32([c, h, wd, m, oh, ow, kh, kw, *g.strides, *g.pads_begin, *g.dilations, group,
                              bias is not None, act]), dtype.type(a), dtype.type(b))
        return (y,)
    return run


def _gemm(node: Node, opset: int, dev: Device, dtype: np.dtype):
    prg = dev.kernels(dtype)
    act, a, b = _act(node)
    ta, tb = node.attrs.get("transA", 0), node.attrs.get("transB", 0)
    alpha, beta = node.attrs.get("alpha", 1.0), node.attrs.get("beta", 1.0)
    matmul = node.op_type == "MatMul"

    def run(x, w, c=None):
        if matmul and (x.ndim < 2 or w.ndim != 2):
            raise NotImplementedError("OpenCL MatMul takes (..., M, K) @ (K, N)")
        batch = int(np.prod(x.shape[:-2])) if matmul else 1
        m, k = (x.shape[-2], x.shape[-1]) if not ta else (x.shape[1], x.shape[0])
        n = w.shape[0] if tb else w.shape[1]
        if c is not None and c.shape != (m, n):
            c = dev.upload(np.broadcast_to(c.get(), (m, n)))
        y = dev.empty((*x.shape[:-2], m, n) if matmul else (m, n), dtype)
        prg.gemm(dev.queue, (_round(n), _round(m), batch), (_LOCAL, _LOCAL, 1), x.data, w.data,
                 (c if c is not None else x).data, y.data,
                 *np.int32([m, n, k, ta, tb, m * k if matmul else 0, 0]), dtype.type(alpha), dtype.type(beta),
                 np.int32(c is not None), np.int32(act), dtype.type(a), dtype.type(b))
        return (y,)
    return run


def _pool_accepts(node: Node, opset: int) -> bool:
    return len(node.attrs.get("kernel_shape", [])) == 2 and not (len(node.outputs) > 1 and node.outputs[1])


def _pool(node: Node, opset: int, dev: Device, dtype: np.dtype):
    prg = dev.kernels(dtype)
    kernel = tuple(node.attrs["kernel_shape"])
    is_max = node.op_type == "MaxPool"

    def run(x):
        n, c, h, w = x.shape
        g = _ceil_geometry(node, (h, w), kernel)
        plain = conv_geometry(node, (h, w), kernel)
        oh, ow = g.out_shape
        y = dev.empty((n, c, oh, ow), dtype)
        prg.pool2d(dev.queue, (_round(ow), _round(oh), n * c), (_LOCAL, _LOCAL, 1), x.data, y.data,
                   *np.int32([h, w, oh, ow, *kernel, *g.strides, *g.pads_begin, *plain.pads_end, *g.dilations,
                              is_max, node.attrs.get("count_include_pad", 0)]))
        return (y,)
    return run


def _global_avg(node: Node, opset: int, dev: Device, dtype: np.dtype):
    prg = dev.kernels(dtype)

    def run(x):
        nc = x.shape[0] * x.shape[1]
        y = dev.empty((*x.shape[:2], *([1] * (x.ndim - 2))), dtype)
        prg.global_avg(dev.queue, (nc,), None, x.data, y.data, np.int32(x.size // max(nc, 1)))
        return (y,)
    return run


def _softmax_accepts(node: Node, opset: int) -> bool:
    return opset < 13 or node.attrs.get("axis", -1) == -1


def _softmax(node: Node, opset: int, dev: Device, dtype: np.dtype):
    prg = dev.kernels(dtype)

    def run(x):
        axis = (node.attrs.get("axis", 1) if opset < 13 else -1) % x.ndim
        rows = int(np.prod(x.shape[:axis])) if opset < 13 else int(np.prod(x.shape[:-1]))
        length = x.size // max(rows, 1)
        y = dev.empty(x.shape, dtype)
        prg.softmax(dev.queue, (rows,), None, x.data, y.data, np.int32(rows), np.int32(length))
        return (y,)
    return run


def _unary(node: Node, opset: int, dev: Device, dtype: np.dtype):
    prg = dev.kernels(dtype)
    code = ACTIVATIONS[node.op_type]
    a = node.attrs.get("alpha", 0.01)

    def run(x, lo=None, hi=None):
        lo_v = node.attrs.get("min", -np.inf) if lo is None else float(np.asarray(lo).reshape(-1)[0])
        hi_v = node.attrs.get("max", np.inf) if hi is None else float(np.asarray(hi).reshape(-1)[0])
        y = dev.empty(x.shape, dtype)
        first, second = (lo_v, hi_v) if code == 2 else (a, 0.0)
        prg.unary(dev.queue, (max(x.size, 1),), None, x.data, y.data, np.int32(x.size), np.int32(code),
                  dtype.type(first), dtype.type(second))
        return (y,)
    return run


def _strides(shape: tuple[int, ...]) -> list[int]:
    """Element strides of ``shape`` broadcast to ``out``, right-aligned to rank 6 (0 = broadcast)."""
    full = (1,) * (6 - len(shape)) + tuple(shape)
    strides, acc = [0] * 6, 1
    for d in range(5, -1, -1):
        strides[d] = 0 if full[d] == 1 else acc
        acc *= full[d]
    return strides


def _binary(node: Node, opset: int, dev: Device, dtype: np.dtype):
    prg = dev.kernels(dtype)
    op = _BINARY[node.op_type if node.op_type != "Sum" else "Add"]
    metas: dict = {}

    def apply(x, z):
        out = np.broadcast_shapes(x.shape, z.shape)
        if len(out) > 6:
            raise NotImplementedError("OpenCL elementwise ops take rank <= 6")
        key = (x.shape, z.shape)
        if key not in metas:
            full = (1,) * (6 - len(out)) + tuple(out)
            metas[key] = dev.upload(np.array([*full, *_strides(x.shape), *_strides(z.shape)], np.int32))
        y = dev.empty(out, dtype)
        size = int(np.prod(out))
        prg.binary(dev.queue, (max(size, 1),), None, x.data, z.data, y.data, metas[key].data,
                   np.int32(size), np.int32(op))
        return y

    def run(*xs):
        acc = xs[0]
        for x in xs[1:]:
            acc = apply(acc, x)
        return (acc,)
    return run


def _reshape(node: Node, opset: int, dev: Device, dtype: np.dtype):
    allowzero = bool(node.attrs.get("allowzero", 0))

    def run(x, shape):
        target = reshape_shape([int(v) for v in shape.reshape(-1)], x.shape, allowzero)
        return (x.reshape(np.empty(x.shape, dtype=np.bool_).reshape(target).shape),)
    return run


def _flatten(node: Node, opset: int, dev: Device, dtype: np.dtype):
    axis = node.attrs.get("axis", 1)

    return lambda x: (x.reshape(flatten_shape(x.shape, axis)),)


def _concat(node: Node, opset: int, dev: Device, dtype: np.dtype):
    import pyopencl.array as cla

    axis = node.attrs.get("axis", 1)

    def run(*xs):
        return (cla.concatenate(xs, axis=axis % xs[0].ndim, queue=dev.queue),)
    return run


def _always(node: Node, opset: int) -> bool:
    return True


#: Operator name -> OpenCL implementation.
CL_OPS: dict[str, ClOp] = {
    "Conv": ClOp((0, 1, 2), _conv_accepts, _conv),
    "FusedConv": ClOp((0, 1, 2), _conv_accepts, _conv),
    "Gemm": ClOp((0, 1, 2), _always, _gemm),
    "FusedGemm": ClOp((0, 1, 2), lambda n, o: _fused_ok(n), _gemm),
    "MatMul": ClOp((0, 1), _always, _gemm),
    "MaxPool": ClOp((0,), _pool_accepts, _pool),
    "AveragePool": ClOp((0,), _pool_accepts, _pool),
    "GlobalAveragePool": ClOp((0,), _always, _global_avg),
    "Softmax": ClOp((0,), _softmax_accepts, _softmax),
    "Relu": ClOp((0,), _always, _unary),
    "Sigmoid": ClOp((0,), _always, _unary),
    "Tanh": ClOp((0,), _always, _unary),
    "LeakyRelu": ClOp((0,), _always, _unary),
    "Clip": ClOp((0,), _always, _unary),
    "Add": ClOp((0, 1), _always, _binary),
    "Sub": ClOp((0, 1), _always, _binary),
    "Mul": ClOp((0, 1), _always, _binary),
    "Div": ClOp((0, 1), _always, _binary),
    "Sum": ClOp(tuple(range(64)), _always, _binary),
    "Concat": ClOp(tuple(range(64)), _always, _concat),
    "Reshape": ClOp((0,), _always, _reshape),
    "Flatten": ClOp((0,), _always, _flatten),
}
