"""Model intake: the one place that shapes an ONNX model into what a converter accepts.

Users bring models saved by the current onnx package (IR version 14, opset 28),
by torch's exporters (shape arithmetic left in the graph, dynamic axes) and by
ONNX Runtime's tools. Converters lag behind: pnnx bundles an onnxruntime that
stops at IR version 13 and official opset 26 and dies with signal 11 past them;
ncnn's own docs run a simplifier first; onnx2tf mis-converts a per-channel
scale built by Unsqueeze then Mul that a folded constant converts exactly.

Every converter gets its model through :func:`prepare`, which runs small steps
in a fixed order (opset range, static shapes, simplification, constant folding,
shape inference, IR version) bounded by the converter's :class:`Limits`. Each
step is checked numerically: ONNX Runtime runs the model before and after on
seeded inputs, and a step whose outputs differ beyond the fp32 conversion
tolerance (the one :mod:`facade.convert.verify` applies to artifacts) is
dropped, with the reason. Every step taken or dropped is recorded as a
:class:`Step`, kept in the artifact's manifest and shown by ``Session.explain()``.

``FACADE_PREPARE=0`` turns preparation off (see :func:`enabled`): the converter
then gets what it got before preparation existed (opset 13 or newer, static
shapes where needed, onnx2tf's constant folding), which is how the corpus
benchmark measures what preparation adds. The switch and every limit are part
of the artifact's cache key (:func:`stamp`).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import onnx
import onnx.shape_inference
import onnx.version_converter

from facade.errors import ConversionError, format_message

ENV = "FACADE_PREPARE"
_ON, _OFF = ("", "1", "on", "true"), ("0", "off", "false")
# Bumped when a step changes what it does to a model (part of the cache key).
VERSION = 1
SIMPLIFIER = "onnxslim"  # measured against onnx-simplifier: see /work/notes/prepare.md and SIMPLIFIER_WHY
SIMPLIFIER_WHY = "onnxslim: pure Python, no network access, keeps batch > 1 and dynamic axes it cannot fix"
STATIC_FILL = 1  # dynamic dims (batch) are fixed to this for converters that need static shapes
# Converters are given models at this opset at least. Opset 13 changed Softmax, LogSoftmax
# and Hardmax from "flatten from axis 1" to "along axis -1"; pnnx and MNN's converter both
# read an opset-9 Softmax without an axis attribute (SqueezeNet's) with the new default and
# normalise a [1, 1000, 1, 1] tensor over its last, unit axis (every output 1.0).
MIN_OPSET = 13
SEED = 0


def enabled() -> bool:
    """Whether preparation runs: ``FACADE_PREPARE`` unset, ``1``, ``on`` or ``true`` (the default)
    turns it on; ``0``, ``off`` or ``false`` turns it off.

    Raises:
        ConversionError: any other value (a typo must not silently pick one).
    """
    value = os.environ.get(ENV, "").strip().lower()
    if value in _ON:
        return True
    if value in _OFF:
        return False
    raise ConversionError(format_message(f"Invalid {ENV}", received=repr(os.environ[ENV]),
                                         expected="1/on/true (prepare models, the default) or 0/off/false"))


@dataclass(frozen=True)
class Limits:
    """What one converter accepts; each :class:`~facade.convert.base.Converter` states its own."""

    max_ir_version: int | None = None  # None: the tool reads any IR version
    min_opset: int = MIN_OPSET
    max_opset: int | None = None  # None: the tool reads any opset
    static_shapes: bool = True
    fold_with_ort: bool = False  # ONNX Runtime's basic optimizations after simplification (onnx2tf)
    lower: tuple[str, ...] = ()  # operators the tool lacks, rewritten into ones it has (see LOWERINGS)


@dataclass(frozen=True)
class Step:
    """One preparation step: ``applied`` (kept) or dropped, and what it did or why it was dropped."""

    name: str
    applied: bool
    detail: str

    def __str__(self) -> str:
        return f"{self.name}: {self.detail}" if self.applied else f"{self.name} dropped: {self.detail}"


@dataclass
class Prepared:
    """The model a converter is given, and how it got there."""

    proto: onnx.ModelProto
    steps: list[Step] = field(default_factory=list)
    enabled: bool = True

    def record(self) -> list[dict]:
        """The steps as JSON-ready data (stored in the artifact's manifest)."""
        return [asdict(s) for s in self.steps]


def describe(record: list[Mapping] | None, enabled_: bool = True) -> str:
    """One line for ``explain()``: ``prepared: opset: 28 -> 26; ir_version: 14 -> 13; ...``."""
    if not enabled_:
        return f"prepared: off ({ENV}=0)"
    if not record:
        return "prepared: nothing to change"
    return "prepared: " + "; ".join(str(Step(**s)) for s in record)


def _simplifier_version() -> str | None:
    try:
        return importlib.metadata.version(SIMPLIFIER)
    except importlib.metadata.PackageNotFoundError:
        return None


def stamp(limits: Limits) -> str:
    """What the cache key must know of preparation: on/off, this module's version, the simplifier, the limits."""
    if not enabled():
        return "off"
    return json.dumps({"version": VERSION, SIMPLIFIER: _simplifier_version(), **asdict(limits)}, sort_keys=True)


# ---- the steps: each returns the new model and what it did, or (None, why not) when it has nothing to do ----

def _opset(proto: onnx.ModelProto) -> int:
    return next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), MIN_OPSET)


