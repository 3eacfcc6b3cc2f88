"""1-D convolutions run as 2-D ones of height 1, so they take the 2-D kernels (the C pool's im2col and
GEMM job, the one-pass depthwise kernel) instead of the general N-D numpy path.

Why: a Whisper-style encoder's front end is two 1-D convolutions, and the N-D path (padding copy,
window view, numpy im2col, matmul, bias) spent 55 us on a (1, 16, 64) by (32, 16, 3) one whose
GEMM is 3 us; lifted to (1, 16, 1, 64) by (32, 16, 1, 3) it took 8 us (measured here). The lifted
convolution computes the same sums in the same order (a kernel row of height 1 adds nothing).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ...ir import Node


def lifted_node(node: Node) -> Node:
    """``node``'s 2-D twin: kernel (1, k), strides (1, s), dilations (1, d), pads (0, b, 0, e); an
    ``auto_pad`` stays (on a height of 1 with a kernel of 1 it pads nothing)."""
    attrs = dict(node.attrs)
    for name in ("kernel_shape", "strides", "dilations"):
        if name in attrs:
            attrs[name] = [1, *attrs[name]]
    if "pads" in attrs:
        begin, end = attrs["pads"]
        attrs["pads"] = [0, begin, 0, end]
    return dataclasses.replace(node, attrs=attrs)


class Rank1:
    """A kernel's lift of its 1-D node and weight, made once: the 2-D weight view is kept while the same
    weight object comes back, so the kernel's :class:`~.cache.WeightCache` sees one weight, not a new
    view each call (which would rebuild its derived weights and C job every run)."""

    __slots__ = ("_w", "_w2", "node")

    def __init__(self, node: Node) -> None:
        self.node = lifted_node(node)
        self._w: np.ndarray | None = None
        self._w2: np.ndarray | None = None

    def weight(self, w: np.ndarray) -> np.ndarray:
        """(M, C/group, 1, k) for the (M, C/group, k) weight ``w``."""
        if self._w is not w:
            self._w, self._w2 = w, w[:, :, None, :]
        return self._w2


def applies(x: np.ndarray, w: np.ndarray, in_last: bool, out_last: bool, residual: np.ndarray | None) -> bool:
    """Whether a convolution is 1-D in N,C,L on both sides with a residual (if any) that broadcasts the
    same way after a height axis is inserted (at most the output's rank)."""
    return (x.ndim == 3 and w.ndim == 3 and not in_last and not out_last
            and (residual is None or 1 <= residual.ndim <= 3))


def lift_residual(r: np.ndarray | None) -> np.ndarray | None:
    """``r`` with a height axis before its last: (N, M, L) -> (N, M, 1, L), (L,) -> (1, L)."""
    return None if r is None else r[..., None, :]
