"""Seeded, replayable inputs for a model's I/O contract.

Used wherever facade must run a model without the caller's data: placement probes,
conversion verification, conformance cases, benchmarks, the demo. Same seed, same
specs, same arrays, on every machine.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from facade.tensor import TensorSpec


def seeded_feeds(specs: Sequence[TensorSpec], seed: int = 0, *, dynamic: int = 1) -> dict[str, np.ndarray]:
    """Standard-normal floats, small non-negative integers, random booleans; dynamic dims set to ``dynamic``."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for spec in specs:
        shape = spec.concrete_shape(dynamic)
        kind = spec.dtype.kind
        if kind == "f":
            arr = rng.standard_normal(shape).astype(spec.dtype)
        elif kind in "iu":
            arr = rng.integers(0, 4, size=shape).astype(spec.dtype)
        elif kind == "b":
            arr = rng.random(shape) < 0.5
        else:
            arr = np.zeros(shape, dtype=spec.dtype)
        feeds[spec.name] = arr
    return feeds
