"""The convolution cases the conv tests share, and the N,C,H,W -> N,H,W,C transpose."""

from __future__ import annotations

import numpy as np

CASES = {
    "pointwise": dict(c=16, m=24, k=1, s=1, p=0, g=1, d=1),
    "pointwise_strided": dict(c=16, m=24, k=1, s=2, p=0, g=1, d=1),
    "pointwise_grouped": dict(c=16, m=24, k=1, s=1, p=0, g=4, d=1),
    "pointwise_expanding": dict(c=8, m=48, k=1, s=2, p=0, g=1, d=1),  # bias folded into the GEMM
    "depthwise": dict(c=16, m=16, k=3, s=1, p=1, g=16, d=1),
    "depthwise_strided": dict(c=16, m=16, k=3, s=2, p=1, g=16, d=1),
    "depthwise_dilated_5x5": dict(c=8, m=8, k=5, s=1, p=4, g=8, d=2),
    "winograd": dict(c=64, m=64, k=3, s=1, p=1, g=1, d=1),
    "im2col_strided": dict(c=8, m=12, k=3, s=2, p=1, g=1, d=1),
    "im2col_grouped": dict(c=8, m=12, k=3, s=1, p=0, g=2, d=1),
    "im2col_7x7": dict(c=3, m=8, k=7, s=2, p=3, g=1, d=1),
    "im2col_dilated": dict(c=6, m=10, k=3, s=1, p=2, g=1, d=2),
}


def to_last(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(a, 1, -1))
