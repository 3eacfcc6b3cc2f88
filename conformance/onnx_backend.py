"""ONNX's own backend test runner (``onnx.backend.test.BackendTest``) over any Facade target.

:func:`backend_for` makes an ``onnx.backend.base.Backend`` whose ``prepare`` opens a
:class:`facade.Session` forced onto one target with fallback off, so a case judges
that target and nothing else. The same runner judges ``native:cpu`` and
``onnxruntime:cpu``; :func:`ort_reference` runs ONNX Runtime's own backend
(``onnxruntime.backend``) for comparison, so a case ORT passes by itself and fails
through Facade is Facade's fault.

Every offline kind the onnx wheel ships runs: ``node`` (generated in process),
``simple``, ``pytorch-converted``, ``pytorch-operator`` and ``real``, whose nine
cases are the wheel's *light* models (``data/light``: real architectures with
constant weights; the runner reads them locally and writes its inputs under
``$ONNX_HOME``, nothing is downloaded). Cases are excluded only by the data files
(:data:`EXCLUSION_FILES`), one case per line with its reason.

    python -m facade.conformance.onnx_backend --target native:cpu --target onnxruntime:cpu
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile
import unittest
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx.backend.base import Backend, BackendRep

#: Runner categories (``OnnxBackend<Category>Test``) by the data kind they load.
KINDS = {"NodeModel": "node", "SimpleModel": "simple", "PyTorchConvertedModel": "pytorch-converted",
         "PyTorchOperatorModel": "pytorch-operator", "RealModel": "light"}

_NATIVE_DIR = Path(__file__).resolve().parent.parent / "native_fallback"
#: Data files of excluded cases (``case_name  # reason``): random draws, then declared scope.
EXCLUSION_FILES = (_NATIVE_DIR / "known_failures.txt", _NATIVE_DIR / "backend_out_of_scope.txt")


def read_case_list(path: Path) -> dict[str, str]:
    """Case name -> reason, from a data file with ``name  # reason`` per line (``#`` lines are comments)."""
    result = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, reason = line.partition("#")
            result[name.strip()] = reason.strip()
    return result


def exclusions(target: str) -> dict[str, str]:
    """Excluded case names (without the ``_cpu`` suffix) -> reason, for ``target``.

    The lists describe the native engine (its scope, and random draws no engine
    can reproduce); only the random draws also apply to other targets.
    """
    known, scope = (read_case_list(p) for p in EXCLUSION_FILES)
    return {**known, **scope} if target.startswith("native:") else known


class FacadeRep(BackendRep):
    """A prepared model: a Facade session whose ``run`` takes and returns values in graph order."""

    def __init__(self, session) -> None:
        self.session = session

    def run(self, inputs: Sequence[object] | object, **kwargs: object) -> tuple:
        """Feed ``inputs`` positionally (as the runner stores them) and return every output in order."""
        specs = self.session.inputs
        values = list(inputs) if isinstance(inputs, list | tuple) else [inputs]
        # Extra values (initializers some old models also list as inputs) are dropped; too few
        # leave an input unfed, which the session refuses by name.
        out = self.session.run({s.name: v for s, v in zip(specs, values, strict=False)})
        return tuple(out[s.name] for s in self.session.outputs)


class FacadeBackend(Backend):
    """``onnx.backend.base.Backend`` over one Facade target (see :func:`backend_for`)."""

    target = "native:cpu"

    @classmethod
    def prepare(cls, model: onnx.ModelProto, device: str = "CPU", **kwargs: object) -> FacadeRep:
        from facade.session import Session

        return FacadeRep(Session(model, target=cls.target, allow_fallback=False))

    @classmethod
    def run_model(cls, model: onnx.ModelProto, inputs: object, device: str = "CPU", **kwargs: object) -> tuple:
        return cls.prepare(model, device).run(inputs)

    @classmethod
    def supports_device(cls, device: str) -> bool:
        """CPU only: every Facade target is judged here by the device the runner calls CPU."""
        return device == "CPU"


@functools.cache
def backend_for(target: str) -> type[FacadeBackend]:
    """The backend class judging ``target`` (one class per target, cached)."""
    return type(f"FacadeBackend[{target}]", (FacadeBackend,), {"target": target})


@dataclass(frozen=True)
class Item:
    """One runnable case: its kind, name (``test_..._cpu``) and the unittest class holding it."""

    kind: str
    name: str
    holder: type[unittest.TestCase]

    @property
    def case(self) -> str:
        """The case name as data files list it (no device suffix)."""
        return self.name.removesuffix("_cpu")


def items(backend: type[Backend], module: str | None = None) -> list[Item]:
    """Every CPU case ONNX's runner generates for ``backend``, by kind."""
    import warnings

    from onnx.backend.test import BackendTest

    with warnings.catch_warnings():  # node-case generators overflow casts on purpose
        warnings.simplefilter("ignore")
        classes = BackendTest(backend, module).test_cases
    found = []
    for cls_name, holder in classes.items():
        kind = KINDS[cls_name.removeprefix("OnnxBackend").removesuffix("Test")]
        found.extend(Item(kind, n, holder) for n in sorted(vars(holder))
                     if n.startswith("test_") and n.endswith("_cpu"))
    return found


