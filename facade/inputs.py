"""Seeded, replayable inputs for a model's I/O contract.

Used wherever facade must run a model without the caller's data: placement probes,
conversion verification, conformance cases, benchmarks, the demo. Same seed, same
specs, same arrays, on every machine.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from facade.tensor import SEQUENCE, TensorSpec

#: How many tensors a seeded sequence input holds.
SEQUENCE_LENGTH = 2


def seeded_feeds(specs: Sequence[TensorSpec], seed: int = 0, *, dynamic: int = 1) -> dict[str, object]:
    """Standard-normal floats, small non-negative integers, random booleans; dynamic dims set to ``dynamic``.

    A sequence input gets :data:`SEQUENCE_LENGTH` such tensors; an optional input is present.
    """
    rng = np.random.default_rng(seed)
    feeds: dict[str, object] = {}
    for spec in specs:
        count = SEQUENCE_LENGTH if SEQUENCE in spec.container else 0
        arrays = [_seeded(spec, rng, dynamic) for _ in range(max(count, 1))]
        feeds[spec.name] = arrays if count else arrays[0]
    return feeds


def _seeded(spec: TensorSpec, rng: np.random.Generator, dynamic: int) -> np.ndarray:
    shape = spec.concrete_shape(dynamic)
    kind = spec.dtype.kind
    if kind == "f":
        return rng.standard_normal(shape).astype(spec.dtype)
    if kind in "iu":
        return rng.integers(0, 4, size=shape).astype(spec.dtype)
    if kind == "b":
        return rng.random(shape) < 0.5
    return np.zeros(shape, dtype=spec.dtype)
