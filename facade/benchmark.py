"""Timing a target on a model: warm-up, then the median of a few runs within a time budget.

Used by ``select = "benchmark"`` routing and by ``facade bench``. Timings are
cached per (device fingerprint, model sha256, target, engine version), so a
device measures a model once; the cache file is written atomically.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Protocol

from facade.adapters import registry
from facade.adapters.base import Runner
from facade.adapters.catalogue import lookup
from facade.cache import atomic_write, cache_dir
from facade.devices import DeviceFacts
from facade.inputs import seeded_feeds
from facade.model import Model
from facade.targets import LoadOptions
from facade.versions import engine_version

BUDGET_S = 1.0
WARMUP_RUNS = 1
# Warm-up lasts at least this long: an engine timed right after another competes with that
# engine's idle worker threads, which keep spinning after its last run (measured here on
# MobileNetV2: OpenBLAS under the native engine ~100 ms, ONNX Runtime's pool ~40 ms, ncnn's
# OpenMP ~10 ms). On a 2-core phone or CI runner one spinning thread is half the machine.
WARMUP_S = 0.15
MIN_RUNS, MAX_RUNS = 3, 50
ROUNDS = 3


class Runs(Protocol):
    """Anything with ``run(feeds)``: a :class:`Runner`, or a ``facade.Session`` (``facade bench``)."""

    def run(self, feeds: dict, /) -> object: ...


@dataclass(frozen=True)
class Timing:
    """Latency of one target on one model: p50/p90 in ms over ``runs`` timed runs, and load time."""

    target: str
    p50_ms: float
    p90_ms: float
    runs: int
    load_s: float
    engine_version: str
    cached: bool = False

    def __str__(self) -> str:
        return f"benchmark p50 {self.p50_ms:.3f} ms, p90 {self.p90_ms:.3f} ms ({self.runs} runs{', cached' if self.cached else ''})"


def time_runs(runner: Runs, feeds: dict, budget_s: float = BUDGET_S, *, warmup: int = WARMUP_RUNS,
              warmup_s: float = WARMUP_S, min_runs: int = MIN_RUNS, max_runs: int = MAX_RUNS,
              outputs: dict | None = None) -> list[float]:
    """Warm up (``warmup`` runs and ``warmup_s`` seconds), then run until the budget is spent
    (at least ``min_runs``, at most ``max_runs``); every latency in ms. ``outputs``, a dict,
    receives the last timed run's outputs (``facade run`` prints them)."""
    warm_until = time.perf_counter() + warmup_s
    done = 0
    while done < warmup or time.perf_counter() < warm_until:
        runner.run(feeds)
        done += 1
    times: list[float] = []
    deadline = time.perf_counter() + budget_s
    while len(times) < max_runs and (len(times) < min_runs or time.perf_counter() < deadline):
        t0 = time.perf_counter()
        result = runner.run(feeds)
        times.append((time.perf_counter() - t0) * 1e3)
    if outputs is not None and times:
        outputs.update(result)
    return times


def percentile(times: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation, as numpy's default."""
    ordered = sorted(times)
    pos = (len(ordered) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _path(model: Model, target: str, facts: DeviceFacts) -> Path:
    return cache_dir("bench", facts.fingerprint) / f"{model.sha256[:24]}__{target.replace(':', '__')}.json"


def cached_timing(model: Model, target: str, facts: DeviceFacts) -> Timing | None:
    """A stored timing for this device, model and target, if the engine version still matches."""
    try:
        timing = Timing(**json.loads(_path(model, target, facts).read_text()))
    except (OSError, ValueError, TypeError):
        return None
    if timing.engine_version != engine_version(lookup(target).engine):
        return None
    return replace(timing, cached=True)


def measure(model: Model, targets: dict[str, LoadOptions], facts: DeviceFacts,
            budget_s: float = BUDGET_S) -> dict[str, Timing | Exception]:
    """Load ``model`` on every target, time them interleaved, store each timing.

    Targets are timed in ``ROUNDS`` rounds of one block each, round-robin, so that
    the drift of a shared, noisy machine (another tenant, thermal state, frequency)
    hits every target alike: timing them one after another let a 15% swing pick the
    wrong one. Each block warms up first (see ``WARMUP_S``). All targets are loaded
    at once for this, which benchmark mode accepts as its cost. A target whose load
    or run raises gets that exception in the result instead of a timing.
    """
    results: dict[str, Timing | Exception] = {}
    runners: dict[str, tuple[Runner, float, dict]] = {}
    try:
        for target, options in targets.items():
            info = lookup(target)
            t0 = time.perf_counter()
            try:
                runner = registry.get_adapter(info.engine).load(model, info.unit, options)
            except Exception as e:  # recorded per target; the router retries and reports it
                results[target] = e
                continue
            runners[target] = (runner, time.perf_counter() - t0, seeded_feeds(runner.inputs))
        times: dict[str, list[float]] = {t: [] for t in runners}
        for _ in range(ROUNDS):
            for target, (runner, _, feeds) in runners.items():
                if target in results:
                    continue
                try:
                    times[target] += time_runs(runner, feeds, budget_s / ROUNDS, min_runs=1)
                except Exception as e:
                    results[target] = e
    finally:
        for runner, _, _ in runners.values():
            runner.close()
    for target, (_, load_s, _) in runners.items():
        if target in results:
            continue
        timing = Timing(target, statistics.median(times[target]), percentile(times[target], 90), len(times[target]),
                        round(load_s, 4), engine_version(lookup(target).engine))
        atomic_write(_path(model, target, facts), json.dumps(asdict(timing) | {"cached": False}).encode())
        results[target] = timing
    return results
