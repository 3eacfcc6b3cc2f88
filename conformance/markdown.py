"""A Markdown summary of a report, short enough for a pull-request comment."""

from __future__ import annotations

import textwrap

from facade.conformance.report import Report, describe
from facade.conformance.summary import columns, counts, pass_rate
from facade.conformance.verdicts import ERROR, FAIL, LOWER, PASS, UNAVAILABLE

MAX_ROWS = 30
REASON_CHARS = 100  # an unavailable column's reason
WHY_CHARS = 240  # why a result did not pass; the causes lead (facade/convert/causes.py), so they survive the cut


def _cell(text: str, width: int) -> str:
    """``text`` as one table cell: one line, pipes escaped, cut at a word boundary with an ellipsis."""
    return textwrap.shorten(text, width, placeholder=" …").replace("|", "\\|")


def to_markdown(report: Report) -> str:
    """Verdict counts per device and column, then the results that did not pass."""
    cases = {c["id"] for run in report.runs for c in run["cases"]}
    lines = [f"## Conformance: {len(report.runs)} device(s), {len(cases)} case(s)", "",
             "| device | column | pass | lower precision | fail | error | unavailable | pass rate |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    by_column = counts(report)
    for key, col in columns(report):
        if not col["available"]:
            lines.append(f"| {key.device} | {key.label} | | | | | all | - ({_cell(col['reason'], REASON_CHARS)}) |")
            continue
        c = by_column[key]
        rate = pass_rate(c)
        lines.append(f"| {key.device} | {key.label} | {c[PASS]} | {c[LOWER]} | {c[FAIL]} | {c[ERROR]} | "
                     f"{c[UNAVAILABLE]} | {'-' if rate is None else f'{rate:.1%}'} |")
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
