"""A Markdown summary of a report, short enough for a pull-request comment."""

from __future__ import annotations

import textwrap

from facade.conformance.report import Report, describe
from facade.conformance.summary import columns, counts, nodes, pass_rate
from facade.conformance.verdicts import ERROR, FAIL, LOWER, PASS, UNAVAILABLE

MAX_ROWS = 30
REASON_CHARS = 160  # an unavailable column's reason, in the list under the table
WHY_CHARS = 240  # why a result did not pass; the causes lead (facade/convert/causes.py), so they survive the cut


def _short(text: str, width: int) -> str:
    """``text`` on one line, cut at a word boundary with an ellipsis."""
    return textwrap.shorten(text, width, placeholder=" …")


def _cell(text: str, width: int) -> str:
    """``text`` as one table cell: :func:`_short`, pipes escaped."""
    return _short(text, width).replace("|", "\\|")


def to_markdown(report: Report) -> str:
    """Verdict counts per device and column, then the results that did not pass."""
    cases = {c["id"] for run in report.runs for c in run["cases"]}
    lines = [f"## Conformance: {len(report.runs)} device(s), {len(cases)} case(s)", "",
             "| device | column | pass | lower precision | fail | error | unavailable | pass rate |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    by_column = counts(report)
    unavailable: dict[tuple[str, str], list[str]] = {}  # (device, reason) -> columns
    for key, col in columns(report):
        if not col["available"]:
            unavailable.setdefault((key.device, col["reason"]), []).append(key.label)
            continue
        c = by_column[key]
        rate = pass_rate(c)
        lines.append(f"| {key.device} | {key.label} | {c[PASS]} | {c[LOWER]} | {c[FAIL]} | {c[ERROR]} | "
                     f"{c[UNAVAILABLE]} | {'-' if rate is None else f'{rate:.1%}'} |")
    if unavailable:  # one line per device and reason: most of the known targets exist on few devices
        n = sum(map(len, unavailable.values()))
        lines += ["", f"Unavailable here ({n} column(s)):", ""]
        lines += [f"- {device}: {', '.join(labels)}: {_short(reason, REASON_CHARS)}"
                  for (device, reason), labels in unavailable.items()]
    fleet = nodes(report)
    if fleet:
        lines += ["", "| device | node | cases lost | why |", "| --- | --- | ---: | --- |"]
        lines += [f"| {n.device} | {n.node} | {n.lost} | {_cell(n.lost_reason, WHY_CHARS)} |" for n in fleet]
    bad = [(fp, r) for fp, r in report.results() if r.verdict in (FAIL, ERROR, LOWER)]
    if bad:
        lines += ["", f"### Not passing at fp32 ({len(bad)})", "", "| device | case | column | verdict | why |",
                  "| --- | --- | --- | --- | --- |"]
        for fp, r in bad[:MAX_ROWS]:
            why = r.error or next((w for o in r.outputs for w in o.reasons.values()), "")
            lines.append(f"| {fp} | {r.case} | {r.target}@{r.precision} | {describe(r)} | {_cell(why, WHY_CHARS)} |")
        if len(bad) > MAX_ROWS:
            lines.append(f"| ... | {len(bad) - MAX_ROWS} more | | | |")
    return "\n".join(lines) + "\n"
