"""Small helpers shared by operator modules: attribute reading and kernel shapes."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from facade.errors import UnsupportedModelError, format_message

from ..ir import Node


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
