"""A self-contained HTML page for a report: works offline (no script, font or style is fetched).

From the top: devices, a verdict legend, a summary per device and column, a chart
of error magnitudes (inline SVG, log scale, tolerance lines), the device x column x
case matrix coloured by verdict, and a drill-down per case with every metric.

A device lists every known target, and most are unavailable on any one device (Core
ML off macOS, NNAPI off Android): those columns are hidden by default, behind one
checkbox (a few lines of inline script), so the page fits a screen. A column whose
every case errored shows its reason in the summary, where nobody can miss it.
"""

from __future__ import annotations

import math
import textwrap
import zlib
from html import escape

from facade.conformance.report import Report, describe
from facade.conformance.summary import (
    ColumnKey,
    cells,
    columns,
    counts,
    error_reasons,
    every_case_errored,
    nodes,
    pass_rate,
)
from facade.conformance.verdicts import ERROR, FAIL, LOWER, PASS, UNAVAILABLE, VERDICTS
from facade.tolerances import DEFAULTS

COLOURS = {PASS: "#2e7d32", LOWER: "#f9a825", FAIL: "#c62828", ERROR: "#6a1b9a", UNAVAILABLE: "#9e9e9e"}
_MARK = {PASS: "✓", LOWER: "↓", FAIL: "✗", ERROR: "!", UNAVAILABLE: "–"}
_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:16px;color:#222}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}
th{background:#f3f3f3}.m td{padding:0;width:28px;height:20px;text-align:center;color:#fff;font-weight:bold}
.m td.case{color:#222;font-weight:normal;text-align:left;padding:0 6px;width:auto}.m a{color:inherit;text-decoration:none}
.legend span{display:inline-block;padding:2px 8px;margin-right:6px;color:#fff;border-radius:3px}
.num{text-align:right;font-variant-numeric:tabular-nums}.dev{font-family:monospace}
.why{max-width:640px;font-size:13px}td.v-error,td.v-unavailable{color:#fff}
.m th.col{font-size:12px;line-height:1.2;vertical-align:bottom;white-space:nowrap}
svg.chart{max-width:100%;height:auto}.toggle{margin:8px 0;padding:4px 8px;background:#f3f3f3;display:inline-block}
body:not(.show-unavailable) .unavail,body.show-unavailable .avail-span{display:none}
""" + "".join(f".v-{v}{{background:{c}}}" for v, c in COLOURS.items())


REASON_CHARS = 240  # a reason in the summary; the drill-down has the whole message
# The checkbox shows or hides every element of class "unavail" (without script they stay hidden);
# a link to page.html#all opens with them shown.
_TOGGLE_JS = ("const box=document.getElementById('show-unavailable');"
              "const show=on=>{box.checked=on;document.body.classList.toggle('show-unavailable',on)};"
              "box.addEventListener('change',()=>show(box.checked));show(location.hash==='#all');")


def _cls(verdict: str) -> str:
    return f"v-{verdict}"


def _short(text: str, width: int = REASON_CHARS) -> str:
    """``text`` on one line, cut at a word boundary with an ellipsis (never mid-word)."""
    return textwrap.shorten(text, width, placeholder=" …")


def _column_head(key: ColumnKey) -> str:
    """``onnxruntime`` over ``qnn-htp@fp32``: two short lines instead of one wide header."""
    engine, _, unit = key.target.partition(":")
    return f"{escape(engine)}<br>{escape(unit)}@{escape(key.precision)}" if unit else escape(key.label)


def _fmt(x: object) -> str:
    if x is None:
        return ""
    if isinstance(x, float):
        return f"{x:.3g}" if abs(x) >= 1e-3 or x == 0 else f"{x:.2e}"
    return escape(str(x))


def _devices(report: Report) -> str:
    rows = []
    for run in report.runs:
        d, facts = run["device"], run["device"]["facts"]
        engines = ", ".join(f"{k} {v}" for k, v in run["engines"].items() if v)
        rows.append(f"<tr><td class=dev>{escape(d['fingerprint'])}</td><td>{escape(d['fingerprint_source'])}</td>"
                    f"<td>{escape(facts['os'])} {escape(facts['arch'])}, {escape(str(facts['cpu_model']))}, "
                    f"{facts['cores']} cores</td><td>{escape(engines)}</td><td class=num>{run['wall_s']:.1f} s</td></tr>")
    table = ("<table><tr><th>device</th><th>fingerprint</th><th>hardware</th><th>engines</th><th>wall time</th></tr>"
             + "".join(rows) + "</table>")
    fleet = nodes(report)
    if not fleet:
        return table
    node_rows = "".join(
        f"<tr><td class=dev>{escape(n.device)}</td><td>{escape(n.node)}</td>"
        f"<td class='num{' v-error' if n.lost else ''}'>{n.lost}</td><td class=why>{escape(_short(n.lost_reason))}</td></tr>"
        for n in fleet)
    return (table + "<table><tr><th>device</th><th>node</th><th>cases lost</th><th>why</th></tr>"
            + node_rows + "</table>")


def _summary(report: Report) -> str:
    by_column, reasons = counts(report), error_reasons(report)
    head = "".join(f"<th>{v}</th>" for v in VERDICTS)
    with_why = bool(reasons)  # no empty "why" column when nothing errored
    span = len(VERDICTS) + 1 + with_why
    rows = []
    for key, col in columns(report):
        lead = f"<td class=dev>{escape(key.device)}</td><td>{escape(key.label)}</td>"
        if not col["available"]:
            rows.append(f"<tr class=unavail>{lead}<td class='v-unavailable why' colspan={span}>unavailable: "
                        f"{escape(_short(col['reason']))}</td></tr>")
            continue
        c = by_column[key]
        rate = pass_rate(c)
        errors = reasons.get(key, [])
        why, cls = "", "why"
        if errors:
            others = f" (and {len(errors) - 1} other reason(s): see Cases)" if len(errors) > 1 else ""
            lead_in = f"every case errored ({c[ERROR]}): " if every_case_errored(c) else f"{c[ERROR]} error(s): "
            why = lead_in + _short(errors[0]) + others
            cls += " v-error" if every_case_errored(c) else ""
        rows.append(f"<tr>{lead}" + "".join(f"<td class=num>{c[v]}</td>" for v in VERDICTS)
                    + f"<td class=num>{'-' if rate is None else f'{rate:.1%}'}</td>"
                    + (f"<td class='{cls}'>{escape(why)}</td>" if with_why else "") + "</tr>")
    return (f"<table><tr><th>device</th><th>column</th>{head}<th>pass rate</th>{'<th>why</th>' * with_why}</tr>"
            + "".join(rows) + "</table>")


def _bound_labels(ys: dict[str, float], gap: float = 12.0) -> dict[str, float]:
    """Label heights for the tolerance lines, pushed apart to ``gap`` pixels so that none overlap."""
    placed: dict[str, float] = {}
    last = -math.inf
    for name, y in sorted(ys.items(), key=lambda kv: kv[1]):
        placed[name] = last = max(y, last + gap)
    return placed


def _chart(report: Report, live: list[ColumnKey], errored: set[ColumnKey]) -> str:
    """Worst scaled error of each case per column, log10 from 1e-12 to 1e0, with the tolerance lines.

    The tolerance labels sit right of the plot, spaced so they never overlap (fp16 at 8e-2 and
    int8 at 0.3 are 11 px apart); a column whose every case errored says so instead of being blank.
    """
    if not live:
        return ""
    step, left, top, bottom, right = 120, 60, 10, 56, 140
    width, height = left + step * len(live) + right, 320
    lo, hi = -12.0, 0.0
    plot_right = width - right

    def y(value: float) -> float:
        v = min(hi, max(lo, math.log10(value) if value > 0 else lo))
        return top + (hi - v) / (hi - lo) * (height - top - bottom)

    parts = [f"<svg class=chart xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
             f"viewBox='0 0 {width} {height}' role='img' aria-label='error magnitudes per column'>"]
    for e in range(int(lo), int(hi) + 1, 2):
        parts.append(f"<line x1='{left}' x2='{plot_right}' y1='{y(10.0 ** e):.1f}' y2='{y(10.0 ** e):.1f}' "
                     f"stroke='#eee'/><text x='{left - 6}' y='{y(10.0 ** e) + 4:.1f}' font-size='11' "
                     f"text-anchor='end'>1e{e}</text>")
    labels = _bound_labels({cls: y(bound.max_scaled_error) for cls, bound in DEFAULTS.items()})
    for cls, bound in DEFAULTS.items():
        yy = y(bound.max_scaled_error)
        parts.append(f"<line x1='{left}' x2='{plot_right}' y1='{yy:.1f}' y2='{yy:.1f}' stroke='#555' "
                     f"stroke-dasharray='4 3'/><line x1='{plot_right}' x2='{plot_right + 6}' y1='{yy:.1f}' "
                     f"y2='{labels[cls]:.1f}' stroke='#555'/><text x='{plot_right + 8}' y='{labels[cls] + 4:.1f}' "
                     f"font-size='11'>{cls} bound {bound.max_scaled_error:g}</text>")
    index = {k: i for i, k in enumerate(live)}
    for fp, r in report.results():
        key = ColumnKey(fp, r.target, r.precision)
        err = r.worst_scaled_error
        if key not in index or err is None:
            continue
        jitter = (zlib.crc32(r.case.encode()) % 1000) / 1000 - 0.5  # stable across runs
        cx = left + step * (index[key] + 0.5 + 0.6 * jitter)
        parts.append(f"<circle cx='{cx:.1f}' cy='{y(err):.1f}' r='3' fill='{COLOURS[r.verdict]}' "
                     f"fill-opacity='0.8'><title>{escape(r.case)}: {err:.2e}</title></circle>")
    for k, i in index.items():
        x = left + step * (i + 0.5)
        engine, _, unit = k.target.partition(":")
        if k in errored:
            parts.append(f"<text x='{x:.1f}' y='{(top + height - bottom) / 2:.1f}' font-size='11' "
                         f"text-anchor='middle' fill='{COLOURS[ERROR]}'>all errored</text>")
        parts.append(f"<text x='{x:.1f}' y='{height - bottom + 15}' font-size='11' text-anchor='middle'>"
                     f"{escape(engine)}</text><text x='{x:.1f}' y='{height - bottom + 28}' font-size='11' "
                     f"text-anchor='middle'>{escape(unit)}@{escape(k.precision)}</text>"
                     f"<text x='{x:.1f}' y='{height - bottom + 42}' font-size='10' text-anchor='middle' "
                     f"fill='#666'>{escape(k.device[:16])}</text>")
    parts.append(f"<text x='14' y='{top + 120}' font-size='11' transform='rotate(-90 14 {top + 120})'>"
                 "worst scaled error</text></svg>")
    return "".join(parts)


def _matrix(report: Report, keys: list[tuple[ColumnKey, dict]]) -> str:
    found = cells(report)
    devices = list(dict.fromkeys(k.device for k, _ in keys))
    # A device's header spans its available columns by default and all of them when the rest are shown.
    head1 = ""
    for d in devices:
        shown = sum(1 for k, c in keys if k.device == d and c["available"])
        every = sum(1 for k, _ in keys if k.device == d)
        head1 += (f"<th colspan={shown} class='dev avail-span'>{escape(d)}</th>" if shown else "")
        head1 += (f"<th colspan={every} class='dev unavail'>{escape(d)}</th>" if every != shown else "")
    head2 = "".join(f"<th class='col{'' if c['available'] else ' unavail'}' title='{escape(c['reason'])}'>"
                    f"{_column_head(k)}</th>" for k, c in keys)
    suites: dict[str, list[str]] = {}
    for run in report.runs:
        for c in run["cases"]:
            suites.setdefault(c["suite"], [])
            if c["id"] not in suites[c["suite"]]:
                suites[c["suite"]].append(c["id"])
    blocks = []
    for suite, ids in suites.items():
        rows = []
        for case in ids:
            tds = []
            for k, col in keys:
                r = found.get((case, k))
                if r is None:
                    verdict = UNAVAILABLE if not col["available"] else None
                    tds.append(f"<td class='{_cls(verdict)} unavail' title='{escape(col['reason'])}'>"
                               f"{_MARK[verdict]}</td>" if verdict else "<td></td>")
                    continue
                mark = _MARK[r.verdict] + (r.lower_precision[2:] if r.lower_precision else "")
                tds.append(f"<td class='{_cls(r.verdict)}' data-verdict='{r.verdict}' title='{escape(describe(r))}'>"
                           f"<a href='#{escape(case)}'>{mark}</a></td>")
            rows.append(f"<tr><td class=case>{escape(case)}</td>{''.join(tds)}</tr>")
        opened = " open" if len(ids) <= 200 else ""
        blocks.append(f"<details{opened}><summary>{escape(suite)} ({len(ids)} cases)</summary><table class=m>"
                      f"<tr><th></th>{head1}</tr><tr><th>case</th>{head2}</tr>{''.join(rows)}</table></details>")
    return "".join(blocks)


def _drilldown(report: Report) -> str:
    by_case: dict[str, list] = {}
    for fp, r in report.results():
        by_case.setdefault(r.case, []).append((fp, r))
    info = {c["id"]: c for run in report.runs for c in run["cases"]}
    metrics = ("scaled_error", "max_abs", "max_rel", "mean_abs", "cosine", "topk", "nonfinite_mismatch")
    out = []
    for case, results in by_case.items():
        c = info.get(case, {})
        rows = []
        for fp, r in results:
            first = True
            for o in r.outputs or [None]:
                vals = "".join(f"<td class=num>{_fmt(o.metrics.get(m)) if o else ''}</td>" for m in metrics)
                why = escape(r.error or (next(iter(o.reasons.values()), "") if o else ""))
                lead = (f"<td class=dev>{escape(fp)}</td><td>{escape(r.target)}@{r.precision}</td>"
                        f"<td class='{_cls(r.verdict)}' style='color:#fff'>{escape(describe(r))}</td>"
                        f"<td class=num>{_fmt(r.load_ms)}</td><td class=num>{_fmt(r.run_ms)}</td>"
                        if first else "<td colspan=5></td>")
                rows.append(f"<tr>{lead}<td>{escape(o.name) if o else ''}</td>{vals}<td>{why}</td></tr>")
                first = False
        out.append(
            f"<details id='{escape(case)}'><summary>{escape(case)}</summary>"
            f"<p>model sha256 <code>{escape(c.get('model_sha256', ''))}</code>, inputs sha256 "
            f"<code>{escape(c.get('inputs_sha256', ''))}</code>, seed {c.get('seed')}, oracle "
            f"{escape(str(c.get('oracle', '')))}</p><table><tr><th>device</th><th>column</th><th>verdict</th>"
            f"<th>load ms</th><th>run ms</th><th>output</th>{''.join(f'<th>{m}</th>' for m in metrics)}"
            f"<th>why</th></tr>{''.join(rows)}</table></details>")
    return "".join(out)


def _toggle(hidden: int) -> str:
    """The checkbox that shows the unavailable columns; none when every column is available."""
    if not hidden:
        return ""
    return (f"<label class=toggle><input type=checkbox id=show-unavailable> show the {hidden} unavailable "
            "column(s) (targets this device does not have)</label>")


def to_html(report: Report) -> str:
    """The whole page as one string."""
    keys = columns(report)
    live = [k for k, c in keys if c["available"]]
    by_column = counts(report)
    errored = {k for k in live if every_case_errored(by_column[k])}
    legend = "".join(f"<span class='{_cls(v)}'>{_MARK[v]} {v}</span>" for v in VERDICTS)
    n_cases = len({c["id"] for run in report.runs for c in run["cases"]})
    hidden = len(keys) - len(live)
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>facade conformance</title>"
        f"<style>{_CSS}</style></head><body><h1>facade conformance</h1>"
        f"<p>{len(report.runs)} device(s), {n_cases} case(s), {len(live)} available column(s)"
        f"{f', {len(errored)} of them with every case errored' if errored else ''}.</p>"
        f"{_devices(report)}<p class=legend>{legend}</p>{_toggle(hidden)}<h2>Summary</h2>{_summary(report)}"
        f"<h2>Error magnitudes</h2>{_chart(report, live, errored)}<h2>Matrix</h2>{_matrix(report, keys)}"
        f"<h2>Cases</h2>{_drilldown(report)}<script>{_TOGGLE_JS if hidden else ''}</script></body></html>\n")
