"""Measuring one model on targets of this device, for ``facade bench`` and ``facade bench --cluster``.

Each target is measured in its own child (``python -m facade.cli.measure``), so one
engine's memory or a crashing driver does not touch the next row. Kept apart from
:mod:`facade.cli.bench` so that the cluster command (:mod:`facade.cli.fleet`), which
``bench`` dispatches to, reuses it without importing ``bench`` back.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from pathlib import Path

from facade import benchmark, childproc, plan
from facade.devices import devices
from facade.errors import FacadeError, TargetUnavailableError, format_message
from facade.inputs import seeded_feeds
from facade.progress import Progress
from facade.tables import format_table
from facade.trace import FAILED


def _peak_rss_kib() -> int:
    """This process's peak resident set size in KiB."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // (1024 if sys.platform == "darwin" else 1)
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))


def _converted_since(model_sha256: str, since: float) -> float:
    """Seconds this child spent converting the model: the artifacts the cache gained since ``since``.

    0 when the target runs the model as ONNX, or runs an artifact converted by an earlier run.
    Part of the load time, which is measured around the whole Session opening.
    """
    from facade.convert import cache

    return sum(float(a.manifest.get("seconds", 0.0)) for a in cache.entries()
               if a.manifest.get("model_sha256") == model_sha256 and a.manifest.get("created", 0.0) >= since)


def _child_measure(model_path: str, target: str, budget_s: float) -> dict:
    """In the child: open a session on ``target`` and measure it."""
    from facade.session import Session

    base_kib = _peak_rss_kib()
    since = time.time()
    t0 = time.perf_counter()
    with Session(model_path, target=target) as sess:
        load_s = time.perf_counter() - t0
        times = benchmark.time_runs(sess, seeded_feeds(sess.inputs), budget_s)
        precision = sess.precision
        converted = any(note.startswith("converted by ") for note in sess._runner.notes)
        model_sha256 = sess.model.sha256
    peak_kib = _peak_rss_kib() - base_kib
    conversion_s = _converted_since(model_sha256, since)
    return {"target": target, "ok": True, "precision": precision, "load_s": load_s, "conversion_s": conversion_s,
            "artifact": ("converted now" if conversion_s else "cached") if converted else None,
            "p50_ms": benchmark.percentile(times, 50), "p90_ms": benchmark.percentile(times, 90),
            "runs": len(times), "peak_mem_mib": peak_kib / 1024}


def measure_in_child(model_path: str, target: str, budget_s: float) -> dict:
    """One row of the table, measured in a fresh child process; a failure is a row that says why."""
    with tempfile.TemporaryDirectory(prefix="facade-bench-") as tmp:
        out = Path(tmp) / "row.json"
        done = childproc.run([sys.executable, "-m", "facade.cli.measure", model_path, target, str(budget_s), str(out)],
                             timeout_s=childproc.timeout("bench"))
        if out.exists():
            return json.loads(out.read_text())
    why = f"the measuring child {done.how}" if done.hung else done.last_line(limit=10_000) or f"exit status {done.returncode}"
    return {"target": target, "ok": False, "error": why}


def _check_available(chosen: list[str], here: list[str]) -> None:
    """Refuse, before anything is measured, a requested target this device does not have (no child started).

    Raises:
        TargetUnavailableError: naming each such target with its reason, and the targets available here.
    """
    from facade.router import target_availability

    missing = []
    for target in chosen:
        avail, _, _ = target_availability(target, devices())
        if not avail.ok:
            missing.append(f"{target} ({avail.reason})")
    if missing:
        raise TargetUnavailableError(format_message(
            "Not available on this device, so nothing was measured", where="bench --targets",
            received="; ".join(missing), expected="targets available here", available=here))


def candidates(model, chosen: list[str]) -> tuple[list[str], list[dict]]:
    """The targets to measure here (``chosen``, else every candidate the router ranks), and the refused rows.

    A target refused by a failure remembered from before (a cached conversion failure, a diverged
    artifact) is not a candidate, but it is listed with its reason: never dropped silently.
    """
    trace = plan(model, devices())
    _check_available(chosen, [e.target for e in trace.ranked()])
    targets = chosen or [e.target for e in trace.ranked()]
    refused = [] if chosen else [{"target": e.target, "ok": False, "refused": True, "error": e.reason}
                                 for e in trace.entries if e.status == FAILED]
    return targets, refused


def measure_rows(model_path: Path, targets: list[str], budget_s: float, *, progress: bool = True) -> list[dict]:
    """One row per target, each measured in its own child, with a progress line per target."""
    rows = []
    with Progress(len(targets), enabled=progress) as bar:  # redrawn on a terminal, plain lines in a pipe or log
        for target in targets:
            bar.show(f"measuring {target}")
            rows.append(measure_in_child(str(model_path), target, budget_s))
            bar.step(f"{target}: " + (f"p50 {rows[-1]['p50_ms']:.3g} ms" if rows[-1]["ok"] else "failed"))
    return rows


def _conversion_cell(row: dict) -> str:
    """Milliseconds converting in this run; ``cached`` for an artifact converted before; ``-`` for ONNX engines."""
    if row.get("artifact") is None:
        return "-"
    return "cached" if row["artifact"] == "cached" else f"{row['conversion_s'] * 1e3:.1f}"


def latency_table(rows: list[dict]) -> list[str]:
    """The rows as the table ``facade bench`` prints."""
    table = [(r["target"], f"{r['load_s'] * 1e3:.1f}", _conversion_cell(r), f"{r['p50_ms']:.3f}",
              f"{r['p90_ms']:.3f}", f"{r['peak_mem_mib']:.1f}", r["runs"]) if r["ok"]
             else (r["target"], "-", "-", "-", "-", "-", f"{'refused' if r.get('refused') else 'failed'}: "
                   f"{r['error']}") for r in rows]
    return format_table(("target", "load ms", "convert ms", "p50 ms", "p90 ms", "peak MiB", "runs"), table)


def exit_status(rows: list[dict]) -> int:
    """A target that was measured and failed is an error of this run (1, the table still printed);
    one refused by a failure remembered from an earlier run is information."""
    return 1 if any(not r["ok"] and not r.get("refused") for r in rows) else 0


if __name__ == "__main__":
    path, target, budget, result = sys.argv[1:5]
    try:
        row = _child_measure(path, target, float(budget))
    except FacadeError as e:  # the row says why, in facade's words (not a traceback's last line)
        row = {"target": target, "ok": False, "error": str(e)}
    Path(result).write_text(json.dumps(row))
