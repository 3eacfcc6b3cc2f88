"""Default tolerances per precision class, and per-model/per-target overrides.

The bound that separates the classes is the error relative to the output's own
scale (:func:`~facade.metrics.relative_max_error`), measured against
a float64 oracle with realistic (He-normal) weights:

======  =====================  ===========  =============  ===================================
class   max scaled error       min cosine   min top-5      what lands here
======  =====================  ===========  =============  ===================================
fp32    1e-4                   0.9999       0.8            every fp32 engine (within 5e-5)
fp16    8e-2                   0.995        0.6            ncnn defaults (2.5e-4..3e-2), fp16
                                                           weights (LiteRT up to 5e-2), MNN
                                                           (3e-3 at every setting)
int8    0.3                    0.95         0.4            quantized weights/activations
======  =====================  ===========  =============  ===================================

Top-5 agreement applies only to classifier-like outputs (float, (batch, >=10)).
Integer and boolean outputs must match exactly in every class. A non-finite value
(NaN, Inf) that the oracle does not have, or lacks one it has, fails every class.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from facade.errors import InputError, format_message
from facade.globs import glob_match

#: Precision classes from strictest to loosest: a caller's floor, a policy's bound, a conformance
#: verdict's class (verdicts name the first that passes). The one definition; CLASSES is conformance's word.
PRECISIONS = ("fp32", "fp16", "int8")
CLASSES = PRECISIONS


@dataclass(frozen=True)
class Bound:
    """The limits one output must stay within to pass one precision class."""

    max_scaled_error: float
    min_cosine: float
    min_topk: float

    def to_dict(self) -> dict:
        return asdict(self)


DEFAULTS: dict[str, Bound] = {
    "fp32": Bound(max_scaled_error=1e-4, min_cosine=0.9999, min_topk=0.8),
    "fp16": Bound(max_scaled_error=8e-2, min_cosine=0.995, min_topk=0.6),
    "int8": Bound(max_scaled_error=0.3, min_cosine=0.95, min_topk=0.4),
}


@dataclass(frozen=True)
class Override:
    """Looser (or stricter) limits for models and targets matching globs (:func:`facade.globs.glob_match`)."""

    model: str = "*"
    target: str = "*"
    precision: str = "*"
    changes: tuple[tuple[str, float], ...] = ()

    def matches(self, model: str, target: str, precision: str) -> bool:
        return (glob_match(self.model, model) and glob_match(self.target, target)
                and glob_match(self.precision, precision))

    def to_dict(self) -> dict:
        return {"model": self.model, "target": self.target, "precision": self.precision, **dict(self.changes)}


@dataclass(frozen=True)
class Tolerances:
    """The default table plus overrides; later overrides win."""

    overrides: tuple[Override, ...] = ()

    def bound(self, model: str, target: str, precision: str) -> Bound:
        """The limits for ``model`` on ``target`` judged at precision class ``precision``."""
        bound = DEFAULTS[precision]
        for o in self.overrides:
            if o.matches(model, target, precision):
                bound = replace(bound, **dict(o.changes))
        return bound

    def to_dict(self) -> dict:
        return {"defaults": {k: v.to_dict() for k, v in DEFAULTS.items()},
                "overrides": [o.to_dict() for o in self.overrides]}


def parse_overrides(data: object, where: str = "tolerances") -> Tolerances:
    """Overrides from JSON data: ``{"overrides": [{"model": "resnet*", "target": "mnn:*", "precision": "fp32",
    "max_scaled_error": 5e-3}]}``.

    Raises:
        InputError: an unknown key, a non-numeric limit, or an unknown precision class.
    """
    fields = set(Bound.__dataclass_fields__)
    rows = data.get("overrides") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        raise InputError(format_message("Tolerance overrides must be a list under 'overrides'", where=where,
                                        received=type(rows).__name__, expected='{"overrides": [{...}, ...]}'))
    overrides = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise InputError(format_message("Override is not an object", where=f"{where}: overrides[{i}]",
                                            received=repr(row)))
        keys = {k: str(row.get(k, "*")) for k in ("model", "target", "precision")}
        if keys["precision"] != "*" and keys["precision"] not in CLASSES:
            raise InputError(format_message("Unknown precision class", where=f"{where}: overrides[{i}]",
                                            received=keys["precision"], expected=CLASSES))
        changes = {k: v for k, v in row.items() if k not in keys}
        bad = sorted(set(changes) - fields)
        if bad or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in changes.values()):
            raise InputError(format_message("Unknown or non-numeric tolerance", where=f"{where}: overrides[{i}]",
                                            received=bad or changes, expected=sorted(fields)))
        overrides.append(Override(**keys, changes=tuple(sorted((k, float(v)) for k, v in changes.items()))))
    return Tolerances(tuple(overrides))


def load_overrides(path: str | Path) -> Tolerances:
    """Read :func:`parse_overrides` data from a JSON file."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise InputError(format_message("Tolerance file cannot be read", where=str(path), received=str(e),
                                        expected="a JSON file")) from e
    return parse_overrides(data, str(path))
