"""Small helpers shared by operator modules: attribute reading and kernel shapes."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from facade.errors import UnsupportedModelError, format_message

from .. import compiled
from ..ir import Node

#: compiled/transformer.c's functions and their argument letters (see ``compiled.library``).
_TRANSFORMER = {"erf_f32": "ppl", "gelu_f32": "ppl", "layernorm_f32": "ppppppllf", "softmax_f32": "ppll",
                "linear_f32": "ppppllli"}


def bad_attr(node: Node, attr: str, received: object, expected: str) -> UnsupportedModelError:
    """The error for an attribute value we cannot honour."""
    return UnsupportedModelError(format_message(
        f"attribute '{attr}' is not supported", where=f"native | {node.label()}",
        received=received, expected=expected))


def unary(fn: Callable[[np.ndarray], np.ndarray]) -> Callable[[Node, int], Callable]:
    """Builder for an attribute-free one-input, one-output operator."""

    def build(node: Node, opset: int) -> Callable:
        return lambda x: (fn(x),)

    return build


def binary(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Callable[[Node, int], Callable]:
    """Builder for an attribute-free broadcasting two-input operator."""

    def build(node: Node, opset: int) -> Callable:
        return lambda a, b: (fn(a, b),)

    return build


def same_dtype(fn: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    """Wrap a numpy function so its result keeps the first input's dtype (numpy promotes)."""
    return lambda x, *rest: np.asarray(fn(x, *rest)).astype(x.dtype, copy=False)


def axes_input(x: np.ndarray | None) -> tuple[int, ...] | None:
    """An optional int64 axes tensor as a tuple."""
    return None if x is None or x.size == 0 else tuple(int(a) for a in x.reshape(-1))


#: The data address of an array for a C kernel (one definition: compiled.ptr).
address = compiled.ptr


def c_operands(*arrays: np.ndarray | None) -> tuple[tuple, tuple, bool]:
    """(``arrays`` in C order, their addresses, whether none was copied); None stays None.

    A kernel may remember the addresses for the next call that passes the same objects (a node's
    constants: weights, a LayerNorm's scale) only when none was copied: then each address points at the
    live data, and a fed array changed in place between runs is read anew."""
    kept = tuple(None if a is None else np.ascontiguousarray(a) for a in arrays)
    addresses = tuple(None if a is None else address(a) for a in kept)
    return kept, addresses, all(k is a for k, a in zip(kept, arrays, strict=True))


def transformer_kernels() -> object | None:
    """compiled/transformer.c's float32 kernels, or None (C kernels off or unavailable: use numpy).

    Called by kernel builders, once per node at compile time, so FACADE_NATIVE_KERNELS is read then.
    """
    return compiled.library("transformer", _TRANSFORMER)


def c_elementwise(c_fn: Callable | None, fallback: Callable[[np.ndarray], np.ndarray]) -> Callable:
    """A one-input kernel: ``c_fn(x, out, n)`` for non-empty float32 (copied to C order first when it is
    a strided view), ``fallback`` for every other dtype, for empty tensors and when ``c_fn`` is None."""
    if c_fn is None:
        return lambda x: (fallback(x),)
    def run(x):
        if x.dtype != np.float32 or not x.size:
            return (fallback(x),)
        x = np.ascontiguousarray(x)
        out = np.empty(x.shape, np.float32)
        c_fn(address(x), address(out), x.size)
        return (out,)
    return run
