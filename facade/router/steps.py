"""The router's steps for one target entry: policy decision, probe verdicts, options, benchmark order.

Kept out of :mod:`facade.router.planning` so planning stays a short list of steps:
:func:`judge` rejects denied or known-broken candidates and writes why into the
trace; :func:`sort_key` orders by preference before hardware class;
:func:`by_latency` times candidates for ``select = "benchmark"``;
:func:`safe_to_load` probes a crash-prone target before it is loaded in-process;
:func:`load_options` binds the policy's options and precision floor.
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace

from facade import benchmark, probe
from facade.devices import DeviceFacts
from facade.model import Model
from facade.policy.matching import Decision
from facade.policy.schema import PRECISIONS
from facade.quantization import gate
from facade.targets import HardwareClass, LoadOptions
from facade.trace import CANDIDATE, FAILED, REJECTED, TraceEntry

log = logging.getLogger("facade.router")


def judge(decision: Decision, entry: TraceEntry, facts: DeviceFacts) -> None:
    """Apply deny/allow and cached probe verdicts to a candidate; note preference and options."""
    if entry.status != CANDIDATE:
        return
    denied, rule, glob = decision.verdict(entry.target)
    if denied:
        entry.status = REJECTED
        entry.reason = f"denied by policy {rule.where}: deny {glob!r}" + (f" ({rule.reason})" if rule.reason else "")
        return
    if rule is not None:
        entry.notes.append(f"allowed by policy {rule.where}: allow {glob!r}")
    verdict = probe.cached(entry.target, facts) if probe.needs_probe(entry.target) else None
    if verdict is not None and verdict.status == probe.BROKEN:
        entry.status, entry.reason = REJECTED, f"{verdict}; not probed again until the engine or driver changes"
        return
    if verdict is not None:
        entry.notes.append(str(verdict))
    _, rule, glob = decision.preference(entry.target)
    if rule is not None:
        entry.notes.append(f"preferred by policy {rule.where}: prefer {glob!r}")
    options, by = decision.options(entry.target)
    if decision.precision is not None:
        options["precision"] = decision.floor(entry.target, PRECISIONS[-1])
    if options:
        entry.options = options
        entry.notes.append(f"options from policy {', '.join(by) or decision.precision[1].label}: {options}")


def sort_key(decision: Decision, entry: TraceEntry) -> int:
    """Position in the policy's combined ``prefer`` list (unpreferred targets sort after every preferred one)."""
    return decision.preference(entry.target)[0]


def load_options(entry: TraceEntry, caller: LoadOptions) -> LoadOptions:
    """The caller's options with the policy's filled in; precision the stricter of the two."""
    own = entry.options
    precision = min(caller.precision, str(own.get("precision", caller.precision)), key=PRECISIONS.index)
    return replace(caller, threads=caller.threads or own.get("threads"), precision=precision,
                   engine={**own.get("engine", {}), **caller.engine},
                   calibration=gate.with_policy(caller.calibration, own, precision))  # int8 data and bounds


def safe_to_load(entry: TraceEntry, facts: DeviceFacts) -> bool:
    """Probe a crash-prone target in a child before this process loads it; a broken one is marked failed."""
    verdict = probe.ensure(entry.target, facts)
    if verdict is None or verdict.status != probe.BROKEN:
        if verdict is not None and not verdict.cached:
            entry.notes.append(str(verdict))
        return True
    entry.status, entry.reason = FAILED, str(verdict)
    log.warning("facade: %s skipped: %s", entry.target, verdict)
    return False


def by_latency(decision: Decision, ranked: list[TraceEntry], model: Model, facts: DeviceFacts) -> list[TraceEntry]:
    """Time each acceptable candidate (cached) and order by preference, then measured p50.

    Software "accelerators" (llvmpipe, PoCL, NPU simulators) are not timed unless
    the policy prefers them: they are never a default, and the simulators are slow.
    """
    timed: list[TraceEntry] = []
    for entry in ranked:
        if entry.hardware is HardwareClass.SOFTWARE and decision.preference(entry.target)[1] is None:
            entry.notes.append("not benchmarked: software accelerator, never a default")
        elif safe_to_load(entry, facts):
            timed.append(entry)
    timings = {e.target: t for e in timed if (t := benchmark.cached_timing(model, e.target, facts))}
    fresh = {e.target: load_options(e, LoadOptions()) for e in timed if e.target not in timings}
    timings |= benchmark.measure(model, fresh, facts) if fresh else {}
    latency: dict[str, float] = {}
    for entry in timed:
        timing = timings[entry.target]
        if isinstance(timing, Exception):  # a load failure here is retried (and recorded) by open_runner
            entry.notes.append(f"benchmark failed: {type(timing).__name__}: {str(timing)[:200]}")
            continue
        latency[entry.target] = entry.p50_ms = timing.p50_ms
        entry.notes.append(str(timing))
    kept = [e for e in ranked if e.status == CANDIDATE]
    return sorted(kept, key=lambda e: (sort_key(decision, e), latency.get(e.target, math.inf), e.rank))

