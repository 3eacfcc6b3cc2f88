"""Timing targets for ``select = "benchmark"``: warm-up, interleaved rounds, per-target failures, the cache."""

from __future__ import annotations

import time

import numpy as np

from facade import benchmark
from facade.devices import devices
from facade.model import load_model
from facade.targets import LoadOptions
from facade.zoo import small as models


class _Clock:
    """A runner whose run takes ``delay`` seconds: the timing loop is what is tested here."""

    def __init__(self, delay: float) -> None:
        self.delay, self.calls, self.inputs = delay, 0, []

    def run(self, feeds: dict) -> dict:
        self.calls += 1
        time.sleep(self.delay)
        return {}


def test_warm_up_lasts_its_time_before_anything_is_timed():
    clock = _Clock(0.002)
    t0 = time.perf_counter()
    times = benchmark.time_runs(clock, {}, budget_s=0.0, warmup_s=0.05, min_runs=3)
    assert len(times) == 3
    assert clock.calls >= 3 + 0.05 / 0.002 * 0.5  # at least half the warm-up window's runs (sleep overshoots)
    assert time.perf_counter() - t0 >= 0.05
    assert all(t >= 2.0 for t in times)


def test_measure_times_every_target_in_rounds_and_caches_each():
    model = load_model(models.conv_relu())
    facts = devices()
    targets = {"onnxruntime:cpu": LoadOptions(threads=1), "native:cpu": LoadOptions(threads=1)}
    results = benchmark.measure(model, targets, facts, budget_s=0.15)
    assert set(results) == set(targets)
    for target, timing in results.items():
        assert isinstance(timing, benchmark.Timing), timing
        assert timing.runs >= benchmark.ROUNDS and 0 < timing.p50_ms <= timing.p90_ms
        assert benchmark.cached_timing(model, target, facts).p50_ms == timing.p50_ms


def test_a_target_that_fails_to_load_is_reported_and_the_others_are_still_timed():
    # An ONNX Runtime contrib operator: ONNX Runtime runs it, the native engine refuses it at load.
    model = load_model(models.custom_op("Gelu", "com.microsoft"))
    results = benchmark.measure(model, {"native:cpu": LoadOptions(), "onnxruntime:cpu": LoadOptions()}, devices(),
                                budget_s=0.15)
    assert isinstance(results["native:cpu"], Exception)
    assert isinstance(results["onnxruntime:cpu"], benchmark.Timing), results["onnxruntime:cpu"]
    assert benchmark.cached_timing(model, "native:cpu", devices()) is None


def test_percentile_interpolates_as_numpy():
    data = [5.0, 1.0, 3.0, 2.0]
    assert benchmark.percentile(data, 90) == np.percentile(data, 90)
