"""Agreement between an engine's output and the oracle's: small functions, one metric each.

Every function takes ``(actual, expected)`` arrays of the same shape and computes
in float64 over the positions where *both* are finite. Non-finite values are not
averaged away: :func:`nonfinite_mismatches` counts the positions where NaN, +Inf
or -Inf appear in one array and not identically in the other, and the verdict
treats any such position as a failure (an engine that turns a NaN into 0 is wrong).
"""

from __future__ import annotations

import numpy as np

#: Default floor of :func:`max_rel_error`: below this magnitude an expected value
#: counts as this magnitude, so near-zero outputs do not produce huge ratios.
REL_FLOOR = 1e-3


def _pair(actual: np.ndarray, expected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both as float64, restricted to positions where both are finite."""
    a = np.asarray(actual).astype(np.float64, copy=False).ravel()
    e = np.asarray(expected).astype(np.float64, copy=False).ravel()
    keep = np.isfinite(a) & np.isfinite(e)
    return a[keep], e[keep]


def nonfinite_mismatches(actual: np.ndarray, expected: np.ndarray) -> int:
    """Positions where NaN/+Inf/-Inf in one array is not matched by the same value in the other."""
    a = np.asarray(actual).astype(np.float64, copy=False).ravel()
    e = np.asarray(expected).astype(np.float64, copy=False).ravel()
    same_nan = np.isnan(a) & np.isnan(e)
    same_inf = np.isinf(a) & np.isinf(e) & (np.sign(a) == np.sign(e))
    odd = ~np.isfinite(a) | ~np.isfinite(e)
    return int(np.count_nonzero(odd & ~same_nan & ~same_inf))


def max_abs_error(actual: np.ndarray, expected: np.ndarray) -> float:
    """max |actual - expected|."""
    a, e = _pair(actual, expected)
    return float(np.max(np.abs(a - e))) if a.size else 0.0


def mean_abs_error(actual: np.ndarray, expected: np.ndarray) -> float:
    """mean |actual - expected|."""
    a, e = _pair(actual, expected)
    return float(np.mean(np.abs(a - e))) if a.size else 0.0


def max_rel_error(actual: np.ndarray, expected: np.ndarray, floor: float = REL_FLOOR) -> float:
    """max |actual - expected| / max(|expected|, floor), elementwise."""
    a, e = _pair(actual, expected)
    return float(np.max(np.abs(a - e) / np.maximum(np.abs(e), floor))) if a.size else 0.0


def relative_max_error(actual: np.ndarray, expected: np.ndarray) -> float:
    """max|actual - expected| / max|expected| (0 when both are all zero).

    The error relative to the output's own scale: what the issues quote as "agrees
    within 5e-5 relative", and what the tolerance table bounds.
    """
    a, e = _pair(actual, expected)
    if not a.size:
        return 0.0
    scale = float(np.max(np.abs(e)))
    err = float(np.max(np.abs(a - e)))
    return err / scale if scale > 0 else err


def cosine_similarity(actual: np.ndarray, expected: np.ndarray) -> float:
    """cos(actual, expected) as flat vectors; 1.0 when both are all zero, 0.0 when only one is."""
    a, e = _pair(actual, expected)
    na, ne = float(np.linalg.norm(a)), float(np.linalg.norm(e))
    if na == 0.0 and ne == 0.0:
        return 1.0
    if na == 0.0 or ne == 0.0:
        return 0.0
    return float(np.dot(a, e) / (na * ne))


def is_classifier_like(expected: np.ndarray) -> bool:
    """A float (batch, classes) output with at least 10 classes: top-k agreement is meaningful."""
    e = np.asarray(expected)
    return e.dtype.kind == "f" and e.ndim == 2 and e.shape[1] >= 10


def topk_agreement(actual: np.ndarray, expected: np.ndarray, k: int = 5) -> float:
    """Mean over rows of |top-k(actual) ∩ top-k(expected)| / k, for (batch, classes) outputs."""
    a = np.nan_to_num(np.asarray(actual, dtype=np.float64).reshape(len(actual), -1), nan=-np.inf)
    e = np.nan_to_num(np.asarray(expected, dtype=np.float64).reshape(len(expected), -1), nan=-np.inf)
    k = min(k, e.shape[1])
    top_a = np.argsort(-a, axis=1, kind="stable")[:, :k]
    top_e = np.argsort(-e, axis=1, kind="stable")[:, :k]
    return float(np.mean([len(set(ra) & set(re)) / k for ra, re in zip(top_a, top_e, strict=True)]))
