"""Conformance's side of the accuracy gate: keeping a report's verdicts where the router reads them.

After ``facade conformance run``, each model's verdicts are kept in the cache under
the device fingerprint and the model's sha256 (:func:`store`); a report can also be
handed in for this process (:func:`use_report`). The router reads them through
:mod:`facade.verdict_store` and rejects a target whose verdict failed
(:mod:`facade.router.gate`).
"""

from __future__ import annotations

import os
from pathlib import Path

from facade import verdict_store
from facade.conformance.report import Report, describe
from facade.conformance.verdicts import UNAVAILABLE
from facade.tolerances import PRECISIONS


def use_report(report: Report | str | os.PathLike) -> None:
    """Gate this process's routing with ``report`` (a :class:`Report` or a report file), on top of the cache."""
    verdict_store.add_in_process(_summaries(report if isinstance(report, Report) else Report.load(report)))


def clear_reports() -> None:
    """Forget reports given to :func:`use_report`."""
    verdict_store.clear_in_process()


def _summaries(report: Report) -> dict[tuple[str, str], dict[str, dict]]:
    """(fingerprint, model sha256) -> column key -> verdict summary."""
    sha = {(run["device"]["fingerprint"], c["id"]): c["model_sha256"] for run in report.runs for c in run["cases"]}
    found: dict[tuple[str, str], dict[str, dict]] = {}
    for fp, r in report.results():
        reason = next((why for o in r.outputs for why in o.reasons.values()), r.error or "")
        found.setdefault((fp, sha[(fp, r.case)]), {})[f"{r.target}@{r.precision}"] = {
            "case": r.case, "verdict": describe(r), "unavailable": r.verdict == UNAVAILABLE,
            "passes": {cls: r.passes_at(cls) for cls in PRECISIONS}, "reason": reason}
    return found


def store(report: Report) -> list[Path]:
    """Keep each model's verdicts in the cache, where the router's accuracy gate finds them."""
    return verdict_store.write(_summaries(report))
