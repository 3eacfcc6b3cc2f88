"""Printing results: JSON for tools, tables for people, one helper for both."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np


def _default(obj: object) -> object:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (np.ndarray, tuple, set)):
        return list(obj)
    return str(obj)


def emit(args, data: object, text: Callable[[], str]) -> None:
    """Print ``data`` as JSON when ``--json`` was given, else the human ``text()``."""
    print(json.dumps(data, indent=2, default=_default) if getattr(args, "json", False) else text())


def summarize(array: np.ndarray) -> dict:
    """Shape, dtype and value range of an output, for printing."""
    flat = np.asarray(array)
    numeric = flat.dtype.kind in "fiub" and flat.size
    return {
        "shape": list(flat.shape),
        "dtype": str(flat.dtype),
        "min": float(flat.min()) if numeric else None,
        "max": float(flat.max()) if numeric else None,
        "mean": float(flat.astype(np.float64).mean()) if numeric else None,
    }
