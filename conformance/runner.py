"""The model x (target, precision) matrix runner.

Cases are built one at a time; the oracle runs once per case in this process; each
column's engine runs in its own child (:mod:`facade.conformance.child`), so a crash
or hang becomes an ``error`` verdict with the signal or timeout, and the run goes on.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facade.adapters.catalogue import all_targets
from facade.conformance.cases import Case, Materialized, feeds_digest, iter_materialized
from facade.conformance.child import ChildFailure, ColumnProcess
from facade.conformance.oracle import oracle_outputs
from facade.conformance.report import Report, new_run
from facade.conformance.verdicts import ERROR, UNAVAILABLE, CaseResult, judge
from facade.devices import devices
from facade.errors import FacadeError, InputError, format_message
from facade.progress import Progress
from facade.router import target_availability
from facade.tolerances import CLASSES, Tolerances

DEFAULT_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Column:
    """One target at one requested precision: ``ncnn:cpu@fp16``."""

    target: str
    precision: str = "fp32"

    @property
    def key(self) -> str:
        return f"{self.target}@{self.precision}"


def parse_columns(spec: str | Sequence[str], precision: str = "fp32") -> list[Column]:
    """``"all"`` (every target the registry offers) or ``"T1,T2@fp16"`` into columns.

    Raises:
        InputError: a precision that is not fp32, fp16 or int8, or a name without ``engine:unit``.
    """
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    columns = []
    for item in (t.strip() for t in items):
        if not item:
            continue
        name, _, prec = item.partition("@")
        prec = prec or precision
        if prec not in CLASSES:
            raise InputError(format_message("Unknown precision", where=item, received=prec, expected=CLASSES))
        if name == "all":
            columns += [Column(t, prec) for t in all_targets()]
        elif ":" not in name:
            raise InputError(format_message("A target is written engine:unit", received=name,
                                            expected="e.g. onnxruntime:cpu or ncnn:cpu@fp16"))
        else:
            columns.append(Column(name, prec))
    return list(dict.fromkeys(columns))


def _availability(target: str) -> tuple[bool | None, str]:
    """Availability answered here, without importing engines; None when only a child can tell."""
    try:
        avail, _, note = target_availability(target, devices())
    except FacadeError:
        return None, "not known to this process"
    return avail.ok, avail.reason + (f"; {note}" if note else "")


class Runner:
    """Runs cases across columns and collects one report run."""

    def __init__(self, columns: Sequence[Column], *, tolerances: Tolerances | None = None,
                 timeout: float = DEFAULT_TIMEOUT_S, progress: bool = True, fingerprint: str | None = None,
                 seed: int = 0, calibration: str | None = None):
        self.columns = list(columns)
        self.tolerances = tolerances or Tolerances()
        self.timeout = timeout
        self.progress = progress
        self.fingerprint = fingerprint
        self.seed = seed
        self.calibration = calibration  # samples for @int8 columns: each engine's own int8 artifact, gated

    def run(self, cases: Sequence[Case], skipped: dict[str, str] | None = None) -> Report:
        started = time.perf_counter()
        run = new_run(self.fingerprint, self.seed, self.tolerances)
        run["skipped"] = [{"id": k, "reason": v} for k, v in (skipped or {}).items()]
        with tempfile.TemporaryDirectory(prefix="facade-conformance-") as tmp:
            work = Path(tmp)
            children = self._open_columns(run, work)
            live = [col for col, child in children.items() if child is not None]
            bar = Progress(sum(1 for c in cases for col in live if c.takes(col.target)), enabled=self.progress)
            try:
                for case, built in iter_materialized(cases):
                    self._run_case(run, case, built, children, work, bar)
            finally:
                for child in children.values():
                    if child is not None:
                        child.stop()
                bar.close()
        run["wall_s"] = time.perf_counter() - started
        return Report({"runs": [run]})

    def _open_columns(self, run: dict, work: Path) -> dict[Column, ColumnProcess | None]:
        children: dict[Column, ColumnProcess | None] = {}
        for col in self.columns:
            ok, reason = _availability(col.target)
            child = None
            if ok is not False:
                child = ColumnProcess(col.target, col.precision, work / f"{col.key.replace(':', '_')}.log")
                hello = child.start()
                if isinstance(hello, ChildFailure):
                    ok, reason = None, hello.error
                else:
                    ok, reason = hello["available"], hello["reason"]
                if not ok:
                    child.stop()
                    child = None
            run["columns"].append({"target": col.target, "precision": col.precision, "available": bool(ok),
                                   "reason": reason})
            children[col] = child
        return children

    def _run_case(self, run: dict, case: Case, built: Materialized | Exception,
                  children: dict[Column, ColumnProcess | None], work: Path, bar: Progress) -> None:
        if isinstance(built, Exception):
            run["skipped"].append({"id": case.id, "reason": f"case could not be built: {built}"})
            return
        model_bytes = built.proto.SerializeToString()
        entry = {"id": case.id, "suite": case.suite, "model": case.model,
                 "model_sha256": built.sha256 or hashlib.sha256(model_bytes).hexdigest(),
                 "inputs_sha256": feeds_digest(built.feeds), "seed": case.seed,
                 "inputs": {k: {"shape": list(v.shape), "dtype": str(v.dtype)} for k, v in built.feeds.items()}}
        t0 = time.perf_counter()
        try:
            if built.expected is not None:
                expected, entry["oracle"] = built.expected, "shipped with the case"
            else:
                expected, entry["oracle"] = oracle_outputs(built.proto, built.feeds)
        except Exception as e:  # no right answer: the case says nothing about the targets
            run["skipped"].append({"id": case.id, "reason": f"oracle failed: {type(e).__name__}: {e}"})
            return
        entry["oracle_ms"] = (time.perf_counter() - t0) * 1e3
        run["cases"].append(entry)
        model_path, feeds_path = work / "case.onnx", work / "case.npz"
        model_path.write_bytes(model_bytes)
        names = list(built.feeds)
        np.savez(feeds_path, **{f"i{k}": built.feeds[n] for k, n in enumerate(names)})
        for col, child in children.items():
            if child is None or not case.takes(col.target):
                continue  # an unavailable column says so once, in run["columns"]
            result = self._run_column(case, col, child, expected, model_path, feeds_path, names, work)
            run["results"].append(result.to_dict())
            bar.step(f"{col.key} {case.id}: {result.verdict}")

    def _run_column(self, case: Case, col: Column, child: ColumnProcess, expected: dict,
                    model_path: Path, feeds_path: Path, names: list[str], work: Path) -> CaseResult:
        out = work / "outputs.npz"
        out.unlink(missing_ok=True)
        reply = child.ask({"case": case.id, "model": str(model_path), "feeds": str(feeds_path), "inputs": names,
                           "out": str(out), "calibration": self.calibration if col.precision == "int8" else None},
                          self.timeout)
        if isinstance(reply, ChildFailure):
            return CaseResult(case.id, col.target, col.precision, ERROR, error=reply.error, signal=reply.signal)
        timing = {k: reply.get(k) for k in ("load_ms", "run_ms", "engine_precision")}
        if reply["status"] != "ok":
            verdict = UNAVAILABLE if reply["status"] == "unavailable" else ERROR
            return CaseResult(case.id, col.target, col.precision, verdict, error=reply.get("error"), **timing)
        with np.load(out, allow_pickle=True) as data:  # string outputs are object arrays; we wrote the file
            actual = {n: data[f"o{k}"] for k, n in enumerate(reply["outputs"])}
        return judge(case.id, col.target, col.precision, actual, expected,
                     lambda cls: self.tolerances.bound(case.model, col.target, cls), **timing)
