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

SIGNATURES = {"dw_nhwc": "ppplll", "dw_nchw": "pppll", "bias_act": "ppllllllff", "row_mean": "pplll"}

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


def library() -> SimpleNamespace | None:
    """conv.c's functions, or None (numpy then): call it when a kernel is built, never per run."""
    return compiled.library("conv", SIGNATURES)


def c_ready(lib: SimpleNamespace | None, *arrays: np.ndarray | None) -> bool:
    """Whether the C kernels apply: a library and every given array float32 and C-contiguous."""
    return lib is not None and all(a is None or compiled.f32(a) for a in arrays)


def bias_act(lib: SimpleNamespace, out: np.ndarray, b: np.ndarray | None, act: Activation | None,
             channels_last: bool) -> bool:
    """Add ``b`` (or nothing) and apply ``act`` over ``out`` (N, M, pixels), or (N, pixels, M) when
    ``channels_last``, in one C pass per row range. Returns whether ``act`` was applied (False when
    C lacks it: the caller runs it). ``out`` and ``b`` must pass :func:`c_ready`."""
    done = act is None or act.code is not None
    code, a, bb = act_args(act if done else None)
    if b is None and code == 0:
        return done
    n, d1, d2 = out.shape
    rows, cols, m = (n * d1, d2, d2) if channels_last else (n * d1, d2, d1)
    y, bp = compiled.ptr(out), None if b is None else compiled.ptr(b)

    def run(r0: int, r1: int) -> None:
        lib.bias_act(y, bp, r0, r1, cols, m, channels_last, code, a, bb)
    threads.over_ranges("elementwise", out.size, rows, run)
    return done
