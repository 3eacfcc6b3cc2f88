"""Counting verdicts per device and column: what both the HTML page and the Markdown summary show."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from facade.conformance.report import Report
from facade.conformance.verdicts import ERROR, PASS, CaseResult


@dataclass(frozen=True)
class ColumnKey:
    """One device's (target, precision) column."""

    device: str
    target: str
    precision: str

    @property
    def label(self) -> str:
        return f"{self.target}@{self.precision}"


def columns(report: Report) -> list[tuple[ColumnKey, dict]]:
    """Every column of every run, with its availability record, in report order."""
    return [(ColumnKey(run["device"]["fingerprint"], c["target"], c["precision"]), c)
            for run in report.runs for c in run["columns"]]


def cells(report: Report) -> dict[tuple[str, ColumnKey], CaseResult]:
    """(case id, column) -> result."""
    return {(r.case, ColumnKey(fp, r.target, r.precision)): r for fp, r in report.results()}


def counts(report: Report, suite: str | None = None) -> dict[ColumnKey, Counter]:
    """Verdict counts per available column, optionally for one suite only."""
    suites = {(run["device"]["fingerprint"], c["id"]): c["suite"] for run in report.runs for c in run["cases"]}
    found: dict[ColumnKey, Counter] = {k: Counter() for k, col in columns(report) if col["available"]}
    for fp, r in report.results():
        if suite is None or suites.get((fp, r.case)) == suite:
            found.setdefault(ColumnKey(fp, r.target, r.precision), Counter())[r.verdict] += 1
    return found


def pass_rate(c: Counter) -> float | None:
    """Share of cases that passed at fp32 tolerance (None when nothing ran)."""
    total = sum(c.values())
    return c[PASS] / total if total else None


def error_reasons(report: Report) -> dict[ColumnKey, list[str]]:
    """The distinct error messages of each column, most frequent first (for the summary's "why" cell)."""
    found: dict[ColumnKey, Counter] = {}
    for fp, r in report.results():
        if r.verdict == ERROR and r.error:
            found.setdefault(ColumnKey(fp, r.target, r.precision), Counter())[r.error] += 1
    return {k: [msg for msg, _ in c.most_common()] for k, c in found.items()}


def every_case_errored(c: Counter) -> bool:
    """A column that ran cases and got nothing but errors: its reason belongs in the summary, not the drill-down."""
    return bool(c) and c[ERROR] == sum(c.values())


@dataclass(frozen=True)
class NodeRow:
    """One fleet run's node and what it lost: two nodes of one fingerprint share the verdict rows (they are
    the same kind of device), so which host ran, and which cases a dead node took with it, are said here."""

    device: str
    node: str
    lost: int
    lost_reason: str


def nodes(report: Report) -> list[NodeRow]:
    """A row per run from a fleet (``device.node`` or ``lost`` set); empty for a local report."""
    rows = []
    for run in report.runs:
        node, lost = run["device"].get("node"), run.get("lost", [])
        if node is None and not lost:
            continue
        where = f"{node['label']} (host {node['host']}, node {node['id'][:12]})" if node else "-"
        rows.append(NodeRow(run["device"]["fingerprint"], where, len(lost), lost[0]["reason"] if lost else ""))
    return rows
