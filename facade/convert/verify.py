"""Verification: a converted artifact is run once on seeded inputs and compared with the ONNX model.

The reference is ONNX Runtime on the original ONNX model (the native engine when
ONNX Runtime is not installed). An artifact whose outputs disagree beyond the
precision's tolerance, or whose output names or shapes differ, is refused: a
silently wrong answer is the worst thing facade could give.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import onnx

from facade.errors import TargetUnavailableError
from facade.inputs import seeded_feeds
from facade.metrics import relative_max_error
from facade.model import Model
from facade.reference import reference_outputs
from facade.tolerances import DEFAULTS

# max|a - b| / max|b| allowed per precision the engine computes in: conformance's table.
TOLERANCE: Mapping[str, float] = {cls: bound.max_scaled_error for cls, bound in DEFAULTS.items()}
SEED = 0
#: Operators that make a model integer-quantized itself (QDQ from onnxruntime.quantization, QOperator
#: models, dynamic quantization). Every engine then computes in int8, and engines re-quantize
#: differently: a fused integer kernel (ORT's CPU, QNN's HTP) and dequantize-compute-quantize in
#: float round some values one output step apart. Measured on the corpus: one step of a QDQ
#: MobileNetV3's output scale is 6e-3 of its range, sixty times the fp32 bound.
QUANTIZED_OPS = frozenset({
    "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "QLinearConv", "QLinearMatMul",
    "MatMulInteger", "ConvInteger", "QLinearAdd", "QLinearMul", "QLinearSigmoid", "QLinearLeakyRelu",
    "QLinearConcat", "QLinearAveragePool", "QLinearGlobalAveragePool", "QGemm", "DynamicQuantizeMatMul",
    "MatMulIntegerToFloat", "QAttention",
})


def _op_types(graph: onnx.GraphProto):
    """Every operator type in ``graph`` and its subgraphs (Loop/If/Scan bodies)."""
    for node in graph.node:
        yield node.op_type
        for attr in node.attribute:
            for sub in (*([attr.g] if attr.HasField("g") else []), *attr.graphs):
                yield from _op_types(sub)


def judged_precision(model: Model, precision: str) -> tuple[str, str | None]:
    """The class ``model``'s outputs are judged at, and why when it is not the caller's ``precision``.

    A quantized model is judged at int8 whatever the caller accepts: the caller's
    precision bounds what an engine may do *below the model's own arithmetic*, and
    a quantized model's arithmetic is int8 on every engine, ONNX Runtime's CPU included.
    """
    if precision == "int8" or model.proto is None:
        return precision, None
    ops = sorted({op for op in _op_types(model.proto.graph) if op in QUANTIZED_OPS})
    if not ops:
        return precision, None
    return "int8", f"judged at int8: the model is quantized ({', '.join(ops)})"


def valid_feeds(specs, run: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]
                ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Seeded feeds the reference accepts, with its outputs for them.

    Seeded integers lie in [0, 4); an embedding table of 2 rows (BERT's
    ``token_type_ids``) makes ONNX Runtime refuse index 3. Integer feeds are then
    set to ones (valid for any table of 2 rows or more, and an all-ones attention
    mask) before the reference's own error is raised. Not random 0/1: a sequence
    whose every token is masked has no defined attention, and engines then differ
    by 2% on BERT without being wrong.
    """
    feeds = seeded_feeds(specs, SEED)
    ints = [k for k, v in feeds.items() if v.dtype.kind in "iu"]
    tries = [feeds]
    if ints:
        tries.append({k: np.ones_like(v) if k in ints else v for k, v in feeds.items()})
    for attempt, candidate in enumerate(tries):
        try:
            return candidate, run(candidate)
        except Exception:
            if attempt == len(tries) - 1:
                raise
    raise AssertionError("unreachable")


def verify(run, model: Model, precision: str) -> dict:
    """Compare ``run(feeds)`` with :func:`reference`; return the verdict as JSON-ready data.

    The verdict says ``ok``, the worst relative error and on which output, the
    tolerance, and per-output errors, so ``explain()`` and a refusal can quote it.
    """
    feeds, expected = valid_feeds(model.inputs, lambda f: reference_outputs(model, f))
    precision, why = judged_precision(model, precision)
    tolerance = TOLERANCE[precision]
    try:
        actual = run(feeds)
    except TargetUnavailableError:
        raise  # the engine cannot run here at all (e.g. a runtime the device lacks): no verdict on the artifact
    except Exception as e:  # the artifact loaded but does not run: as bad as diverging
        return {"ok": False, "error": None, "tolerance": tolerance, "precision": precision,
                "detail": f"the converted model failed on seeded inputs: {type(e).__name__}: {e}"}
    errors: dict[str, float] = {}
    problems: list[str] = []
    for name, want in expected.items():
        got = actual.get(name)
        if got is None:
            problems.append(f"output {name!r} missing")
        elif np.shape(got) != np.shape(want):
            problems.append(f"output {name!r} has shape {list(np.shape(got))}, ONNX gives {list(np.shape(want))}")
        else:
            errors[name] = relative_max_error(got, want)
    worst = max(errors, key=errors.get) if errors else None
    error = errors[worst] if worst else None
    ok = not problems and all(e <= tolerance for e in errors.values())
    detail = "; ".join(problems) or (f"max relative error {error:.3g} on {worst!r} "
                                     f"({'within' if ok else 'above'} tolerance {tolerance:g})" if worst else "")
    if why:
        detail = f"{detail} ({why})" if detail else why
    return {"ok": ok, "error": error, "tolerance": tolerance, "precision": precision,
            "errors": errors, "detail": detail}


def describe(verdict: Mapping) -> str:
    """One line for the trace: ``conversion verified: ...`` or ``conversion diverged: ...``."""
    return f"conversion {'verified' if verdict['ok'] else 'diverged'}: {verdict['detail']}"
