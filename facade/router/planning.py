"""Planning: which targets can run this model here, judged and ranked, written into one trace.

:func:`plan` lists every target of the catalogue with its verdict (no engine is
imported to answer "is it installed"). Default order: NPU, GPU, optimized CPU
engines, the native engine, and last the targets whose "accelerator" is really
the CPU in software (llvmpipe, PoCL, QNN's x86 simulator): usable when forced or
for conformance, never a default.
"""

from __future__ import annotations

from collections.abc import Callable

from facade import policy as policies
from facade.adapters import registry
from facade.adapters.catalogue import catalogue, lookup
from facade.devices import DeviceFacts
from facade.errors import ConversionError, FacadeInternalError, TargetUnavailableError, format_message
from facade.model import Model
from facade.router import steps
from facade.router.gate import accuracy_gate
from facade.targets import Availability, HardwareClass, TargetInfo
from facade.trace import CANDIDATE, FAILED, REJECTED, Trace, TraceEntry


def target_availability(target: str, facts: DeviceFacts) -> tuple[Availability, HardwareClass, str | None]:
    """Whether ``target`` can run on this device, its real hardware class and any demotion note."""
    return _availability(lookup(target), facts)


def _availability(info: TargetInfo, facts: DeviceFacts) -> tuple[Availability, HardwareClass, str | None]:
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


def _judge(info: TargetInfo, model: Model, facts: DeviceFacts) -> TraceEntry:
    avail, hardware, note = _availability(info, facts)
    entry = TraceEntry(info.name, hardware, REJECTED, f"unavailable: {avail.reason}")
    if note:
        entry.notes.append(f"ranked last: {note}")
    if not avail:
        return entry
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
    this device is never chosen (:mod:`facade.router.gate`).

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
        entry = _judge(lookup(target), model, facts)
        steps.judge(decision, entry, facts)
        trace.entries.append(entry)
        if entry.status != CANDIDATE:
            # A remembered conversion failure is raised as it was when it happened.
            error = ConversionError if entry.status == FAILED else TargetUnavailableError
            raise error(format_message(
                f"Forced target cannot run this model: {entry.reason}", where=target,
                received=model.name, expected="an available target that accepts the model",
                available=[t for t, i in catalogue().items()
                           if t != target and _judge(i, model, facts).status == CANDIDATE]))
        entry.rank = 0
        return trace
    known = catalogue()
    order = {name: i for i, name in enumerate(known)}
    trace.entries = [_judge(info, model, facts) for info in known.values()]
    for e in trace.entries:
        steps.judge(decision, e, facts)
    accuracy_gate(trace, model, facts, precision)  # conformance verdicts of this model on this device
    ranked = sorted((e for e in trace.entries if e.status == CANDIDATE),
                    key=lambda e: (steps.sort_key(decision, e), e.hardware, order[e.target]))
    for rank, e in enumerate(ranked):
        e.rank = rank
    if decision.select == "benchmark":
        ranked = steps.by_latency(decision, ranked, model, facts)
        for e in trace.entries:
            e.rank = None
        for rank, e in enumerate(ranked):
            e.rank = rank
    return trace