def upgraded(proto: onnx.ModelProto, opset: int = MIN_OPSET) -> onnx.ModelProto:
    """``proto`` rewritten to ``opset`` by ONNX's own version converter when older (unchanged when the
    converter cannot: then the tool gets the original, and verification judges its artifact)."""
    if _opset(proto) >= opset:
        return proto
    try:
        return onnx.version_converter.convert_version(proto, opset)
    except Exception:  # the version converter lacks adapters for some operators
        return proto


def static_model(proto: onnx.ModelProto, fill: int = STATIC_FILL) -> onnx.ModelProto:
    """A copy of ``proto`` whose graph inputs have every dynamic dim set to ``fill``, shapes re-inferred.
    Static dims (a batch of 2) are kept as they are."""
    static = onnx.ModelProto()
    static.CopyFrom(proto)
    initializers = {t.name for t in static.graph.initializer}
    for vi in static.graph.input:
        if vi.name in initializers:
            continue
        for dim in vi.type.tensor_type.shape.dim:
            if not dim.HasField("dim_value") or dim.dim_value <= 0:
                dim.Clear()
                dim.dim_value = fill
    del static.graph.value_info[:]
    for vi in static.graph.output:
        vi.type.tensor_type.ClearField("shape")
    try:
        return onnx.shape_inference.infer_shapes(static, data_prop=True)
    except Exception:  # inference is a convenience for the IO contract; the converter decides
        return static


