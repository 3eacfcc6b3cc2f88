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
from typing import TYPE_CHECKING

from facade.adapters import registry
from facade.adapters.base import LoadOptions, Runner
from facade.cache import atomic_write, cache_dir
from facade.devices import DeviceFacts
from facade.inputs import seeded_feeds
from facade.model import Model
from facade.targets import lookup

if TYPE_CHECKING:
    from facade.session import Session
from facade.versions import engine_version

BUDGET_S = 1.0
WARMUP_RUNS = 1
MIN_RUNS, MAX_RUNS = 3, 50


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


def time_runs(runner: Runner | Session, feeds: dict, budget_s: float = BUDGET_S, *, warmup: int = WARMUP_RUNS,
              min_runs: int = MIN_RUNS, max_runs: int = MAX_RUNS) -> list[float]:
    """Warm up, then run until the budget is spent (at least ``min_runs``); every latency in ms."""
    for _ in range(warmup):
        runner.run(feeds)
    times: list[float] = []
    deadline = time.perf_counter() + budget_s
    while len(times) < max_runs and (len(times) < min_runs or time.perf_counter() < deadline):
        t0 = time.perf_counter()
        runner.run(feeds)
        times.append((time.perf_counter() - t0) * 1e3)
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


def measure(model: Model, target: str, facts: DeviceFacts, options: LoadOptions,
            budget_s: float = BUDGET_S) -> Timing:
    """Load ``model`` on ``target``, time it, store the result. Raises what the adapter's load raises."""
    info = lookup(target)
    t0 = time.perf_counter()
    runner = registry.get_adapter(info.engine).load(model, info.unit, options)
    load_s = time.perf_counter() - t0
    try:
        times = time_runs(runner, seeded_feeds(runner.inputs), budget_s)
    finally:
        runner.close()
    timing = Timing(target, statistics.median(times), percentile(times, 90), len(times), round(load_s, 4),
                    engine_version(info.engine))
    atomic_write(_path(model, target, facts), json.dumps(asdict(timing) | {"cached": False}).encode())
    return timing
