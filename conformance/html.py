"""A self-contained HTML page for a report: works offline (no script, font or style is fetched).

From the top: devices, a verdict legend, a summary per device and column, a chart
of error magnitudes (inline SVG, log scale, tolerance lines), the device x column x
case matrix coloured by verdict, and a drill-down per case with every metric.
"""

from __future__ import annotations

import math
import zlib
from html import escape

from facade.conformance.report import Report, describe
from facade.conformance.summary import ColumnKey, cells, columns, counts, pass_rate
from facade.tolerances import DEFAULTS
from facade.conformance.verdicts import ERROR, FAIL, LOWER, PASS, UNAVAILABLE, VERDICTS

COLOURS = {PASS: "#2e7d32", LOWER: "#f9a825", FAIL: "#c62828", ERROR: "#6a1b9a", UNAVAILABLE: "#9e9e9e"}
_MARK = {PASS: "✓", LOWER: "↓", FAIL: "✗", ERROR: "!", UNAVAILABLE: "–"}
_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:16px;color:#222}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}
th{background:#f3f3f3}.m td{padding:0;width:28px;height:20px;text-align:center;color:#fff;font-weight:bold}
.m td.case{color:#222;font-weight:normal;text-align:left;padding:0 6px;width:auto}.m a{color:inherit;text-decoration:none}
.legend span{display:inline-block;padding:2px 8px;margin-right:6px;color:#fff;border-radius:3px}
.num{text-align:right;font-variant-numeric:tabular-nums}.dev{font-family:monospace}
""" + "".join(f".v-{v}{{background:{c}}}" for v, c in COLOURS.items())


def _cls(verdict: str) -> str:
    return f"v-{verdict}"


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
    return ("<table><tr><th>device</th><th>fingerprint</th><th>hardware</th><th>engines</th><th>wall time</th></tr>"
            + "".join(rows) + "</table>")


def _summary(report: Report) -> str:
    by_column = counts(report)
    head = "".join(f"<th>{v}</th>" for v in VERDICTS)
    rows = []
    for key, col in columns(report):
        if not col["available"]:
            rows.append(f"<tr><td class=dev>{escape(key.device)}</td><td>{escape(key.label)}</td>"
                        f"<td class='v-unavailable' colspan={len(VERDICTS) + 1} style='color:#fff'>unavailable: "
                        f"{escape(col['reason'][:160])}</td></tr>")
            continue
        c = by_column[key]
        rate = pass_rate(c)
        rows.append(f"<tr><td class=dev>{escape(key.device)}</td><td>{escape(key.label)}</td>"
                    + "".join(f"<td class=num>{c[v]}</td>" for v in VERDICTS)
                    + f"<td class=num>{'-' if rate is None else f'{rate:.1%}'}</td></tr>")
    return (f"<table><tr><th>device</th><th>column</th>{head}<th>pass rate</th></tr>" + "".join(rows) + "</table>")


def _chart(report: Report, live: list[ColumnKey]) -> str:
    """Worst scaled error of each case per column, log10 from 1e-12 to 1e0, with the tolerance lines."""
    if not live:
        return ""
    width, height, left, top, bottom = max(400, 160 * len(live) + 80), 320, 60, 10, 60
    lo, hi = -12.0, 0.0

    def y(value: float) -> float:
        v = min(hi, max(lo, math.log10(value) if value > 0 else lo))
        return top + (hi - v) / (hi - lo) * (height - top - bottom)

    step = (width - left - 20) / len(live)
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' role='img' "
             "aria-label='error magnitudes per column'>"]
    for e in range(int(lo), int(hi) + 1, 2):
        parts.append(f"<line x1='{left}' x2='{width - 10}' y1='{y(10.0 ** e):.1f}' y2='{y(10.0 ** e):.1f}' "
                     f"stroke='#eee'/><text x='{left - 6}' y='{y(10.0 ** e) + 4:.1f}' font-size='11' "
                     f"text-anchor='end'>1e{e}</text>")
    for cls, bound in DEFAULTS.items():
        yy = y(bound.max_scaled_error)
        parts.append(f"<line x1='{left}' x2='{width - 10}' y1='{yy:.1f}' y2='{yy:.1f}' stroke='#555' "
                     f"stroke-dasharray='4 3'/><text x='{width - 12}' y='{yy - 3:.1f}' font-size='10' "
                     f"text-anchor='end'>{cls} bound</text>")
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
        parts.append(f"<text x='{x:.1f}' y='{height - bottom + 16}' font-size='11' text-anchor='middle'>"
                     f"{escape(k.label)}</text><text x='{x:.1f}' y='{height - bottom + 30}' font-size='10' "
                     f"text-anchor='middle' fill='#666'>{escape(k.device[:16])}</text>")
    parts.append(f"<text x='14' y='{top + 120}' font-size='11' transform='rotate(-90 14 {top + 120})'>"
                 "worst scaled error</text></svg>")
    return "".join(parts)


def _matrix(report: Report, keys: list[tuple[ColumnKey, dict]]) -> str:
    found = cells(report)
    devices = list(dict.fromkeys(k.device for k, _ in keys))
    head1 = "".join(f"<th colspan={sum(1 for k, _ in keys if k.device == d)} class=dev>{escape(d)}</th>"
                    for d in devices)
    head2 = "".join(f"<th title='{escape(c['reason'])}'>{escape(k.label)}</th>" for k, c in keys)
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
                    tds.append(f"<td class='{_cls(verdict)}' title='{escape(col['reason'])}'>{_MARK[verdict]}</td>"
                               if verdict else "<td></td>")
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


def to_html(report: Report) -> str:
    """The whole page as one string."""
    keys = columns(report)
    live = [k for k, c in keys if c["available"]]
    legend = "".join(f"<span class='{_cls(v)}'>{_MARK[v]} {v}</span>" for v in VERDICTS)
    n_cases = len({c["id"] for run in report.runs for c in run["cases"]})
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>facade conformance</title>"
        f"<style>{_CSS}</style></head><body><h1>facade conformance</h1>"
        f"<p>{len(report.runs)} device(s), {n_cases} case(s), {len(live)} available column(s).</p>"
        f"{_devices(report)}<p class=legend>{legend}</p><h2>Summary</h2>{_summary(report)}"
        f"<h2>Error magnitudes</h2>{_chart(report, live)}<h2>Matrix</h2>{_matrix(report, keys)}"
        f"<h2>Cases</h2>{_drilldown(report)}</body></html>\n")
