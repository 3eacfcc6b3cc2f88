"""The accuracy gate: the router never picks a target whose conformance verdict failed here.

Verdicts come from :mod:`facade.verdict_store` (written by ``facade conformance
run`` and :func:`facade.conformance.gate.use_report`). A candidate whose column
(target at the session's allowed precision) failed or errored for this model on
this device is rejected, and the trace (``explain()``) says why. A forced target
is never gated: conformance runs force targets on purpose.
"""

from __future__ import annotations

from facade import verdict_store
from facade.devices import DeviceFacts
from facade.model import Model
from facade.trace import CANDIDATE, REJECTED, Trace


def accuracy_gate(trace: Trace, model: Model, facts: DeviceFacts, precision: str = "fp32") -> None:
    """Reject candidates whose verdict for ``model`` here failed at ``precision``; the trace says why."""
    if trace.forced is not None:
        return
    known = verdict_store.verdicts(facts.fingerprint, model.sha256)
    for entry in trace.entries:
        v = known.get(f"{entry.target}@{precision}")
        if entry.status != CANDIDATE or v is None or v["unavailable"] or v["passes"].get(precision):
            continue
        entry.status = REJECTED
        entry.reason = (f"conformance: {v['verdict']} at {precision} tolerance for this model on this device"
                        + (f" ({v['reason']})" if v["reason"] else ""))
