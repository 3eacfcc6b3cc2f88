"""``facade bench --precision``: latency and accuracy drop per target and precision, each row in a child.

A row opens ``Session(model, target=T, precision=P, calibration=DATA)`` in a fresh
process (as ``facade bench`` does per target), times it, and measures its outputs
against fp32 ONNX Runtime on the held-out calibration samples (on seeded inputs when
no data was given: then only fp32 and fp16 rows). The precision the session really
ran at is reported beside the one asked for: an int8 row whose artifact fell outside
the bounds runs, and says so, at fp16 or fp32.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from facade.errors import InputError, format_message

CHILD_TIMEOUT_S = 900
PRECISIONS = ("fp32", "fp16", "int8")


def check(precisions: Sequence[str], calibration: str | None) -> list[str]:
    """The precisions asked for, checked before anything is measured."""
    unknown = [p for p in precisions if p not in PRECISIONS]
    if unknown:
        raise InputError(format_message("Unknown precision", where="--precision", received=unknown,
                                        expected=", ".join(PRECISIONS)))
    if "int8" in precisions and calibration is None:
        raise InputError(format_message("int8 needs calibration data", where="--precision int8",
                                        received="no --calibration", expected="--calibration DATA (.npz or folder)"))
    return list(precisions)


def measure(model_path: str, target: str, precision: str, calibration: str | None, budget_s: float) -> dict:
    """One row, in this process: open the session, time it, compare it with fp32 on held-out data."""
    from facade import benchmark
    from facade.inputs import seeded_feeds
    from facade.model import load_model
    from facade.quantization.accuracy import measure as accuracy
    from facade.quantization.calibration import load_calibration
    from facade.quantization.qdq import ort_cpu
    from facade.session import Session

    model = load_model(model_path)
    t0 = time.perf_counter()
    with Session(model, target=target, precision=precision, allow_fallback=False,
                 calibration=calibration if precision == "int8" else None) as sess:
        load_s = time.perf_counter() - t0
        times = benchmark.time_runs(sess, seeded_feeds(sess.inputs), budget_s)
        samples = (load_calibration(calibration, model).split()[1] if calibration
                   else [seeded_feeds(model.inputs)])
        acc = accuracy(sess.run, ort_cpu(model.proto), samples)
        ran = sess.precision
    return {"target": target, "precision": precision, "ran": ran, "ok": True, "load_s": load_s,
            "p50_ms": benchmark.percentile(times, 50), "p90_ms": benchmark.percentile(times, 90),
            "accuracy": acc.to_dict()}


def measure_in_child(model_path: str, target: str, precision: str, calibration: str | None, budget_s: float) -> dict:
    """One row in a fresh child process; a failure is a row that says why."""
    with tempfile.TemporaryDirectory(prefix="facade-bench-") as tmp:
        out = Path(tmp) / "row.json"
        try:
            done = subprocess.run([sys.executable, "-m", "facade.cli.bench_precision", model_path, target, precision,
                                   calibration or "", str(budget_s), str(out)], capture_output=True, text=True,
                                  timeout=CHILD_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return {"target": target, "precision": precision, "ok": False,
                    "error": f"the measuring child hung for {CHILD_TIMEOUT_S} s"}
        if out.exists():
            return json.loads(out.read_text())
    lines = [ln for ln in done.stderr.strip().splitlines() if ln.strip()]
    return {"target": target, "precision": precision, "ok": False,
            "error": lines[-1] if lines else f"exit status {done.returncode}"}


def table_rows(rows: list[dict]) -> list[tuple]:
    """Rows for :func:`facade.tables.format_table` under :data:`HEADER`."""
    out = []
    for r in rows:
        if not r["ok"]:
            out.append((r["target"], r["precision"], "-", "-", "-", "-", "-", f"failed: {r['error']}"))
            continue
        a = r["accuracy"]
        top1 = "-" if a["top1_agreement"] is None else f"{1 - a['top1_agreement']:.3f}"
        out.append((r["target"], r["precision"], r["ran"], f"{r['p50_ms']:.3f}", f"{r['p90_ms']:.3f}",
                    f"{1 - a['cosine']:.2e}", f"{a['max_rel_error']:.3g}", top1))
    return out


HEADER = ("target", "precision", "ran at", "p50 ms", "p90 ms", "1 - cosine", "max rel err", "top-1 drop")


def cmd(args, targets: list[str]) -> int:
    """``facade bench --precision``: every target x precision row, then the table (or JSON)."""
    from facade.cli.options import split_list
    from facade.cli.output import emit
    from facade.progress import Progress
    from facade.tables import format_table

    precisions = check(split_list([args.precision]), args.calibration)
    path = str(Path(args.model).resolve())
    rows = []
    bar = Progress(len(targets) * len(precisions))
    for target in targets:
        for precision in precisions:
            bar.show(f"measuring {target}@{precision}")
            rows.append(measure_in_child(path, target, precision, args.calibration, args.budget))
            bar.step(f"{target}@{precision}: " + (f"p50 {rows[-1]['p50_ms']:.3g} ms at {rows[-1]['ran']}"
                                                   if rows[-1]["ok"] else "failed"))
    bar.close()
    emit(args, {"model": args.model, "results": rows},
         lambda: "\n".join([f"model {args.model}", "", *format_table(HEADER, table_rows(rows))]))
    return 1 if any(not r["ok"] for r in rows) else 0


if __name__ == "__main__":
    path, tgt, prec, calib, budget, result = sys.argv[1:7]
    row = measure(path, tgt, prec, calib or None, float(budget))
    Path(result).write_text(json.dumps(row))
