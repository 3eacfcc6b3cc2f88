"""The routing decision, kept whole: every target considered and why it won or lost.

A :class:`Trace` is what ``Session.explain()`` returns. It prints as a table for
people and serializes with :meth:`Trace.to_dict` for tools.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from facade.tables import format_table
from facade.targets import HardwareClass

CHOSEN, CANDIDATE, FAILED, REJECTED = "chosen", "candidate", "failed", "rejected"
# The router's order without a policy (router.plan sorts by hardware class, then catalogue order).
DEFAULT_ORDER = ("NPU > GPU > CPU engines, in the order `facade targets` lists them > native "
                 "> software accelerators (llvmpipe, PoCL, NPU simulators)")


@dataclass
class TraceEntry:
    """One target's fate: ``chosen``, ``candidate`` (ranked, not needed), ``failed`` (load error) or ``rejected``."""

    target: str
    hardware: HardwareClass
    status: str
    reason: str
    rank: int | None = None
    notes: list[str] = field(default_factory=list)
    options: dict = field(default_factory=dict)  # what the policy sets for this target (threads, precision, engine)
    p50_ms: float | None = None  # measured latency when the policy selects by benchmark

    def to_dict(self) -> dict:
        return {"target": self.target, "hardware": self.hardware.name.lower(), "status": self.status,
                "reason": self.reason, "rank": self.rank, "notes": list(self.notes), "options": dict(self.options),
                "p50_ms": self.p50_ms}


@dataclass
class Trace:
    """Why a session runs where it runs."""

    model: str
    fingerprint: str
    forced: str | None = None
    policy: str | None = None
    entries: list[TraceEntry] = field(default_factory=list)
    precision: str | None = None

    @property
    def chosen(self) -> str | None:
        return next((e.target for e in self.entries if e.status == CHOSEN), None)

    def entry(self, target: str) -> TraceEntry | None:
        return next((e for e in self.entries if e.target == target), None)

    def ranked(self) -> list[TraceEntry]:
        """Entries that were viable candidates, in the order they are tried."""
        return sorted((e for e in self.entries if e.rank is not None), key=lambda e: e.rank)

    def choose(self, entry: TraceEntry) -> None:
        """Mark ``entry`` chosen, its reason saying why it won; what made it available moves to its notes.

        Every candidate's reason says it is available, so the winner's must say what
        set it apart: forced, preferred by a policy rule, fastest measured, or first in
        the default order, after the failures of any candidate tried before it.
        """
        entry.status = CHOSEN
        entry.notes.insert(0, entry.reason)
        entry.reason = self._why_chosen(entry)

    def _why_chosen(self, entry: TraceEntry) -> str:
        if self.forced:
            return f"forced by the caller (target={self.forced!r})"
        before = [e for e in self.ranked() if e.rank is not None and entry.rank is not None and e.rank < entry.rank]
        failed = [e.target for e in before if e.status == FAILED]
        after = f" after {', '.join(failed)} failed to load" if failed else ""
        preferred = next((n for n in entry.notes if n.startswith("preferred by policy")), None)
        if preferred:
            return preferred + after
        rivals = [e for e in self.ranked() if e is not entry and e.p50_ms is not None]
        if entry.p50_ms is not None and rivals:
            best = min(rivals, key=lambda e: e.p50_ms)
            verb = "fastest measured" if entry.p50_ms <= best.p50_ms else "fastest measured that loaded"
            return f"{verb}: {entry.p50_ms:.2f} ms vs {best.p50_ms:.2f} ms ({best.target}){after}"
        return f"first in the default order ({DEFAULT_ORDER}){after}"

    def to_dict(self) -> dict:
        return {"model": self.model, "device_fingerprint": self.fingerprint, "forced": self.forced,
                "policy": self.policy, "chosen": self.chosen, "precision": self.precision,
                "candidates": [e.to_dict() for e in self.ranked()],
                "rejected": [e.to_dict() for e in self.entries if e.rank is None]}

    def __str__(self) -> str:
        head = [f"model {self.model} on device {self.fingerprint}"
                + (f", forced target {self.forced}" if self.forced else "")
                + (f", policy {self.policy}" if self.policy else "")]
        head.append(f"chosen: {self.chosen or 'none'}" + (f" ({self.precision})" if self.precision else ""))
        rows = [(str(e.rank) if e.rank is not None else "-", e.target, e.hardware.name.lower(), e.status,
                 "; ".join([e.reason, *e.notes]))
                for e in [*self.ranked(), *(e for e in self.entries if e.rank is None)]]
        return "\n".join([*head, "", *format_table(("#", "target", "class", "status", "why"), rows)])

    def __repr__(self) -> str:
        return f"Trace(model={self.model!r}, chosen={self.chosen!r}, entries={len(self.entries)})"

