"""The oracle: what the right answer is, computed independently of the engines judged.

First choice: the native engine compiled in float64 (every float tensor computed in
double precision, so its own rounding is far below any fp32 engine's). Where native
cannot take the model, ``onnx.reference.ReferenceEvaluator`` in float64, with its
known-wrong operators replaced (onnx 1.23): BatchNormalization at opsets 9 to 13
applies its training branch because ``momentum`` always has a default, and LRN sums
squares over the batch axis instead of the channel axis. The oracle must never be
the one that is wrong.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import onnx
from onnx.reference import ReferenceEvaluator
from onnx.reference.op_run import OpRun

NATIVE, REFERENCE = "native-float64", "onnx-reference-float64"


class BatchNormalization(OpRun):
    """Inference-mode BatchNormalization (running statistics) unless ``training_mode=1`` (opset 14+)."""

    op_domain = ""

    def _run(self, x, scale, bias, mean, var, epsilon=1e-5, momentum=0.9, training_mode=0, **_ignored):
        axes = tuple(i for i in range(x.ndim) if i != 1)
        shape = [1, -1] + [1] * (x.ndim - 2)
        if training_mode:
            batch_mean, batch_var = x.mean(axis=axes), x.var(axis=axes)
            y = (x - batch_mean.reshape(shape)) / np.sqrt(batch_var.reshape(shape) + epsilon)
            y = y * scale.reshape(shape) + bias.reshape(shape)
            return (y.astype(x.dtype), (mean * momentum + batch_mean * (1 - momentum)).astype(mean.dtype),
                    (var * momentum + batch_var * (1 - momentum)).astype(var.dtype))
        y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + epsilon) * scale.reshape(shape)
        return ((y + bias.reshape(shape)).astype(x.dtype),)


class LRN(OpRun):
    """Local response normalization across channels (axis 1), as the ONNX spec defines it."""

    op_domain = ""

    def _run(self, x, alpha=1e-4, beta=0.75, bias=1.0, size=1):
        square = x.astype(np.float64) ** 2
        channels = x.shape[1]
        lo, hi = math.floor((size - 1) / 2), math.ceil((size - 1) / 2)
        total = np.zeros_like(square)
        for c in range(channels):
            total[:, c] = square[:, max(0, c - lo):min(channels, c + hi + 1)].sum(axis=1)
        return ((x / (bias + alpha / size * total) ** beta).astype(x.dtype),)


FIXED_OPS = (BatchNormalization, LRN)


def _as_float64(feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: (v.astype(np.float64) if v.dtype == np.float32 else v) for k, v in feeds.items()}


def _float64_model(proto: onnx.ModelProto) -> onnx.ModelProto:
    """The model with float32 inputs, outputs and initializers declared float64, for the reference evaluator."""
    from onnx import numpy_helper

    model = onnx.ModelProto()
    model.CopyFrom(proto)
    g = model.graph
    for vi in [*g.input, *g.output, *g.value_info]:
        if vi.type.tensor_type.elem_type == onnx.TensorProto.FLOAT:
            vi.type.tensor_type.elem_type = onnx.TensorProto.DOUBLE
    for i, init in enumerate(g.initializer):
        if init.data_type == onnx.TensorProto.FLOAT:
            g.initializer[i].CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float64),
                                                              init.name))
    return model


def reference_outputs(proto: onnx.ModelProto, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``onnx.reference`` with :data:`FIXED_OPS`; in float64 when the graph allows it, else as declared."""
    names = [o.name for o in proto.graph.output]
    try:
        values = ReferenceEvaluator(_float64_model(proto), new_ops=list(FIXED_OPS)).run(names, _as_float64(feeds))
    except Exception:  # ops with float32-only attributes or Cast chains reject doubles: run as declared
        values = ReferenceEvaluator(proto, new_ops=list(FIXED_OPS)).run(names, dict(feeds))
    return dict(zip(names, (np.asarray(v) for v in values), strict=True))


def native_outputs(proto: onnx.ModelProto, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The native engine in float64. Raises whatever native raises when it cannot."""
    from facade import native_fallback

    program = native_fallback.compile(proto, dtype="float64", device="cpu")
    return {k: np.asarray(v) for k, v in program.run(dict(feeds)).items()}


def oracle_outputs(proto: onnx.ModelProto, feeds: Mapping[str, np.ndarray]) -> tuple[dict[str, np.ndarray], str]:
    """The expected outputs and which oracle computed them (:data:`NATIVE` or :data:`REFERENCE`, with why)."""
    try:
        from facade import native_fallback

        missing = native_fallback.unsupported(proto)
    except Exception as e:  # native not built, or it cannot read the graph
        missing = [f"native engine unusable: {type(e).__name__}: {e}"]
    if not missing:
        try:
            return native_outputs(proto, feeds), NATIVE
        except Exception as e:
            missing = [f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"]
    return reference_outputs(proto, feeds), f"{REFERENCE} (native: {missing[0]})"
