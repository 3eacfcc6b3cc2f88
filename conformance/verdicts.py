"""Comparison results: objects that are truthy when they pass and round-trip to JSON.

One :class:`OutputComparison` per output tensor holds the metrics and, per
precision class, whether the output is within that class's :class:`Bound`. One
:class:`CaseResult` per (case, target, precision) holds the verdict:

- ``pass``: every output within the fp32 bounds;
- ``pass-at-lower-precision``: not fp32, but within a lower class, named in ``lower_precision``;
- ``fail``: outside every class's bounds (or shapes/non-finite values disagree);
- ``error``: the target crashed, hung, or raised while loading or running;
- ``unavailable``: the target cannot run this model here (not installed, an op it lacks).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from facade import metrics
from facade.tolerances import CLASSES, Bound

PASS, LOWER, FAIL, ERROR, UNAVAILABLE = "pass", "pass-at-lower-precision", "fail", "error", "unavailable"
VERDICTS = (PASS, LOWER, FAIL, ERROR, UNAVAILABLE)


@dataclass
class OutputComparison:
    """Metrics of one output against the oracle and the classes it passes."""

    name: str
    metrics: dict[str, float | int | None]
    passes: dict[str, bool]
    reasons: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.passes.get("fp32", False)

    def to_dict(self) -> dict:
        return {"name": self.name, "metrics": dict(self.metrics), "passes": dict(self.passes),
                "reasons": dict(self.reasons)}

    @classmethod
    def from_dict(cls, d: Mapping) -> OutputComparison:
        return cls(d["name"], dict(d["metrics"]), dict(d["passes"]), dict(d.get("reasons", {})))


def _within(m: Mapping[str, float | int | None], bound: Bound) -> str | None:
    """Why a float output's metrics break ``bound``, or None when they do not."""
    if m["scaled_error"] > bound.max_scaled_error:
        return f"scaled error {m['scaled_error']:.2e} > {bound.max_scaled_error:.0e}"
    if m["cosine"] is not None and m["cosine"] < bound.min_cosine:
        return f"cosine {m['cosine']:.6f} < {bound.min_cosine}"
    if m["topk"] is not None and m["topk"] < bound.min_topk:
        return f"top-5 agreement {m['topk']:.2f} < {bound.min_topk}"
    return None


def compare_output(name: str, actual: np.ndarray, expected: np.ndarray,
                   bound: Callable[[str], Bound]) -> OutputComparison:
    """Compare one output; ``bound(cls)`` gives the limits of precision class ``cls``."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    if actual.shape != expected.shape:
        why = f"shape {actual.shape} differs from the oracle's {expected.shape}"
        return OutputComparison(name, {"shape_mismatch": 1}, dict.fromkeys(CLASSES, False), dict.fromkeys(CLASSES, why))
    if expected.dtype.kind not in "fiub" or actual.dtype.kind not in "fiub":
        same = bool(np.array_equal(actual, expected))
        why = None if same else "non-numeric values differ"
        return OutputComparison(name, {"mismatches": int(np.count_nonzero(actual != expected))},
                                dict.fromkeys(CLASSES, same), {} if same else dict.fromkeys(CLASSES, why))
    m: dict[str, float | int | None] = {
        "max_abs": metrics.max_abs_error(actual, expected),
        "max_rel": metrics.max_rel_error(actual, expected),
        "mean_abs": metrics.mean_abs_error(actual, expected),
        "scaled_error": metrics.relative_max_error(actual, expected),
        "cosine": metrics.cosine_similarity(actual, expected) if np.any(np.isfinite(expected) & (expected != 0))
        else None,
        "topk": metrics.topk_agreement(actual, expected) if metrics.is_classifier_like(expected) else None,
        "nonfinite_mismatch": metrics.nonfinite_mismatches(actual, expected),
    }
    passes, reasons = {}, {}
    for cls in CLASSES:
        if m["nonfinite_mismatch"]:
            why = f"{m['nonfinite_mismatch']} NaN/Inf positions differ from the oracle"
        elif expected.dtype.kind != "f":
            why = None if m["max_abs"] == 0 else f"integer output differs (max abs {m['max_abs']:g})"
        else:
            why = _within(m, bound(cls))
        passes[cls] = why is None
        if why:
            reasons[cls] = why
    return OutputComparison(name, m, passes, reasons)


@dataclass
class CaseResult:
    """The verdict of one case on one (target, precision) column; truthy when it passes at that precision."""

    case: str
    target: str
    precision: str
    verdict: str
    lower_precision: str | None = None
    outputs: list[OutputComparison] = field(default_factory=list)
    error: str | None = None
    signal: str | None = None
    load_ms: float | None = None
    run_ms: float | None = None
    engine_precision: str | None = None

    def __bool__(self) -> bool:
        return self.passes_at(self.precision)

    def passes_at(self, precision: str) -> bool:
        """Whether every output is within the bounds of ``precision`` (fp32, fp16 or int8)."""
        return self.verdict in (PASS, LOWER) and all(o.passes.get(precision, False) for o in self.outputs)

    @property
    def worst_scaled_error(self) -> float | None:
        values = [o.metrics.get("scaled_error") for o in self.outputs]
        values = [v for v in values if v is not None]
        return max(values) if values else None

    def to_dict(self) -> dict:
        return {"case": self.case, "target": self.target, "precision": self.precision, "verdict": self.verdict,
                "lower_precision": self.lower_precision, "outputs": [o.to_dict() for o in self.outputs],
                "error": self.error, "signal": self.signal, "load_ms": self.load_ms, "run_ms": self.run_ms,
                "engine_precision": self.engine_precision}

    @classmethod
    def from_dict(cls, d: Mapping) -> CaseResult:
        return cls(d["case"], d["target"], d["precision"], d["verdict"], d.get("lower_precision"),
                   [OutputComparison.from_dict(o) for o in d.get("outputs", [])], d.get("error"), d.get("signal"),
                   d.get("load_ms"), d.get("run_ms"), d.get("engine_precision"))


def judge(case: str, target: str, precision: str, actual: Mapping[str, np.ndarray],
          expected: Mapping[str, np.ndarray], bound: Callable[[str], Bound], **timing) -> CaseResult:
    """Compare every expected output and name the verdict: the strictest class all outputs pass."""
    missing = [n for n in expected if n not in actual]
    if missing:
        return CaseResult(case, target, precision, ERROR, error=f"no value for output {missing[0]!r}", **timing)
    outputs = [compare_output(n, actual[n], expected[n], bound) for n in expected]
    passed = [c for c in CLASSES if all(o.passes[c] for o in outputs)]
    if not passed:
        return CaseResult(case, target, precision, FAIL, outputs=outputs, **timing)
    best = passed[0]
    return CaseResult(case, target, precision, PASS if best == "fp32" else LOWER,
                      None if best == "fp32" else best, outputs, **timing)