def run_item(item: Item) -> tuple[str, str]:
    """('pass' | 'fail' | 'skip', detail): the case run as ONNX's runner defines it."""
    result = unittest.TestResult()
    item.holder(item.name).run(result)
    if result.skipped:
        return "skip", result.skipped[0][1]
    problems = result.failures + result.errors
    if problems:
        return "fail", _exception_text(problems[0][1])
    return "pass", ""


def _exception_text(traceback: str) -> str:
    """The exception line of a formatted traceback and what follows it, on one line."""
    lines = traceback.strip().splitlines()
    start = max((k for k, line in enumerate(lines) if line[:1].strip() and ("Error" in line or "Exception" in line)),
                default=len(lines) - 1)
    return " ".join(" ".join(lines[start:]).split())[:300]


def ort_reference() -> type[Backend] | None:
    """ONNX Runtime's own backend (``onnxruntime.backend``) on its CPU provider only, if installed.

    Its ``prepare`` would pick every available provider (QNN's simulator among
    them); the comparison is with the CPU provider that ``onnxruntime:cpu`` uses.
    """
    try:
        import onnxruntime as ort
        from onnxruntime.backend.backend import OnnxRuntimeBackend
        from onnxruntime.backend.backend_rep import OnnxRuntimeBackendRep
    except ImportError:
        return None

    class OrtCpu(OnnxRuntimeBackend):
        @classmethod
        def prepare(cls, model, device="CPU", **kwargs):
            options = ort.SessionOptions()
            options.log_severity_level = 3
            data = model if isinstance(model, bytes) else model.SerializeToString()
            session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
            session.disable_fallback()
            return OnnxRuntimeBackendRep(session)

        @classmethod
        def supports_device(cls, device: str) -> bool:
            return device == "CPU"

    return OrtCpu


def tally(results: Iterable[tuple[str, str]]) -> dict[str, Counter]:
    """(kind, status) pairs -> per-kind counters."""
    table: dict[str, Counter] = {}
    for kind, status in results:
        table.setdefault(kind, Counter())[status] += 1
    return table


def _print_table(title: str, table: dict[str, Counter]) -> None:
    print(f"\n{title}")
    print(f"{'kind':<20}{'pass':>7}{'fail':>7}{'excluded':>10}{'total':>7}")
    for kind in [*KINDS.values(), "all"]:
        c = table.get(kind) if kind != "all" else sum(table.values(), Counter())
        if c:
            print(f"{kind:<20}{c['pass']:>7}{c['fail']:>7}{c['excluded']:>10}{sum(c.values()):>7}")


def main(argv: list[str] | None = None) -> int:
    """Per-kind pass/fail/excluded for each target; exit 1 when a non-excluded case fails."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", action="append", help="Facade target (repeatable; default native:cpu)")
    parser.add_argument("--kind", action="append", choices=sorted(KINDS.values()), help="only these kinds")
    parser.add_argument("-k", dest="pattern", default="", help="only cases whose name contains this")
    parser.add_argument("--failures", action="store_true", help="list every failing case with its detail")
    args = parser.parse_args(argv)
    os.environ.setdefault("ONNX_HOME", os.path.join(tempfile.gettempdir(), "facade-onnx-home"))
    np.seterr(all="ignore")
    failed = False
    for target in args.target or ["native:cpu"]:
        excluded = exclusions(target)
        ort_ok: dict[str, bool] = {}
        if target.startswith("onnxruntime:") and (ref := ort_reference()) is not None:
            own = [(i, "excluded" if i.case in excluded else run_item(i)[0]) for i in _selected(items(ref), args)]
            ort_ok = {i.name: status == "pass" for i, status in own}
            _print_table("onnxruntime.backend itself (CPU provider)",
                         tally((i.kind, "excluded" if s == "skip" else s) for i, s in own))
        results, failures = [], []
        for item in _selected(items(backend_for(target)), args):
            if item.case in excluded:
                results.append((item.kind, "excluded"))
                continue
            status, detail = run_item(item)
            status = "excluded" if status == "skip" else status
            results.append((item.kind, status))
            if status == "fail":
                failures.append((item, detail))
        _print_table(target, tally(results))
        if ort_ok:
            worse = [i.case for i, _ in failures if ort_ok.get(i.name)]
            print(f"failing through Facade while onnxruntime.backend passes: {len(worse)} {worse[:20]}")
        if args.failures:
            for item, detail in failures:
                print(f"  {item.kind:<18} {item.case:<60} {detail}")
        failed |= bool(failures)
    return int(failed)


def _selected(found: list[Item], args: argparse.Namespace) -> list[Item]:
    return [i for i in found if (not args.kind or i.kind in args.kind) and args.pattern in i.name]


if __name__ == "__main__":
    sys.exit(main())