def constant_folded(proto: onnx.ModelProto) -> onnx.ModelProto:
    """``proto`` after ONNX Runtime's basic graph optimizations (constant folding, standard ops only)."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="facade-fold-") as tmp:
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        so.optimized_model_filepath = str(Path(tmp) / "folded.onnx")
        so.log_severity_level = 3
        ort.InferenceSession(proto.SerializeToString(), sess_options=so, providers=["CPUExecutionProvider"])
        return onnx.load(so.optimized_model_filepath)


def _step_opset(proto: onnx.ModelProto, limits: Limits) -> tuple[onnx.ModelProto | None, str]:
    current = _opset(proto)
    want = max(current, limits.min_opset)
    if limits.max_opset is not None:
        want = min(want, limits.max_opset)
    if want == current:
        return None, f"opset {current} is within the converter's range"
    return onnx.version_converter.convert_version(proto, want), f"{current} -> {want}"


def _dynamic_dims(proto: onnx.ModelProto) -> int:
    initializers = {t.name for t in proto.graph.initializer}
    return sum(1 for vi in proto.graph.input if vi.name not in initializers
               for d in vi.type.tensor_type.shape.dim if not d.HasField("dim_value") or d.dim_value <= 0)


def _step_static(proto: onnx.ModelProto, limits: Limits) -> tuple[onnx.ModelProto | None, str]:
    if not limits.static_shapes:
        return None, "the converter takes dynamic shapes"
    dynamic = _dynamic_dims(proto)
    if not dynamic:
        return None, "input shapes already static"
    return static_model(proto), f"{dynamic} dynamic input dim(s) fixed to {STATIC_FILL}, static ones kept"


def _step_simplify(proto: onnx.ModelProto, limits: Limits) -> tuple[onnx.ModelProto | None, str]:
    version = _simplifier_version()
    if version is None:
        return None, f"{SIMPLIFIER} is not installed (pip install onnxslim, or the ncnn, mnn or tflite-convert extra)"
    before = len(proto.graph.node)
    if SIMPLIFIER == "onnxsim":  # the alternative measured against onnxslim (see SIMPLIFIER_WHY)
        import onnxsim

        slim, _ = onnxsim.simplify(proto)
    else:
        import onnxslim

        slim = onnxslim.slim(proto)
    if slim is None:  # onnxslim returns None when it fails, after logging why
        raise RuntimeError(f"{SIMPLIFIER} could not simplify the model")
    return slim, f"{SIMPLIFIER} {version}: constant folding and graph simplification, {before} -> {len(slim.graph.node)} nodes"


def _step_fold(proto: onnx.ModelProto, limits: Limits) -> tuple[onnx.ModelProto | None, str]:
    if not limits.fold_with_ort:
        return None, "not needed by this converter"
    before = len(proto.graph.node)
    folded = constant_folded(proto)
    return folded, f"ONNX Runtime basic optimizations, {before} -> {len(folded.graph.node)} nodes"


def _isnan(node: onnx.NodeProto) -> list[onnx.NodeProto]:
    """IsNaN(x) as Not(Equal(x, x)): NaN is the one value unequal to itself (IEEE 754), so the two agree exactly."""
    eq = f"{node.output[0]}__facade_eq"
    return [onnx.helper.make_node("Equal", [node.input[0], node.input[0]], [eq], name=f"{node.name}/Equal"),
            onnx.helper.make_node("Not", [eq], list(node.output), name=node.name)]


def _gelu(node: onnx.NodeProto) -> list[onnx.NodeProto]:
    """Gelu (opset 20, ``approximate="none"``) as its own definition, x * 0.5 * (1 + erf(x / sqrt 2));
    a ``tanh`` Gelu is left alone (returned unchanged)."""
    if any(a.name == "approximate" and a.s not in (b"", b"none") for a in node.attribute):
        return [node]
    x, y, base = node.input[0], node.output[0], f"{node.output[0]}__facade_gelu"

    def const(name: str, value: float) -> onnx.NodeProto:
        return onnx.helper.make_node("Constant", [], [f"{base}_{name}"], name=f"{node.name}/{name}",
                                     value=onnx.helper.make_tensor(f"{base}_{name}", onnx.TensorProto.FLOAT, [],
                                                                   [value]))

    # Constants in float32: on an fp16/bf16 Gelu the result does not type-check, and its check drops the step.
    return [const("sqrt2", float(np.sqrt(2.0))), const("one", 1.0), const("half", 0.5),
            onnx.helper.make_node("Div", [x, f"{base}_sqrt2"], [f"{base}_d"], name=f"{node.name}/Div"),
            onnx.helper.make_node("Erf", [f"{base}_d"], [f"{base}_e"], name=f"{node.name}/Erf"),
            onnx.helper.make_node("Add", [f"{base}_e", f"{base}_one"], [f"{base}_a"], name=f"{node.name}/Add"),
            onnx.helper.make_node("Mul", [x, f"{base}_a"], [f"{base}_m"], name=f"{node.name}/Mul"),
            onnx.helper.make_node("Mul", [f"{base}_m", f"{base}_half"], [y], name=node.name)]


# Exact rewrites of an operator into others, for converters that lack it (a Limits.lower entry).
# MNN 3.6's converter lacks IsNaN, which transformers' attention-mask code emits in BERT-style exports,
# and turns an opset-20 Gelu into its tanh approximation (ConvNeXt from the dynamo exporter off by 1.5e-4),
# while an Erf GELU converted with --useGeluApproximation 0 stays exact.
LOWERINGS: Mapping[str, Callable[[onnx.NodeProto], list[onnx.NodeProto]]] = {"IsNaN": _isnan, "Gelu": _gelu}


def _step_lower(proto: onnx.ModelProto, limits: Limits) -> tuple[onnx.ModelProto | None, str]:
    wanted = {op for op in limits.lower if op in LOWERINGS}
    out = onnx.ModelProto()
    out.CopyFrom(proto)
    nodes: list[onnx.NodeProto] = []
    rewritten: dict[str, int] = {}
    for node in out.graph.node:
        new = LOWERINGS[node.op_type](node) if node.op_type in wanted and node.domain in ("", "ai.onnx") else [node]
        if new != [node]:
            rewritten[node.op_type] = rewritten.get(node.op_type, 0) + 1
        nodes += new
    if not rewritten:
        return None, "no operator the converter lacks"
    del out.graph.node[:]
    out.graph.node.extend(nodes)
    return out, ", ".join(f"{n} {op} rewritten" for op, n in rewritten.items())


def _step_shapes(proto: onnx.ModelProto, limits: Limits) -> tuple[onnx.ModelProto | None, str]:
    inferred = onnx.shape_inference.infer_shapes(proto, data_prop=True)
    added = len(inferred.graph.value_info) - len(proto.graph.value_info)
    if added <= 0:
        return None, "every tensor already has its shape"
    return inferred, f"{added} intermediate tensor shape(s) inferred"


def _step_ir(proto: onnx.ModelProto, limits: Limits) -> tuple[onnx.ModelProto | None, str]:
    if limits.max_ir_version is None or proto.ir_version <= limits.max_ir_version:
        return None, "IR version within the converter's range"
    lowered = onnx.ModelProto()
    lowered.CopyFrom(proto)
    lowered.ir_version = limits.max_ir_version
    onnx.checker.check_model(lowered)  # refuses the lower version when the model uses a newer IR's types
    return lowered, f"{proto.ir_version} -> {limits.max_ir_version}"


# In order. The IR version comes last: the simplifier and ONNX Runtime re-stamp the models they write.
STEPS: tuple[tuple[str, Callable[[onnx.ModelProto, Limits], tuple[onnx.ModelProto | None, str]]], ...] = (
    ("opset", _step_opset),
    ("static_shapes", _step_static),
    ("simplify", _step_simplify),
    ("fold", _step_fold),
    ("lower", _step_lower),
    ("shape_inference", _step_shapes),
    ("ir_version", _step_ir),
)


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:300] if text else type(e).__name__


class _Reference:
    """ONNX Runtime's outputs for the current model on seeded inputs: what every step must keep."""

    def __init__(self, proto: onnx.ModelProto):
        self.proto = proto
        self.feeds, self.outputs = self._valid(proto, proto)

    @classmethod
    def _valid(cls, proto: onnx.ModelProto, shaped_as: onnx.ModelProto):
        """Seeded feeds shaped as ``shaped_as``'s inputs that ``proto`` runs on, and its outputs (as verify.py)."""
        from facade.convert.verify import valid_feeds
        from facade.model import onnx_specs

        return valid_feeds(onnx_specs(shaped_as)[0], lambda feeds: cls._run(proto, feeds))

    @staticmethod
    def _run(proto: onnx.ModelProto, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.log_severity_level = 4  # a refused feed is retried (valid_feeds) or reported; ORT need not print it
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # the model as written
        sess = ort.InferenceSession(proto.SerializeToString(), sess_options=so, providers=["CPUExecutionProvider"])
        names = [o.name for o in sess.get_outputs()]
        return dict(zip(names, sess.run(names, dict(feeds)), strict=True))

    def differs(self, after: onnx.ModelProto) -> str | None:
        """Why ``after`` does not compute what the current model computes (None when it does)."""
        from facade.convert.verify import TOLERANCE
        from facade.inputs import seeded_feeds
        from facade.metrics import relative_max_error
        from facade.model import onnx_specs

        shapes = {k: v.shape for k, v in seeded_feeds(onnx_specs(after)[0], SEED).items()}
        if shapes != {k: v.shape for k, v in self.feeds.items()}:
            # A step fixed dynamic dims: the current model is run again on inputs of the new, static shapes.
            self.feeds, self.outputs = self._valid(self.proto, after)
        try:
            got = self._run(after, self.feeds)
        except Exception as e:
            return f"ONNX Runtime cannot run the result: {_first_line(e)}"
        tolerance = TOLERANCE["fp32"]
        for name, want in self.outputs.items():
            if name not in got:
                return f"output {name!r} disappeared"
            if got[name].shape != want.shape:
                return f"output {name!r} changed shape from {list(want.shape)} to {list(got[name].shape)}"
            if got[name].dtype != want.dtype:
                return f"output {name!r} changed dtype from {want.dtype} to {got[name].dtype}"
            err = relative_max_error(got[name], want)
            if not err <= tolerance:
                return f"output {name!r} changed by {err:.3g} (max relative error; tolerance {tolerance:g})"
        return None

    def accept(self, after: onnx.ModelProto) -> None:
        """``after`` passed: it becomes the model the next step is checked against."""
        self.proto = after


def legacy(proto: onnx.ModelProto, limits: Limits) -> onnx.ModelProto:
    """What converters were given before preparation existed (``FACADE_PREPARE=0``)."""
    proto = upgraded(proto, limits.min_opset)
    if limits.fold_with_ort:
        proto = static_model(proto)
        with contextlib.suppress(Exception):  # ORT cannot load it: the converter gets it unfolded, says why
            proto = constant_folded(proto)
    return static_model(proto) if limits.static_shapes else proto


def prepare(proto: onnx.ModelProto, limits: Limits) -> Prepared:
    """``proto`` brought within ``limits`` step by step, each step kept only if ONNX Runtime agrees.

    Never raises for a step that fails or changes the numbers: it is dropped and
    recorded, and the converter gets the model as it was before that step (its own
    refusal, parsed by cause, then says what is left). When ONNX Runtime cannot run
    the model at all, nothing can be checked and every step is dropped with that reason.
    """
    if not enabled():
        return Prepared(legacy(proto, limits), [], enabled=False)
    try:
        reference = _Reference(proto)
    except Exception as e:
        why = f"cannot be checked: ONNX Runtime cannot run the model ({_first_line(e)})"
        return Prepared(legacy(proto, limits), [Step("all", False, why + "; legacy intake used")])
    steps: list[Step] = []
    current = proto
    for name, step in STEPS:
        try:
            after, detail = step(current, limits)
        except Exception as e:
            steps.append(Step(name, False, f"failed: {_first_line(e)}"))
            continue
        if after is None:
            continue
        problem = reference.differs(after)
        if problem is not None:
            steps.append(Step(name, False, f"{detail}, but {problem}"))
            continue
        reference.accept(after)
        current = after
        steps.append(Step(name, True, detail))
    return Prepared(current, steps)
