"""The accuracy gate for reduced precision: an int8 artifact runs only when its measured drop is in bounds.

Every engine that takes int8 builds its artifact with its own tool (QDQ for ONNX
Runtime's CPU and QNN's HTP, onnx2tf's full-integer TFLite for LiteRT); the
loaded artifact is then run on the held-out calibration samples *on that target*
and compared with fp32 ONNX Runtime (engines re-quantize differently, so the CPU
figure does not speak for HTP). Within :class:`Bounds` it runs at int8; otherwise
the same target is loaded at the next precision up, and the trace says which,
with the figure and the bound. Figures are cached with the artifact per target.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from facade.adapters.base import LoadOptions, Runner
from facade.convert import cache
from facade.errors import (
    ConversionError,
    EngineError,
    InputError,
    TargetUnavailableError,
    UnsupportedModelError,
    format_message,
)
from facade.model import Model
from facade.quantization.accuracy import Accuracy, measure
from facade.quantization.calibration import CalibrationSet, load_calibration
from facade.quantization.qdq import ort_cpu

#: Without a policy bound: the int8 model's worst held-out cosine against fp32, and top-1 classes lost.
DEFAULT_MIN_COSINE = 0.99
DEFAULT_MAX_TOP1_DROP = 0.01


@dataclass(frozen=True)
class Bounds:
    """How far below fp32 a reduced-precision artifact may be, and who said so (policy rule or default)."""

    min_cosine: float = DEFAULT_MIN_COSINE
    max_top1_drop: float = DEFAULT_MAX_TOP1_DROP
    source: str = "facade's default"

    def judge(self, accuracy: Accuracy) -> tuple[bool, str]:
        """Whether ``accuracy`` is within the bounds, and one line with each figure and its bound."""
        problems = []
        if accuracy.cosine < self.min_cosine:
            problems.append(f"cosine {accuracy.cosine:.5f} < min_cosine {self.min_cosine:g}")
        if accuracy.top1_drop > self.max_top1_drop:
            problems.append(f"top-1 drop {accuracy.top1_drop:.3f} > max_top1_drop {self.max_top1_drop:g}")
        bound = f"min_cosine {self.min_cosine:g}, max_top1_drop {self.max_top1_drop:g} ({self.source})"
        if problems:
            return False, f"{accuracy.describe()}: {'; '.join(problems)} ({self.source})"
        return True, f"{accuracy.describe()}: within {bound}"


@dataclass(frozen=True)
class Int8Request:
    """What ``LoadOptions.calibration`` carries: calibration data (read, or a path a policy gave) and the bounds."""

    data: CalibrationSet | str
    bounds: Bounds = Bounds()


def with_policy(request: Int8Request | None, own: Mapping[str, object], precision: str) -> Int8Request | None:
    """The request a target loads with: the caller's data, else the policy's ``calibration``; the policy's
    ``min_cosine`` / ``max_top1_drop`` for this target over the defaults. None when fp32 is the floor."""
    if precision == "fp32":
        return None
    data = request.data if request is not None else own.get("calibration")
    if data is None:
        return None
    bounds = request.bounds if request is not None else Bounds()
    if "min_cosine" in own or "max_top1_drop" in own:
        bounds = Bounds(float(own.get("min_cosine", bounds.min_cosine)),
                        float(own.get("max_top1_drop", bounds.max_top1_drop)), "policy")
    return Int8Request(data, bounds)


#: An engine's int8 opener: (model, data, options for the artifact) -> (runner, how it was made, cache entry).
Opener = Callable[[Model, CalibrationSet, LoadOptions], tuple[Runner, str, cache.Artifact]]
#: Failures that mean "no int8 here" rather than "this target is broken": the fp path is tried next.
_NO_INT8 = (ConversionError, UnsupportedModelError, TargetUnavailableError, EngineError)


def wanted(options: LoadOptions) -> bool:
    """Whether a load should try int8: the caller accepts it and gave calibration data."""
    return options.precision == "int8" and getattr(options, "calibration", None) is not None


def _accuracy(runner: Runner, model: Model, data: CalibrationSet, artifact: cache.Artifact) -> Accuracy:
    key = f"{runner.target}@int8 held-out"
    known = artifact.verdicts.get(key)
    if known is not None and known.get("calibration") == data.digest:
        return Accuracy.from_dict(known["accuracy"])
    _, held_out = data.split()
    accuracy = measure(runner.run, ort_cpu(model.proto), held_out)
    cache.record_verdict(artifact, key, {"ok": True, "accuracy": accuracy.to_dict(), "calibration": data.digest,
                                         "detail": accuracy.describe()})
    return accuracy


def load(model: Model, options: LoadOptions, open_int8: Opener, open_float: Callable[[LoadOptions], Runner]) -> Runner:
    """The int8 artifact if its accuracy on this target is within bounds, else ``open_float`` at fp16 or above."""
    request: Int8Request = options.calibration
    data = load_calibration(request.data, model)  # a policy's path is read here, once per load
    plain = dataclasses.replace(options, precision="fp32", calibration=None)
    try:
        runner, how, artifact = open_int8(model, data, plain)
    except _NO_INT8 as e:
        runner, how, why = None, "artifact", f"unavailable: {' '.join(str(e).split())[:500]}"
    else:
        kept, why = _judged(runner, request.bounds, lambda: _accuracy(runner, model, data, artifact),
                            f"int8 ({how})")
        if kept is not None:
            kept.precision = "int8"
            return kept
    fallback = open_float(dataclasses.replace(options, precision="fp16", calibration=None))
    fallback.notes.insert(0, f"precision int8 ({how}) not used: {why}; running {fallback.precision}")
    return fallback


def _judged(runner: Runner, bounds: Bounds, accuracy: Callable[[], Accuracy], label: str
            ) -> tuple[Runner | None, str]:
    """``runner`` (its note saying the figure and bound) if ``accuracy()`` is within ``bounds``; else None,
    with ``runner`` closed: the one keep-or-drop rule of the int8 and fp16 gates."""
    try:
        ok, why = bounds.judge(accuracy())
    except BaseException:
        runner.close()
        raise
    if ok:
        runner.notes.insert(0, f"precision {label}: {why}")
        return runner, why
    runner.close()
    return None, why


def qdq(adapter, unit: str) -> Opener:
    """ONNX Runtime's int8: the QDQ model from :func:`facade.quantize`, with QNN's own config on QNN units."""
    config = "qnn" if unit.startswith("qnn") else "onnxruntime"

    def open_int8(model: Model, data: CalibrationSet, options: LoadOptions) -> tuple[Runner, str, cache.Artifact]:
        from facade.quantization import quantize

        q = quantize(model, data, config=config)
        return adapter.load(q.model, unit, options), f"QDQ by onnxruntime.quantization, {config} config", q.artifact

    return open_int8


def request(model: Model, precision: str, calibration: object, bounds: Bounds | None = None, *,
            policy_data: bool = False) -> Int8Request | None:
    """What a session asking for ``precision`` with ``calibration`` data may try at int8 (None: nothing of the
    caller's; ``policy_data``: the policy gives some targets calibration data, filled in per target).

    Raises:
        InputError: int8 is asked for a float model without calibration data. facade never
            calibrates on random numbers behind the caller's back.
        CalibrationError: the data does not fit the model.
    """
    if precision == "fp32" or (precision == "fp16" and calibration is None):
        return None
    if calibration is None:
        from facade.convert.verify import judged_precision

        if policy_data or judged_precision(model, "fp32")[0] == "int8":
            return None  # already quantized: its own arithmetic is int8
        raise InputError(format_message(
            "int8 needs calibration data", where=model.name, received="precision='int8' and no calibration data",
            expected="Session(model, precision='int8', calibration='data.npz' or a folder of .npz/.npy samples), "
                     "or a policy calibration = \"path\"",
            hint="facade never calibrates a model on random numbers: int8 is only made from your own samples"))
    return Int8Request(load_calibration(calibration, model), bounds or Bounds())


def without_int8(load: Callable[[LoadOptions], Runner], options: LoadOptions, why: str) -> Runner:
    """An engine with no int8 tool here: the float path, with why int8 was not tried in the trace."""
    runner = load(dataclasses.replace(options, precision="fp16", calibration=None))
    runner.notes.insert(0, f"precision int8 not used: unavailable: {why}; running {runner.precision}")
    return runner


def checked(runner: Runner, model: Model, options: LoadOptions, reload: Callable[[LoadOptions], Runner]) -> Runner:
    """An fp16 runner judged like int8 when calibration data is at hand: kept within the bounds, else
    ``reload`` at fp32; the trace says which, with the figure and the bound."""
    request: Int8Request | None = getattr(options, "calibration", None)
    if runner.precision != "fp16" or request is None or model.proto is None:
        return runner
    _, held_out = load_calibration(request.data, model).split()
    kept, why = _judged(runner, request.bounds, lambda: measure(runner.run, ort_cpu(model.proto), held_out), "fp16")
    if kept is not None:
        return kept
    fallback = reload(dataclasses.replace(options, precision="fp32", calibration=None))
    fallback.notes.insert(0, f"precision fp16 not used: {why}; running {fallback.precision}")
    return fallback
