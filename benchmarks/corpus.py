"""The corpus x target table: does each outside-model corpus entry run right on each target?

    python benchmarks/corpus.py [--models NAME|FAMILY|TAG ...] [--targets T1,T2] [--markdown] [--json]
                                [--no-prepare] [--save RUN.json]
                                [--load RUN.json ... [--before NO_PREPARE.json ...]]

Each cell is ``ok (err 3e-06)`` (within 1e-4 of the framework's oracle; a quantized model
within the int8 class, ``ok (err 6e-03, at int8)``), ``WRONG (err
...)``, ``refused: <reason>`` (facade said why it cannot: unsupported operator,
failed conversion check, ...), or ``error: <reason>`` (an engine raised something
that is not a facade refusal, or the child process crashed or hung). Every target
runs in its own child process (``facade.conformance.worker``, the conformance
runner's column child) through ``facade.Session(path, target=T, allow_fallback=False)``,
so a converter crash costs one cell, never the table.

``--no-prepare`` sets ``FACADE_PREPARE=0`` for the children (the model-preparation
step before converters switched off; /work/notes/prepare.md), so two runs show
conversion before and after preparation. Conversions are cached in facade's cache
directory as usual, keyed by that switch too.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the corpus lives in tests/

from facade import errors
from facade.cache import atomic_write
from facade.conformance.child import ChildFailure, ColumnProcess
from facade.convert.verify import TOLERANCE
from tests.corpus import registry, store
from tests.corpus.compare import agreement

#: Targets measured by default: every one that can run on a Linux x86-64 machine like this one.
DEFAULT_TARGETS = ("onnxruntime:cpu", "native:cpu", "native:opencl", "ncnn:cpu", "mnn:cpu", "litert:cpu",
                   "ncnn:vulkan", "onnxruntime:qnn-htp")
#: A case's limit: loading includes the conversion (onnx2tf takes tens of seconds on two cores).
CASE_TIMEOUT_S = 600.0
REASON_CHARS = 140
PREPARE_ENV = "FACADE_PREPARE"
#: Corpus tags of models quantized themselves: judged at the int8 class on every target, as a
#: Session's verification judges them (facade.convert.verify.judged_precision says why).
QUANTIZED_TAGS = frozenset({"qdq", "int8-dynamic"})


@dataclass(frozen=True)
class Cell:
    """One (model, target) outcome: ``status`` is ok, WRONG, refused, error or unavailable."""

    model: str
    target: str
    status: str
    err: float | None = None
    reason: str | None = None
    judged: str = "fp32"  # the precision class the cell was judged at (int8 for a quantized model)

    def __str__(self) -> str:
        if self.status in ("ok", "WRONG"):
            at = "" if self.judged == "fp32" else f", at {self.judged}"
            return f"{self.status} (err {self.err:.0e}{at})" if self.err is not None else self.status
        return f"{self.status}: {self.reason}"


#: Facade exceptions that are a target declining a model with its reason: an InputError too, since
#: the corpus feeds fit the ONNX model (a target converted with static shapes declines other sizes
#: by name). Any other exception, a ModelError included (every corpus model is valid: ONNX Runtime
#: runs it), is an engine error.
REFUSALS = (errors.TargetError, errors.UnsupportedModelError, errors.ConversionError, errors.InputError)


def is_refusal(error: str) -> bool:
    """Whether a worker's ``"Type: message"`` error is a refusal: the worker reports a
    ConversionError as an error, but for this table a conversion that says why it failed refused."""
    cls = getattr(errors, error.partition(":")[0].strip(), None)
    return isinstance(cls, type) and issubclass(cls, REFUSALS)


def short_reason(text: str, limit: int = REASON_CHARS) -> str:
    """The cause of an error: its first line up to ``Received: ...``, after the last ``where |``
    prefix (the router's and the converter's wrappers) but for the operator of a failing node,
    without the exception type, cut at a word boundary."""
    lines = [ln.strip() for ln in str(text).strip().splitlines() if ln.strip()]
    line = lines[0] if lines else "no reason given"
    kind, sep, rest = line.partition(": ")
    if sep and kind.isidentifier() and kind[:1].isupper():  # the worker's "ConversionError: "
        line = rest
    parts = line.split(". Received:")[0].split(" | ")
    line = parts[-1].rstrip(". ")
    node = re.fullmatch(r"node '.*' \((\w+)\)", parts[-2]) if len(parts) > 1 else None
    if node:  # the operator is the cause's subject; node names are long, the README table is not
        line = f"{node.group(1)}: {line}"
    if len(line) <= limit:
        return line
    return line[:limit].rsplit(" ", 1)[0].rstrip(",;:") + " …"


def judge(model: store.CorpusModel, target: str, reply: dict | ChildFailure, out: Path) -> Cell:
    """The cell for one worker reply."""
    if isinstance(reply, ChildFailure):
        return Cell(model.name, target, "error", reason=short_reason(reply.error))
    if reply["status"] == "unavailable" or (reply["status"] == "error" and is_refusal(reply.get("error", ""))):
        return Cell(model.name, target, "refused", reason=short_reason(reply.get("error", "")))
    if reply["status"] != "ok":
        return Cell(model.name, target, "error", reason=short_reason(reply.get("error", "")))
    with np.load(out, allow_pickle=True) as data:
        actual = {n: data[f"o{k}"] for k, n in enumerate(reply["outputs"])}
    judged = "int8" if QUANTIZED_TAGS & set(model.entry.tags) else "fp32"
    verdict = agreement(actual, model.oracle, tol=TOLERANCE[judged])
    if verdict:
        return Cell(model.name, target, "ok", err=verdict.worst, judged=judged)
    finite = verdict.worst if np.isfinite(verdict.worst) else None
    return Cell(model.name, target, "WRONG", err=finite, reason=short_reason(str(verdict)), judged=judged)


def run_column(target: str, models: list[store.CorpusModel], work: Path, timeout: float,
               done: Callable[[Cell], None] = lambda cell: None) -> list[Cell]:
    """Every model on ``target``, in one child process (restarted after a crash); ``done`` is
    called with each cell as it is measured."""
    child = ColumnProcess(target, "fp32", work / f"{target.replace(':', '_')}.log")
    hello = child.start()
    if isinstance(hello, ChildFailure) or not hello["available"]:
        why = hello.error if isinstance(hello, ChildFailure) else hello["reason"]
        child.stop()
        cells = [Cell(m.name, target, "unavailable", reason=short_reason(why)) for m in models]
        for cell in cells:
            done(cell)
        return cells
    cells = []
    try:
        for model in models:
            feeds, out = work / f"{model.name}.npz", work / "out.npz"
            names = list(model.feeds)
            np.savez(feeds, **{f"i{k}": model.feeds[n] for k, n in enumerate(names)})
            out.unlink(missing_ok=True)
            start = time.perf_counter()
            reply = child.ask({"case": model.name, "model": str(model.path), "feeds": str(feeds), "inputs": names,
                               "out": str(out)}, timeout)
            cell = judge(model, target, reply, out)
            print(f"  {target:20s} {model.name:24s} {cell}  [{time.perf_counter() - start:.1f} s]", file=sys.stderr)
            cells.append(cell)
            done(cell)
    finally:
        child.stop()
    return cells


def table(cells: list[Cell], models: list[str], targets: list[str], markdown: bool) -> str:
    """The matrix as aligned text, or as a Markdown table whose refusals and errors point to a
    numbered list of reasons under it (a README table stays readable); ok counts in the last row."""
    notes: dict[str, int] = {}

    def text(cell: Cell) -> str:
        if not markdown or cell.reason is None:
            return str(cell)
        number = notes.setdefault(cell.reason, len(notes) + 1)
        err = f" (err {cell.err:.0e})" if cell.err is not None else ""
        return f"{cell.status}{err} [{number}]"

    by = {(c.model, c.target): text(c) for c in cells}
    oks = [f"{sum(c.status == 'ok' for c in cells if c.target == t)}/{len(models)} ok" for t in targets]
    rows = [[m, *(by.get((m, t), "") for t in targets)] for m in models] + [["total", *oks]]
    header = ["model", *targets]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines + [""] + [f"{n}. {reason}" for reason, n in notes.items()])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows])


def prepare_summary(before: list[Cell], after: list[Cell]) -> str:
    """Per target, as Markdown: ok counts without preparation and with it, and which models changed
    (over the (model, target) pairs both runs measured)."""
    was = {(c.model, c.target): c.status for c in before}
    now = {(c.model, c.target): c.status for c in after}
    both = sorted(set(was) & set(now))
    lines = ["| target | ok without preparation | ok with preparation | now ok | no longer ok |", "|---|---|---|---|---|"]
    for target in dict.fromkeys(c.target for c in after if (c.model, c.target) in was):
        pairs = [(m, was[m, t], now[m, t]) for m, t in both if t == target]
        gained = [m for m, b, a in pairs if a == "ok" != b]
        lost = [m for m, b, a in pairs if b == "ok" != a]
        lines.append(f"| {target} | {sum(b == 'ok' for _, b, _ in pairs)}/{len(pairs)} | "
                     f"{sum(a == 'ok' for _, _, a in pairs)}/{len(pairs)} | {', '.join(gained) or '-'} | "
                     f"{', '.join(lost) or '-'} |")
    return "\n".join(lines)


def _run_json(cells: list[Cell], prepare: bool) -> dict:
    """What ``--json`` prints and ``--save`` writes."""
    return {"prepare": prepare, "cells": [asdict(c) for c in cells]}


def _load(paths: list[Path]) -> list[Cell]:
    """Cells of saved runs, merged: a later file's cell for the same model and target wins."""
    return list({(c["model"], c["target"]): Cell(**c) for f in paths for c in json.loads(f.read_text())["cells"]}
                .values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", help="corpus names, families or tags (default: all)")
    parser.add_argument("--targets", default=",".join(DEFAULT_TARGETS), help="comma-separated targets")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table (for the README)")
    parser.add_argument("--json", action="store_true", help="print the cells as JSON instead of a table")
    parser.add_argument("--no-prepare", action="store_true",
                        help=f"switch model preparation off before converters ({PREPARE_ENV}=0)")
    parser.add_argument("--timeout", type=float, default=CASE_TIMEOUT_S, help="seconds per (model, target)")
    parser.add_argument("--load", type=Path, nargs="+",
                        help="print the table of saved --json runs instead of running (a later file's cell "
                             "for the same model and target wins)")
    parser.add_argument("--save", type=Path,
                        help="write the cells measured so far to this JSON file after every cell (an "
                             "interrupted run keeps what it measured; --load reads it)")
    parser.add_argument("--before", type=Path, nargs="+",
                        help="with --load: per target, ok counts of these --no-prepare runs against the loaded ones")
    args = parser.parse_args(argv)
    if args.before:
        print(prepare_summary(_load(args.before), _load(args.load or [])))
        return 0
    if args.load:
        cells = _load(args.load)
        order = {name: k for k, name in enumerate(registry.names())}
        models = sorted({c.model for c in cells}, key=lambda m: order.get(m, len(order)))
        targets = list(dict.fromkeys(c.target for c in cells))
        if args.json:
            print(json.dumps({"cells": [asdict(c) for c in cells]}, indent=1))
        else:
            print(table(cells, models, targets, args.markdown))
        return 0
    if args.no_prepare:
        os.environ[PREPARE_ENV] = "0"  # read by the children, which inherit this environment
    entries = registry.select(args.models)
    failed = store.ensure(entries)
    for name, why in failed.items():
        print(f"corpus model {name} did not build: {why}", file=sys.stderr)
    models = [store.load(e) for e in entries if e.name not in failed]
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    started = time.perf_counter()
    measured: list[Cell] = []

    def done(cell: Cell) -> None:
        measured.append(cell)
        if args.save:
            atomic_write(args.save, json.dumps(_run_json(measured, not args.no_prepare), indent=1).encode(),
                         shared=True)

    with tempfile.TemporaryDirectory(prefix="facade-corpus-") as tmp:
        cells = [c for t in targets for c in run_column(t, models, Path(tmp), args.timeout, done)]
    print(f"{len(cells)} cells in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    if args.json:
        print(json.dumps(_run_json(cells, not args.no_prepare), indent=1))
    else:
        print(table(cells, [m.name for m in models], targets, args.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
