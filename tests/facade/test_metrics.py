import numpy as np
import pytest

from facade import metrics


def test_each_metric_on_known_values():
    e = np.array([1.0, -2.0, 0.0, 4.0])
    a = np.array([1.1, -2.0, 0.0005, 3.0])
    assert metrics.max_abs_error(a, e) == pytest.approx(1.0)
    assert metrics.mean_abs_error(a, e) == pytest.approx((0.1 + 0 + 0.0005 + 1.0) / 4)
    # |0.0005 - 0| / floor(1e-3) = 0.5 beats 0.1 / 1 and 1 / 4
    assert metrics.max_rel_error(a, e) == pytest.approx(0.5)
    assert metrics.max_rel_error(a, e, floor=1.0) == pytest.approx(0.25)
    assert metrics.relative_max_error(a, e) == pytest.approx(1.0 / 4.0)
    assert metrics.cosine_similarity(e, e) == pytest.approx(1.0)
    assert metrics.cosine_similarity(-e, e) == pytest.approx(-1.0)
    assert metrics.cosine_similarity(np.zeros(3), np.zeros(3)) == 1.0
    assert metrics.cosine_similarity(np.zeros(3), np.ones(3)) == 0.0


def test_topk_agreement_counts_shared_classes():
    e = np.arange(20, dtype=np.float32)[None]
    a = e.copy()
    assert metrics.topk_agreement(a, e) == 1.0
    a[0, 19] = -1  # the best class drops out of the top 5; 14 enters
    assert metrics.topk_agreement(a, e) == pytest.approx(0.8)
    assert metrics.is_classifier_like(e) and not metrics.is_classifier_like(e[0])


def test_nonfinite_values_are_compared_not_ignored():
    e = np.array([np.nan, np.inf, -np.inf, 1.0])
    assert metrics.nonfinite_mismatches(e.copy(), e) == 0
    assert metrics.nonfinite_mismatches(np.array([0.0, np.inf, np.inf, 1.0]), e) == 2  # NaN lost, -inf flipped
    assert metrics.nonfinite_mismatches(np.array([np.nan, np.inf, -np.inf, np.nan]), e) == 1  # NaN invented
    # the finite metrics look only at positions finite in both
    assert metrics.max_abs_error(np.array([np.nan, np.inf, -np.inf, 1.5]), e) == pytest.approx(0.5)


def test_relative_max_error_has_one_home():
    import importlib.util

    assert importlib.util.find_spec("facade.conformance.metrics") is None  # moved to the ground: facade.metrics
    from facade.cli import demo

    assert demo.relative_max_error is metrics.relative_max_error
