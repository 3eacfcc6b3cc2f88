import json

import numpy as np
import pytest

from facade.conformance.verdicts import ERROR, FAIL, LOWER, PASS, CaseResult, judge
from facade.errors import InputError
from facade.tolerances import Tolerances, load_overrides, parse_overrides


def _judge(scaled: float, tolerances: Tolerances | None = None, target: str = "t:cpu") -> CaseResult:
    """An output whose error relative to its scale is exactly ``scaled``."""
    rng = np.random.default_rng(0)
    expected = rng.standard_normal((1, 64))
    expected /= np.abs(expected).max()
    actual = expected.copy()
    actual[0, 3] += scaled
    tol = tolerances or Tolerances()
    return judge("c", target, "fp32", {"y": actual}, {"y": expected}, lambda cls: tol.bound("m", target, cls))


@pytest.mark.parametrize(("scaled", "verdict", "lower"), [
    (5e-5, PASS, None),      # every fp32 engine against the float64 oracle
    (2.5e-4, LOWER, "fp16"),  # ncnn defaults, low end
    (3e-3, LOWER, "fp16"),   # MNN on ResNet-50
    (5e-2, LOWER, "fp16"),   # fp16-weight LiteRT
    (0.2, LOWER, "int8"),
    (1.0, FAIL, None),
])
def test_default_table_separates_the_measured_classes(scaled, verdict, lower):
    r = _judge(scaled)
    assert (r.verdict, r.lower_precision) == (verdict, lower)
    assert bool(r) == (verdict == PASS)
    assert r.passes_at("int8") == (verdict != FAIL)


def test_overrides_by_model_and_target(tmp_path):
    path = tmp_path / "tol.json"
    path.write_text(json.dumps({"overrides": [{"model": "m", "target": "mnn:*", "precision": "fp32",
                                               "max_scaled_error": 5e-3}]}))
    tol = load_overrides(path)
    assert _judge(3e-3, tol, "mnn:cpu").verdict == PASS
    assert _judge(3e-3, tol, "ncnn:cpu").verdict == LOWER
    with pytest.raises(InputError, match="Unknown or non-numeric tolerance"):
        parse_overrides({"overrides": [{"target": "x", "max_error": 1}]})


def test_shapes_integers_and_nans_fail_explicitly():
    bound = Tolerances().bound
    r = judge("c", "t:cpu", "fp32", {"y": np.zeros((2, 3))}, {"y": np.zeros((3, 2))}, lambda c: bound("m", "t", c))
    assert r.verdict == FAIL and "shape" in r.outputs[0].reasons["int8"]
    r = judge("c", "t:cpu", "fp32", {"i": np.array([1, 2])}, {"i": np.array([1, 3])}, lambda c: bound("m", "t", c))
    assert r.verdict == FAIL
    r = judge("c", "t:cpu", "fp32", {"y": np.array([0.0, 1.0])}, {"y": np.array([np.nan, 1.0])},
              lambda c: bound("m", "t", c))
    assert r.verdict == FAIL and "NaN/Inf" in r.outputs[0].reasons["fp32"]
    r = judge("c", "t:cpu", "fp32", {}, {"y": np.zeros(2)}, lambda c: bound("m", "t", c))
    assert r.verdict == ERROR and not r


def test_results_round_trip_through_json():
    r = _judge(3e-3)
    back = CaseResult.from_dict(json.loads(json.dumps(r.to_dict())))
    assert back == r and bool(back) == bool(r) and back.worst_scaled_error == pytest.approx(3e-3)
