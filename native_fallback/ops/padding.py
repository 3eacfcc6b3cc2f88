"""Fast constant padding for the kernels (np.pad is general, and slow for small arrays)."""

from __future__ import annotations

import numpy as np


def pad_end(x: np.ndarray, begin: tuple[int, ...], end: tuple[int, ...], value: float = 0.0) -> np.ndarray:
    """Constant padding of the trailing axes, as one allocation and one copy.

    np.pad costs ~100 us of Python per call, more than the copy itself for the
    small activations of mobile networks; this is the part of it we need.
    """
    lead = x.ndim - len(begin)
    shape = (*x.shape[:lead], *(n + b + e for n, b, e in zip(x.shape[lead:], begin, end, strict=True)))
    out = np.zeros(shape, dtype=x.dtype) if value == 0 else np.full(shape, value, dtype=x.dtype)
    out[(Ellipsis, *(slice(b, b + n) for b, n in zip(begin, x.shape[lead:], strict=True)))] = x
    return out
