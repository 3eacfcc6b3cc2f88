"""SIGKILL at random points during conversions; then check that no cache entry misleads a later Session.

Each trial converts a model the cache has not seen (its own seed) with ``facade convert`` in
its own process group, and kills it with SIGKILL at a random moment: the converter child
(pnnx, MNNConvert, onnx2tf), the facade parent, or both at once, in turn. A fresh Session on
the format's target then opens the same model, and the trial passes when

* the cache holds, for that model, either nothing or an intact entry (never a refusal: the
  model converts, so a cached failure would turn every later Session away), and
* the Session runs and agrees with ONNX Runtime on the CPU (relative max error <= 1e-4).

Stale hidden folders a killed parent left are counted (they are removed by the next build of
the same key and never read). Usage::

    .venv/bin/python benchmarks/kill_conversions.py --trials 20 --formats ncnn,mnn
    .venv/bin/python benchmarks/kill_conversions.py --trials 5 --formats tflite --json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from facade import childproc

TARGETS = {"ncnn": "ncnn:cpu", "mnn": "mnn:cpu", "tflite": "litert:cpu"}
MODES = ("child", "parent", "both")
CLI = "import sys; from facade.cli import main; sys.exit(main(sys.argv[1:]))"
TOLERANCE = 1e-4


@dataclass
class Trial:
    """One kill and what a later Session found."""

    fmt: str
    mode: str
    killed: str  # what was really killed: child, parent, both, or "none" (it had finished first)
    at_s: float
    entry: str  # absent, intact, refusal
    stale_tmp: int
    session: str  # correct, wrong, error: ...

    @property
    def ok(self) -> bool:
        return self.entry != "refusal" and self.session == "correct"


def conv_model(seed: int) -> onnx.ModelProto:
    """Conv 3->4 3x3 then Relu, weights from ``seed``: a model no earlier trial converted."""
    w = np.random.default_rng(seed).standard_normal((4, 3, 3, 3)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["y"])],
        "kill", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])], [numpy_helper.from_array(w, "w")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (Linux /proc)."""
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def start(path: Path, fmt: str, env: dict[str, str]) -> subprocess.Popen:
    return childproc.spawn([sys.executable, "-c", CLI, "convert", str(path), "--to", fmt], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def kill(pid: int) -> bool:
    try:
        os.kill(pid, signal.SIGKILL)
        return True
    except ProcessLookupError:
        return False


def clean_durations(path: Path, fmt: str, env: dict[str, str]) -> tuple[float, float]:
    """Seconds one uninterrupted conversion takes here, whole and its converter child's part
    (they bound the random kill points)."""
    began = time.perf_counter()
    proc = start(path, fmt, env)
    child_began = child_ended = None
    while proc.poll() is None:
        alive = bool(children(proc.pid))
        now = time.perf_counter()
        if alive and child_began is None:
            child_began = now
        if not alive and child_began is not None and child_ended is None:
            child_ended = now
        time.sleep(0.005)
    if proc.returncode != 0:
        raise SystemExit(f"a clean {fmt} conversion failed (exit {proc.returncode}); nothing to measure")
    whole = time.perf_counter() - began
    child = (child_ended or time.perf_counter()) - (child_began or began)
    return whole, child


def kill_at_random(proc: subprocess.Popen, mode: str, whole: float, child_s: float,
                   rng: random.Random) -> tuple[str, float]:
    """Kill ``proc`` (parent) at a random moment of its ``whole`` run, or its converter child (alone or
    with the parent) at a random moment of the child's ``child_s``; return what was killed and when."""
    began = time.perf_counter()
    if mode == "parent":
        time.sleep(rng.uniform(0, whole))
        return ("parent" if proc.poll() is None and kill(proc.pid) else "none"), time.perf_counter() - began
    child = None
    while proc.poll() is None and child is None:  # the child starts after facade's own preparation
        child = next(iter(children(proc.pid)), None)
        time.sleep(0.01)
    if child is None:
        return "none", time.perf_counter() - began
    time.sleep(rng.uniform(0, 0.7 * child_s))  # its clean lifetime varies: most kills should land
    hit = kill(child) and proc.poll() is None
    if mode == "both":
        hit = kill(proc.pid) and hit
    return (mode if hit else "none"), time.perf_counter() - began


def check(path: Path, fmt: str, reference: np.ndarray, feed: np.ndarray) -> tuple[str, str]:
    """(cache entry state, later Session outcome) for the model at ``path``."""
    import facade
    from facade.convert import BY_FORMAT, get_converter
    from facade.convert import cache as conv_cache
    from facade.metrics import relative_max_error

    model = facade.load_model(str(path))
    converter = get_converter(BY_FORMAT[fmt])
    artifact = conv_cache.lookup(model, converter, converter.options_for("fp32"))
    entry = "absent" if artifact is None else ("intact" if artifact.ok else "refusal")
    try:
        with facade.Session(str(path), target=TARGETS[fmt], allow_fallback=False) as sess:
            got = sess.run({"x": feed})["y"]
    except Exception as e:  # any failure of the later Session is what this script looks for
        return entry, f"error: {type(e).__name__}: {str(e)[:200]}"
    err = relative_max_error(got, reference)
    return entry, "correct" if err <= TOLERANCE else f"wrong: relative error {err:.3g}"


def run_trials(fmt: str, trials: int, seed: int) -> list[Trial]:
    import facade

    rng = random.Random(seed)
    work = Path(tempfile.mkdtemp(prefix=f"facade-kill-{fmt}-"))
    env = {**os.environ, "FACADE_CACHE_DIR": str(work / "cache")}
    os.environ["FACADE_CACHE_DIR"] = env["FACADE_CACHE_DIR"]  # check() reads the same cache
    clean = []
    for k in range(2):  # the first can be cold (a fresh venv's imports): the shorter bounds the kills
        warm = work / f"warm{k}.onnx"
        onnx.save(conv_model(seed + 7919 * k), warm)
        clean.append(clean_durations(warm, fmt, env))
    whole, child_s = min(d[0] for d in clean), min(d[1] for d in clean)
    feed = np.random.default_rng(0).standard_normal((1, 3, 8, 8)).astype(np.float32)
    results = []
    for i in range(trials):
        path = work / f"m{i}.onnx"
        onnx.save(conv_model(seed * 1000 + i + 1), path)
        with facade.Session(str(path), target="onnxruntime:cpu") as ref:
            reference = ref.run({"x": feed})["y"]
        proc = start(path, fmt, env)
        killed, at = kill_at_random(proc, MODES[i % len(MODES)], whole, child_s, rng)
        proc.wait()
        stale = len(list((work / "cache").rglob(".*.tmp")))
        entry, session = check(path, fmt, reference, feed)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # an orphaned converter of a killed parent
        results.append(Trial(fmt, MODES[i % len(MODES)], killed, round(at, 2), entry, stale, session))
    return results


def summary(results: list[Trial]) -> dict:
    return {"trials": len(results), "passed": sum(t.ok for t in results),
            "killed": dict(Counter(t.killed for t in results)), "entry": dict(Counter(t.entry for t in results)),
            "stale_tmp_seen": sum(t.stale_tmp > 0 for t in results),
            "failures": [asdict(t) for t in results if not t.ok]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--trials", type=int, default=20, help="kills per format (default 20)")
    p.add_argument("--formats", default="ncnn,mnn,tflite", help="comma-separated: ncnn, mnn, tflite")
    p.add_argument("--seed", type=int, default=1, help="seeds the kill moments and the models")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args(argv)
    report = {}
    for fmt in [f.strip() for f in args.formats.split(",") if f.strip()]:
        if fmt not in TARGETS:
            p.error(f"unknown format {fmt!r}; expected one of {', '.join(TARGETS)}")
        report[fmt] = summary(run_trials(fmt, args.trials, args.seed))
        if not args.json:
            s = report[fmt]
            print(f"{fmt}: {s['passed']}/{s['trials']} trials left nothing a later Session trusts wrongly; "
                  f"killed {s['killed']}; entry after {s['entry']}; stale hidden folders seen in "
                  f"{s['stale_tmp_seen']}")
            for f in s["failures"]:
                print(f"  FAIL {f}")
    if args.json:
        print(json.dumps(report, indent=1))
    return 0 if all(s["passed"] == s["trials"] for s in report.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
