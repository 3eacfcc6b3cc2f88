"""Agreement between two outputs, as the issues and reports quote it."""

from __future__ import annotations

import numpy as np


def relative_max_error(actual: np.ndarray, expected: np.ndarray) -> float:
    """max|actual - expected| / max|expected| (0 when both are all zero), in float64."""
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    scale = float(np.max(np.abs(e))) if e.size else 0.0
    err = float(np.max(np.abs(a - e))) if e.size else 0.0
    return err / scale if scale > 0 else err
