"""Post-training quantization: int8 (or 16-bit activation) QDQ models made here, measured against fp32.

>>> q = facade.quantize("mobilenet.onnx", calibration="calib.npz")
>>> q.accuracy.cosine          # on held-out samples, never on what calibration saw
0.9987
>>> facade.Session(q.path)     # a QDQ ONNX model: every engine that takes ONNX runs it

The QDQ model is cached by content (model, calibration data, options) like a
conversion; the calibration data is read by :mod:`.calibration`, the quantizer
runs in a child (:mod:`.qdq`), and the figures are :mod:`.accuracy`'s.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import onnx

from facade.convert import cache
from facade.convert.cache import Artifact
from facade.convert.verify import judged_precision
from facade.errors import InputError, format_message
from facade.model import Model, load_model
from facade.quantization.accuracy import Accuracy
from facade.quantization.calibration import (
    MIN_CALIBRATION,
    CalibrationError,
    CalibrationSet,
    load_calibration,
)
from facade.quantization.qdq import QdqQuantizer

SCHEMES = ("static", "dynamic")
ACTIVATIONS = ("uint8", "uint16")
#: Whose QDQ recipe: ORT's CPU defaults (uint8 activations, int8 weights), or QNN's own config helper
#: (``get_qnn_qdq_config``: uint8 weights, the operator constraints HTP has).
CONFIGS = ("onnxruntime", "qnn")

__all__ = ["Accuracy", "CalibrationError", "CalibrationSet", "QuantizedModel", "load_calibration", "quantize"]


@dataclass(frozen=True)
class QuantizedModel:
    """A QDQ model in the cache, the options it was made with, and its accuracy against fp32."""

    model: Model
    artifact: Artifact
    accuracy: Accuracy
    options: dict
    cached: bool

    @property
    def path(self) -> Path:
        return self.artifact.main


def options(scheme: str = "static", activations: str = "uint8", per_channel: bool = False,
            config: str = "onnxruntime") -> dict[str, object]:
    """The quantizer's options, checked (part of the cache key with the calibration data's digest)."""
    for key, value, allowed in (("scheme", scheme, SCHEMES), ("activations", activations, ACTIVATIONS),
                                ("config", config, CONFIGS)):
        if value not in allowed:
            raise InputError(format_message(f"Unknown quantization {key}", received=repr(value), expected=allowed))
    if scheme == "dynamic" and (activations != "uint8" or config != "onnxruntime"):
        raise InputError(format_message("Dynamic quantization has no calibrated activations",
                                        received=f"activations={activations!r}, config={config!r}",
                                        expected="activations='uint8', config='onnxruntime' with scheme='dynamic'"))
    return {"scheme": scheme, "activations": activations, "per_channel": bool(per_channel), "flavour": config}


def quantize(model: str | os.PathLike | bytes | onnx.ModelProto | Model,
             calibration: str | os.PathLike | CalibrationSet, *, scheme: str = "static", activations: str = "uint8",
             per_channel: bool = False, config: str = "onnxruntime") -> QuantizedModel:
    """Quantize ``model`` to QDQ with ``calibration`` data; cached by content.

    Args:
        model: an ONNX model (path, bytes, ModelProto or :class:`~facade.model.Model`).
        calibration: an ``.npz`` with one array per input name, or a folder of
            ``.npz``/``.npy`` files (see :mod:`facade.quantization.calibration`); the last
            samples are held out and only used to measure accuracy.
        scheme: ``"static"`` (calibrated activations) or ``"dynamic"`` (int8 weights,
            activations quantized at run time).
        activations: ``"uint8"`` or ``"uint16"`` (static only).
        per_channel: per-channel weight scales.
        config: ``"onnxruntime"`` (CPU defaults) or ``"qnn"`` (QNN HTP's own QDQ config).

    Returns:
        A :class:`QuantizedModel`: the loaded QDQ model, its cache entry and its accuracy.

    Raises:
        CalibrationError: the data does not fit the model's inputs or has too few samples.
        InputError: an unknown option.
        ConversionError: the quantizer cannot handle the model (cached, like a converter's refusal).
    """
    opts = options(scheme, activations, per_channel, config)
    source = load_model(model)
    if source.proto is None:
        raise InputError(format_message("Only ONNX models can be quantized", where=source.name,
                                        received=source.format, expected="an .onnx model"))
    _, quantized_ops = judged_precision(source, "fp32")
    if quantized_ops:
        raise InputError(format_message("Model is already quantized", where=source.name, received=quantized_ops,
                                        expected="a float ONNX model to quantize"))
    data = load_calibration(calibration, source, minimum=MIN_CALIBRATION if scheme == "static" else 0)
    quantizer = QdqQuantizer(data)
    keyed = {**opts, "calibration": data.digest}
    cached = cache.lookup(source, quantizer, keyed) is not None
    artifact = cache.obtain(source, quantizer, keyed)
    quantized = load_model(artifact.main)
    quantized.name = f"{source.name}@int8"
    return QuantizedModel(quantized, artifact, Accuracy.from_dict(artifact.io["accuracy"]), opts, cached)
