"""Router: which targets can run this model here, in what order, and opening the first that works.

:func:`plan` lists every known target with its verdict (no engine is imported
to answer "is it installed"); :func:`open_runner` tries the ranked candidates in
order and records each failure. Both write into one :class:`~facade.trace.Trace`.
Default order: NPU, GPU, optimized CPU engines, the native engine, and last the
targets whose "accelerator" is really the CPU in software (llvmpipe, PoCL, QNN's
x86 simulator): usable when forced or for conformance, never a default.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from facade import policy as policies
from facade.adapters import registry
from facade.adapters.base import Adapter, Availability, LoadOptions, Runner
from facade.conformance.gate import accuracy_gate
from facade.devices import DeviceFacts, devices
from facade.errors import (
    ConversionError,
    FacadeError,
    FacadeInternalError,
    NoTargetError,
    TargetUnavailableError,
    format_message,
)
from facade.model import Model
from facade.policy import routing as policy_routing
from facade.targets import HardwareClass, lookup, target_names
from facade.trace import CANDIDATE, FAILED, REJECTED, Trace, TraceEntry

log = logging.getLogger("facade.router")


def all_targets() -> list[str]:
    """The catalogue's targets plus any that third-party adapters add, in catalogue order."""
    names = target_names()
    for engine in registry.engines():
        adapter = registry.get_adapter(engine)
        if adapter is not None:
            names += [t for t in adapter.targets if t not in names]
    return names


def target_availability(target: str, facts: DeviceFacts) -> tuple[Availability, HardwareClass, str | None]:
    """Whether ``target`` can run on this device, its real hardware class and any demotion note."""
    info = lookup(target)
    adapter = registry.get_adapter(info.engine)
    if adapter is None:
        why = registry.broken().get(info.engine) or (
            f"no adapter for engine {info.engine!r} is registered (built-in: {', '.join(registry.BUILTIN)})")
        return Availability.no(why), info.hardware, None
    if info.unit not in adapter.units:
        return Availability.no(f"the {info.engine} adapter does not offer unit {info.unit!r}"), info.hardware, None
    avail = _guarded(lambda: adapter.available(info.unit, facts), "availability check")
    hardware, note = adapter.hardware(info.unit, facts)
    return avail, hardware, note


def _guarded(check: Callable[[], Availability], what: str) -> Availability:
    """An adapter's check that raises becomes a "no" with the reason, never a routing crash."""
    try:
        return check()
    except FacadeInternalError:
        raise
    except Exception as e:
        return Availability.no(f"{what} failed: {type(e).__name__}: {e}")


def _judge(target: str, model: Model, facts: DeviceFacts) -> TraceEntry:
    avail, hardware, note = target_availability(target, facts)
    entry = TraceEntry(target, hardware, REJECTED, f"unavailable: {avail.reason}")
    if note:
        entry.notes.append(f"ranked last: {note}")
    if not avail:
        return entry
    info = lookup(target)
    adapter = registry.get_adapter(info.engine)
    accepted = _guarded(lambda: adapter.takes_values(model) and adapter.accepts(model, info.unit), "model check")
    if not accepted:
        # A refusal remembers a load that failed before (a converter's rejection, a diverged artifact).
        entry.status = FAILED if accepted.refusal else REJECTED
        entry.reason = f"cannot take this model: {accepted.reason}"
        return entry
    entry.status, entry.reason = CANDIDATE, avail.reason
    return entry


