"""The accuracy gate: the router never picks a target whose conformance verdict failed here.

After ``facade conformance run``, each model's verdicts are kept in the cache under
the device fingerprint and the model's sha256 (:func:`store`); a report can also be
handed in for this process (:func:`use_report`). :func:`accuracy_gate` is called by
the router's ``plan()``: a candidate whose column (target at the session's allowed
precision) failed or errored for this model on this device is rejected, and the
trace (``explain()``) says why. A forced target is never gated: conformance runs
force targets on purpose.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from facade.cache import atomic_write, cache_dir
from facade.conformance.report import Report, describe
from facade.conformance.verdicts import UNAVAILABLE
from facade.devices import DeviceFacts
from facade.model import Model
from facade.trace import CANDIDATE, REJECTED, Trace

_reports: list[Report] = []


def use_report(report: Report | str | os.PathLike) -> None:
    """Gate this process's routing with ``report`` (a :class:`Report` or a report file), on top of the cache."""
    _reports.append(report if isinstance(report, Report) else Report.load(report))


def clear_reports() -> None:
    """Forget reports given to :func:`use_report`."""
    _reports.clear()


def _summaries(report: Report) -> dict[tuple[str, str], dict[str, dict]]:
    """(fingerprint, model sha256) -> column key -> verdict summary."""
    sha = {(run["device"]["fingerprint"], c["id"]): c["model_sha256"] for run in report.runs for c in run["cases"]}
    found: dict[tuple[str, str], dict[str, dict]] = {}
    for fp, r in report.results():
        reason = next((why for o in r.outputs for why in o.reasons.values()), r.error or "")
        found.setdefault((fp, sha[(fp, r.case)]), {})[f"{r.target}@{r.precision}"] = {
            "case": r.case, "verdict": describe(r), "unavailable": r.verdict == UNAVAILABLE,
            "passes": {cls: r.passes_at(cls) for cls in ("fp32", "fp16", "int8")}, "reason": reason}
    return found


def _path(fingerprint: str, sha256: str) -> Path:
    return cache_dir("conformance", fingerprint) / f"{sha256}.json"


def store(report: Report) -> list[Path]:
    """Keep each model's verdicts in the cache, where :func:`accuracy_gate` finds them."""
    written = []
    for (fp, sha), columns in _summaries(report).items():
        path = _path(fp, sha)
        try:
            old = json.loads(path.read_text()) if path.exists() else {}
        except (OSError, json.JSONDecodeError):
            old = {}
        written.append(atomic_write(path, json.dumps({**old, **columns}, indent=1).encode()))
    return written


def verdicts(fingerprint: str, sha256: str) -> dict[str, dict]:
    """Column key -> verdict summary for one model on one device: cache first, then reports in use."""
    path = _path(fingerprint, sha256)
    try:
        found = json.loads(path.read_text()) if path.exists() else {}
    except (OSError, json.JSONDecodeError):
        found = {}
    for report in _reports:
        found.update(_summaries(report).get((fingerprint, sha256), {}))
    return found


def accuracy_gate(trace: Trace, model: Model, facts: DeviceFacts, precision: str = "fp32") -> None:
    """Reject candidates whose verdict for ``model`` here failed at ``precision``; the trace says why."""
    if trace.forced is not None:
        return
    known = verdicts(facts.fingerprint, model.sha256)
    for entry in trace.entries:
        v = known.get(f"{entry.target}@{precision}")
        if entry.status != CANDIDATE or v is None or v["unavailable"] or v["passes"].get(precision):
            continue
        entry.status = REJECTED
        entry.reason = (f"conformance: {v['verdict']} at {precision} tolerance for this model on this device"
                        + (f" ({v['reason']})" if v["reason"] else ""))
