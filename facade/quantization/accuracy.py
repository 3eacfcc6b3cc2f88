"""How far a reduced-precision model is from fp32, measured on held-out calibration samples.

Three figures, over every held-out sample and every float output: the lowest
cosine similarity, the largest max relative error (``max|a - b| / max|b|``,
conformance's scaled error), and for classifier-like outputs the share of samples
whose top-1 class agrees. They are data (JSON round trip), and :meth:`Accuracy.drop`
says how much top-1 agreement was lost, which a policy bounds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from facade.metrics import cosine_similarity, is_classifier_like, relative_max_error

Run = Callable[[dict[str, np.ndarray]], Mapping[str, np.ndarray]]


@dataclass(frozen=True)
class Accuracy:
    """A reduced-precision model against fp32 on ``samples`` held-out inputs."""

    cosine: float
    max_rel_error: float
    top1_agreement: float | None  # None: no output looks like class scores
    samples: int

    @property
    def top1_drop(self) -> float:
        """Share of held-out samples whose top-1 class changed (0 when there is no classifier output)."""
        return 0.0 if self.top1_agreement is None else 1.0 - self.top1_agreement

    def describe(self) -> str:
        top1 = "" if self.top1_agreement is None else f", top-1 agreement {self.top1_agreement:.3f}"
        return (f"cosine {self.cosine:.5f}, max relative error {self.max_rel_error:.3g}{top1} vs fp32 "
                f"on {self.samples} held-out sample(s)")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping) -> Accuracy:
        return cls(**{k: data[k] for k in ("cosine", "max_rel_error", "top1_agreement", "samples")})


def _top1(actual: np.ndarray, expected: np.ndarray) -> np.ndarray:
    a = np.asarray(actual, dtype=np.float64).reshape(len(actual), -1)
    e = np.asarray(expected, dtype=np.float64).reshape(len(expected), -1)
    return np.argmax(a, axis=1) == np.argmax(e, axis=1)


def measure(run: Run, reference: Run, samples: Sequence[Mapping[str, np.ndarray]]) -> Accuracy:
    """Run both on every sample and compare every float output of ``reference`` with ``run``'s."""
    cosines: list[float] = []
    errors: list[float] = []
    agree: list[bool] = []
    for sample in samples:
        want = reference(dict(sample))
        got = run(dict(sample))
        for name, expected in want.items():
            expected = np.asarray(expected)
            if expected.dtype.kind != "f":
                continue
            actual = np.asarray(got[name], dtype=np.float64)
            cosines.append(cosine_similarity(actual, expected))
            errors.append(relative_max_error(actual, expected))
            if is_classifier_like(expected):
                agree.extend(_top1(actual, expected).tolist())
    return Accuracy(cosine=min(cosines, default=1.0), max_rel_error=max(errors, default=0.0),
                    top1_agreement=float(np.mean(agree)) if agree else None, samples=len(samples))