def plan(model: Model, facts: DeviceFacts, *, target: str | None = None, policy: object = None,
         precision: str = "fp32") -> Trace:
    """Judge every target for ``model`` on ``facts`` under ``policy`` and rank the viable ones.

    ``policy`` is resolved by :func:`facade.policy.resolve_policy` (argument, else
    ``FACADE_POLICY``, else a project or user file); it denies, orders, benchmarks
    and sets options, and a target whose probe crashed on this device is skipped.
    A target whose conformance verdict for this model failed at ``precision`` on
    this device is never chosen (:mod:`facade.conformance.gate`).

    Raises:
        UnknownTargetError: ``target`` names no known target (the message suggests one).
        TargetUnavailableError: the forced ``target`` cannot run this model here.
        ConversionError: the forced ``target``'s conversion of this model failed before (recorded).
        PolicyError: the policy is invalid.
    """
    resolved = policies.resolve_policy(policy)
    decision = policies.decide(list(resolved.rules), resolved.source, facts, model)
    trace = Trace(model=model.name, fingerprint=facts.fingerprint, forced=target, policy=decision.summary())
    if target is not None:
        lookup(target)
        entry = _judge(target, model, facts)
        policy_routing.judge(decision, entry, facts)
        trace.entries.append(entry)
        if entry.status != CANDIDATE:
            # A remembered conversion failure is raised as it was when it happened.
            error = ConversionError if entry.status == FAILED else TargetUnavailableError
            raise error(format_message(
                f"Forced target cannot run this model: {entry.reason}", where=target,
                received=model.name, expected="an available target that accepts the model",
                available=[t for t in all_targets() if t != target and _judge(t, model, facts).status == CANDIDATE]))
        entry.rank = 0
        return trace
    order = {name: i for i, name in enumerate(all_targets())}
    trace.entries = [_judge(name, model, facts) for name in order]
    for e in trace.entries:
        policy_routing.judge(decision, e, facts)
    accuracy_gate(trace, model, facts, precision)  # conformance verdicts of this model on this device
    ranked = sorted((e for e in trace.entries if e.status == CANDIDATE),
                    key=lambda e: (policy_routing.sort_key(decision, e), e.hardware, order[e.target]))
    for rank, e in enumerate(ranked):
        e.rank = rank
    if decision.select == "benchmark":
        ranked = policy_routing.by_latency(decision, ranked, model, facts)
        for e in trace.entries:
            e.rank = None
        for rank, e in enumerate(ranked):
            e.rank = rank
    return trace


def open_runner(trace: Trace, model: Model, options: LoadOptions, *, allow_fallback: bool = True) -> Runner:
    """Load the ranked candidates in order until one works; record every failure in ``trace``.

    Raises:
        NoTargetError: no candidate loaded; the message lists every target and why.
    """
    failures: list[Exception] = []
    for entry in trace.ranked():
        adapter: Adapter = registry.get_adapter(lookup(entry.target).engine)
        try:
            if not policy_routing.safe_to_load(entry, devices()):
                raise TargetUnavailableError(format_message(entry.reason, where=entry.target))
            runner = adapter.load(model, lookup(entry.target).unit, policy_routing.load_options(entry, options))
        except FacadeInternalError:
            raise
        except Exception as e:  # engine errors become a recorded failure, never a crash of the caller
            entry.status = FAILED
            message = str(e).removeprefix(f"{entry.target} | ")
            entry.reason = f"load failed: {message if isinstance(e, FacadeError) else f'{type(e).__name__}: {e}'}"
            failures.append(e)
            log.warning("facade: %s failed to load %s (%s); %s", entry.target, model.name, entry.reason,
                        "trying the next target" if allow_fallback else "fallback disabled")
            if not allow_fallback:
                if isinstance(e, FacadeError):
                    raise
                raise TargetUnavailableError(format_message(entry.reason, where=entry.target)) from e
            continue
        trace.choose(entry)
        entry.notes.extend(runner.notes)
        runner.notes = entry.notes  # what the runner notes while running (non-finite values) reaches explain()
        trace.precision = runner.precision
        return runner
    lines = [f"{e.target}: {e.reason}" for e in trace.entries]
    error = NoTargetError(format_message(
        "No target could run this model", where=model.name,
        received="\n  " + "\n  ".join(lines), expected="at least one available target that accepts the model"))
    error.trace = trace
    if failures:
        raise error from ExceptionGroup("target load failures", failures)
    raise error

