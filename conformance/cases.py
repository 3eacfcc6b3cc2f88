"""Where conformance cases come from: user files, the built-in set, the onnx wheel's suites.

A :class:`Case` is built lazily (the light models are hundreds of MB once their
weights exist), so the runner holds one case in memory at a time. Inputs are
seeded (``facade.inputs.seeded_feeds``) unless the source ships its own; either
way their digest goes into the report, and the seed replays them.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import onnx

from facade.errors import InputError, ModelError, format_message
from facade.globs import glob_match
from facade.inputs import seeded_feeds
from facade.model import load_model, onnx_specs
from facade.zoo.conformance import DYNAMIC_SIZE, MODELS, non_finite, non_finite_feeds
from facade.zoo.light import light_model_dir
from facade.zoo.weights import materialize

SUITES = ("builtin", "light", "onnx-node")
#: The node suite checks operators one by one: meaningful for engines that execute ONNX
#: graphs as given. Engines that convert first would mostly report conversion gaps.
NODE_SUITE_ENGINES = ("onnxruntime", "native")


@dataclass
class Materialized:
    """A case ready to run: the model, its feeds, and (when the source ships them) expected outputs."""

    proto: onnx.ModelProto
    feeds: dict[str, np.ndarray]
    expected: dict[str, np.ndarray] | None = None
    sha256: str | None = None  # digest of the user's file, when the model came from one


@dataclass(frozen=True)
class Case:
    """One model with one set of inputs, from one suite."""

    id: str
    suite: str
    model: str
    build: Callable[[], Materialized]
    seed: int | None = None
    engines: tuple[str, ...] | None = None  # None: every target

    def takes(self, target: str) -> bool:
        return self.engines is None or target.partition(":")[0] in self.engines


def feeds_digest(feeds: Mapping[str, np.ndarray]) -> str:
    """sha256 over every input's name, dtype, shape and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(feeds):
        arr = np.ascontiguousarray(feeds[name])
        h.update(f"{name}|{arr.dtype.str}|{arr.shape}|".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def _seeded(proto: onnx.ModelProto, seed: int) -> Materialized:
    inputs, _ = onnx_specs(proto)
    return Materialized(proto, seeded_feeds(inputs, seed, dynamic=DYNAMIC_SIZE))


def builtin_cases(seed: int = 0) -> list[Case]:
    """The built-in small models (:mod:`facade.zoo.conformance`), and one fed NaN and inf (a target
    that flushes them to 0.0, like QNN's HTP, fails it by its non-finite mismatches)."""
    seeded = [Case(f"builtin/{name}", "builtin", name, partial(lambda b: _seeded(b(seed), seed), build), seed)
              for name, build in MODELS.items()]
    flushed = Case("builtin/non_finite", "builtin", "non_finite",
                   lambda: Materialized(non_finite(seed), non_finite_feeds(seed)), seed)
    return [*seeded, flushed]


def light_cases(seed: int = 0) -> list[Case]:
    """The onnx wheel's light models (weights stripped there), with seeded realistic weights."""
    def build(path: Path) -> Materialized:
        return _seeded(materialize(onnx.load(str(path)), seed), seed)

    return [Case(f"light/{p.stem.removeprefix('light_')}", "light", p.stem.removeprefix("light_"),
                 partial(build, p), seed)
            for p in sorted(light_model_dir().glob("*.onnx"))]


def _node_case(tc) -> Materialized:
    inputs, outputs = onnx_specs(tc.model)
    given, wanted = tc.data_sets[0]
    return Materialized(tc.model, {s.name: np.asarray(v) for s, v in zip(inputs, given, strict=True)},
                        {s.name: np.asarray(v) for s, v in zip(outputs, wanted, strict=True)})


def node_cases(skipped: dict[str, str] | None = None) -> list[Case]:
    """The onnx wheel's per-operator node suite, with its own inputs and expected outputs.

    Cases with sequence, optional or map values (not tensors) are left out; their
    ids and the reason go into ``skipped``.
    """
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the suite's generators overflow casts on purpose
        found = collect_testcases()
    cases = []
    for tc in found:
        given, wanted = tc.data_sets[0] if tc.data_sets else ([], [])
        try:
            inputs, outputs = onnx_specs(tc.model)
        except ModelError as e:
            (skipped if skipped is not None else {})[f"onnx-node/{tc.name}"] = str(e)
            continue
        values = [*given, *wanted]
        if len(inputs) != len(given) or len(outputs) != len(wanted) or not all(
                isinstance(v, np.ndarray) for v in values):
            (skipped if skipped is not None else {})[f"onnx-node/{tc.name}"] = "inputs or outputs are not tensors"
            continue
        cases.append(Case(f"onnx-node/{tc.name}", "onnx-node", tc.name, partial(_node_case, tc), None,
                          NODE_SUITE_ENGINES))
    return cases


def _read_inputs(path: Path, names: Sequence[str]) -> dict[str, np.ndarray] | None:
    """Inputs beside a model file: ``<stem>.npz`` keyed by input name, or ``<stem>.npy`` for one input."""
    npz, npy = path.with_suffix(".npz"), path.with_suffix(".npy")
    if npz.exists():
        with np.load(npz) as data:
            feeds = {k: data[k] for k in data.files}
        if set(feeds) != set(names):
            raise InputError(format_message("Input file does not name the model's inputs", where=str(npz),
                                            received=sorted(feeds), expected=list(names)))
        return feeds
    if npy.exists():
        if len(names) != 1:
            raise InputError(format_message("A .npy input file serves single-input models only", where=str(npy),
                                            received=f"{len(names)} inputs", expected=f"{path.stem}.npz"))
        return {names[0]: np.load(npy)}
    return None


def file_cases(paths: Sequence[str | Path], seed: int = 0) -> list[Case]:
    """User model files; inputs from ``<stem>.npz``/``<stem>.npy`` beside each, else seeded.

    Raises:
        ModelError: a path is missing or not an ONNX model.
    """
    cases = []
    for p in map(Path, paths):
        model = load_model(p)  # fail now, with the path, rather than inside a child
        if model.proto is None:
            raise ModelError(format_message("Conformance runs take ONNX models", where=str(p),
                                            received=model.format, expected="an .onnx file"))

        def build(model=model, path=p) -> Materialized:
            feeds = _read_inputs(path, [s.name for s in model.inputs])
            built = _seeded(model.proto, seed) if feeds is None else Materialized(model.proto, feeds)
            built.sha256 = model.sha256
            return built

        cases.append(Case(f"file/{p.stem}", "file", p.stem, build, seed))
    return cases


def collect(models: Sequence[str | Path] = (), suites: Sequence[str] = (), *, seed: int = 0,
            pattern: str | None = None, skipped: dict[str, str] | None = None) -> list[Case]:
    """Every case from the model files and suites asked for, optionally filtered by an id glob."""
    unknown = [s for s in suites if s not in SUITES]
    if unknown:
        raise InputError(format_message("Unknown suite", received=unknown[0], expected=SUITES))
    sources: dict[str, Callable[[], list[Case]]] = {
        "builtin": lambda: builtin_cases(seed), "light": lambda: light_cases(seed),
        "onnx-node": lambda: node_cases(skipped)}
    cases = file_cases(models, seed) + [c for s in suites for c in sources[s]()]
    return [c for c in cases if pattern is None or glob_match(pattern, c.id)]


def iter_materialized(cases: Sequence[Case]) -> Iterator[tuple[Case, Materialized | Exception]]:
    """Each case built in turn; a case that cannot be built yields its exception instead."""
    for case in cases:
        try:
            yield case, case.build()
        except Exception as e:  # a broken source model is recorded, the run goes on
            yield case, e
