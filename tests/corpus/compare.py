"""Scoring an engine's outputs against a corpus oracle: one relative error per output, and the
problems that make a run wrong (a missing output, another shape or dtype, a NaN where
the oracle has a number, an error above the tolerance).

The error is :func:`facade.metrics.relative_max_error`, max|a - e| / max|e|,
the measure the issue's 1e-4 bound is written in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facade.metrics import nonfinite_mismatches, relative_max_error

#: The corpus bound at fp32: max abs error over max abs reference.
TOLERANCE = 1e-4


def expected_dtype(oracle: np.ndarray) -> np.dtype:
    """The dtype an engine should return: the oracle's, except float64 numpy oracles of float32 models."""
    return np.dtype(np.float32) if oracle.dtype == np.float64 else oracle.dtype


@dataclass(frozen=True)
class Agreement:
    """How one run's outputs compare with the oracle; truthy when every output is within tolerance."""

    errors: dict[str, float]
    problems: tuple[str, ...]

    def __bool__(self) -> bool:
        return not self.problems

    @property
    def worst(self) -> float:
        """The largest relative error over the outputs (inf when an output could not be compared)."""
        return max(self.errors.values(), default=0.0)

    def __str__(self) -> str:
        return f"err {self.worst:.1e}" if not self.problems else "; ".join(self.problems)


def agreement(actual: dict[str, np.ndarray], oracle: dict[str, np.ndarray], tol: float = TOLERANCE) -> Agreement:
    """Compare every oracle output with the engine's output of the same name."""
    errors: dict[str, float] = {}
    problems: list[str] = []
    for name, expected in oracle.items():
        if name not in actual:
            errors[name] = float("inf")
            problems.append(f"output {name!r} missing (got {sorted(actual)})")
            continue
        got = np.asarray(actual[name])
        if got.shape != expected.shape:
            errors[name] = float("inf")
            problems.append(f"output {name!r} has shape {got.shape}, expected {expected.shape}")
            continue
        if got.dtype != expected_dtype(expected):
            problems.append(f"output {name!r} has dtype {got.dtype}, expected {expected_dtype(expected)}")
        bad = nonfinite_mismatches(got, expected)
        errors[name] = float("inf") if bad else relative_max_error(got, expected)
        if bad:
            problems.append(f"output {name!r} has {bad} NaN/Inf positions the oracle does not")
        elif errors[name] > tol:
            problems.append(f"output {name!r} err {errors[name]:.2e} > {tol:g}")
    return Agreement(errors, tuple(problems))
