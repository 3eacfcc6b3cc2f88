"""The C side of the convolutions (``compiled/conv.c``): the library, fused activations as C codes,
and the one-pass bias + activation epilogue after a GEMM.

Why: after its GEMM a convolution added its bias and ran its activation as one to four more numpy
passes over the output (HardSwish is four), each a dispatch holding the GIL. The C epilogue is one
pass, on the engine's threads in row ranges with the GIL released. The C kernels are float32 only;
every caller keeps its numpy path (float64 oracle, other dtypes, ``FACADE_NATIVE_KERNELS=numpy``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from ... import compiled, threads
from ..activation import in_place_activation

SIGNATURES = {"dw_nhwc": "ppplll", "dw_nchw": "pppll", "bias_act": "pplllllff", "row_mean": "pplll",
              "im2col_nchw": "pppllll", "im2col_nhwc": "pppllll", "squeeze_excite": "pppll",
              "direct_conv_ready": ">l"}

#: The activations conv.c computes, by ONNX name: code and default parameters (a, b). Others
#: (Tanh, Elu) run as numpy after the C kernel.
C_ACTIVATIONS = {"Relu": (1, 0.0, 0.0), "Clip": (2, -np.inf, np.inf), "LeakyRelu": (3, 0.01, 0.0),
                 "HardSigmoid": (4, 0.2, 0.5), "HardSwish": (5, 0.0, 0.0), "Sigmoid": (6, 0.0, 0.0)}


@dataclass(frozen=True)
class Activation:
    """A fused activation: its in-place numpy function (callable as the activation itself) and, when
    conv.c has it, its code and float parameters (``code`` None: numpy only)."""

    fn: Callable[[np.ndarray], np.ndarray]
    code: int | None
    a: float = 0.0
    b: float = 0.0

    def __call__(self, y: np.ndarray) -> np.ndarray:
        return self.fn(y)


def fused_activation(name: str, attrs: dict) -> Activation:
    """The :class:`Activation` for an ONNX activation and its attributes (Clip's as ``min``/``max``)."""
    fn = in_place_activation(name, attrs)
    if name not in C_ACTIVATIONS:
        return Activation(fn, None)
    code, a, b = C_ACTIVATIONS[name]
    if name == "Clip":
        a, b = attrs.get("min", a), attrs.get("max", b)
    else:
        a, b = attrs.get("alpha", a), attrs.get("beta", b)
    return Activation(fn, code, float(a), float(b))


def act_args(act: Activation | None) -> tuple[int, float, float]:
    """The (code, a, b) arguments of a C kernel for ``act`` (0: none), which C must have."""
    return (0, 0.0, 0.0) if act is None else (act.code, act.a, act.b)


#: The data address of an array for a C kernel; a channel slice of a joined output (strided) takes
#: ``a.ctypes``, and the epilogue steps through its rows itself (one definition: compiled.ptr).
addr = compiled.ptr


def library() -> SimpleNamespace | None:
    """conv.c's functions, or None (numpy then): call it when a kernel is built, never per run."""
    return compiled.library("conv", SIGNATURES)


def c_ready(lib: SimpleNamespace | None, *arrays: np.ndarray | None) -> bool:
    """Whether the C kernels apply: a library and every given array float32 and C-contiguous."""
    return lib is not None and all(a is None or compiled.f32(a) for a in arrays)


class Epilogue:
    """A GEMM convolution's bias and activation as conv.c calls, over one image's output (a 2-D
    (M, pixels) or (pixels, M) array or channel slice with unit inner stride): per piece of pixels
    right after its GEMM wrote them, still in cache, or over the whole output. ``applies_act``: False
    when C lacks the activation (the caller then runs it)."""

    def __init__(self, lib: SimpleNamespace, b: np.ndarray | None, act: Activation | None,
                 channels_last: bool) -> None:
        self.lib, self.channels_last = lib, channels_last
        self.applies_act = act is None or act.code is not None
        self.act = act_args(act if self.applies_act else None)
        self.bias, self.bp = b, None if b is None else compiled.ptr(b)

    def without_bias(self) -> Epilogue:
        """This epilogue for a GEMM that folded the bias in."""
        if self.bias is None:
            return self
        e = Epilogue.__new__(Epilogue)
        e.__dict__.update(self.__dict__, bias=None, bp=None)
        return e

    @property
    def idle(self) -> bool:
        return self.bias is None and self.act[0] == 0

    def pixels(self, oi: np.ndarray, p0: int, p1: int) -> None:
        """Apply to pixels p0..p1 of one image's output ``oi``."""
        if self.idle:
            return
        ld = oi.strides[0] // oi.itemsize
        if self.channels_last:
            self.lib.bias_act(addr(oi) + p0 * oi.strides[0], self.bp, p1 - p0, oi.shape[1], ld, 1, *self.act)
        else:
            self.lib.bias_act(addr(oi) + p0 * oi.itemsize, self.bp, oi.shape[0], p1 - p0, ld, 0, *self.act)

    def whole(self, out: np.ndarray) -> None:
        """Apply to a whole (N, M, pixels) or (N, pixels, M) output, in pixel ranges on the engine's threads."""
        if self.idle:
            return
        pixels = out.shape[1 if self.channels_last else 2]
        for oi in out:
            threads.over_ranges("elementwise", oi.size, pixels, lambda p0, p1, oi=oi: self.pixels(oi, p0, p1))
