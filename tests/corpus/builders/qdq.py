"""int8 QDQ models made by ``onnxruntime.quantization.quantize_static`` from corpus float models,
calibrated on seeded random inputs.

The oracle of a QDQ (or dynamically quantized) model is ONNX Runtime's own output on it, computed here at build
time, not the float framework's: quantization changes the numbers by design (the
float model's output is not what the int8 model should give), and ONNX Runtime is
the implementation the quantizer targets, whose QDQ semantics the model was
calibrated against. The float model's divergence is recorded in the notes for
the reader, as the quantization error.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

from tests.corpus.builders import helper, text, vision
from tests.corpus.builders.common import MODEL_FILE, Arrays, graph_io

CALIBRATION_SAMPLES = 8


class _SeededReader:
    """A CalibrationDataReader over seeded random batches shaped like ``feeds``."""

    def __init__(self, feeds: Arrays, seed: int):
        rng = np.random.default_rng(seed)
        self._batches = iter([{n: rng.standard_normal(a.shape).astype(a.dtype) for n, a in feeds.items()}
                              for _ in range(CALIBRATION_SAMPLES)])

    def get_next(self) -> Arrays | None:
        return next(self._batches, None)


def _quantize(float_builder, out_dir: Path, seed: int, per_channel: bool, **options) -> tuple[Arrays, Arrays, dict]:
    import onnxruntime as ort
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        feeds, float_oracle = float_builder(Path(tmp), **options)
        quantize_static(str(Path(tmp) / MODEL_FILE), str(out_dir / MODEL_FILE), _SeededReader(feeds, seed),
                        quant_format=QuantFormat.QDQ, activation_type=QuantType.QInt8,
                        weight_type=QuantType.QInt8, per_channel=per_channel)
        shutil.rmtree(tmp, ignore_errors=True)
    session = ort.InferenceSession(str(out_dir / MODEL_FILE), providers=["CPUExecutionProvider"])
    _, outs = graph_io(out_dir / MODEL_FILE)
    oracle = dict(zip(outs, session.run(outs, feeds), strict=True))
    return feeds, oracle, {"oracle": "onnxruntime:cpu on the QDQ model",
                           "quantization_error_vs_float": _drift(oracle, float_oracle)}


def _drift(oracle: Arrays, float_oracle: Arrays) -> dict[str, float]:
    """Relative max error of the quantized model's output against the float model's, per output."""
    return {n: float(np.max(np.abs(oracle[n] - float_oracle[n])) / max(float(np.max(np.abs(float_oracle[n]))),
                                                                       1e-12)) for n in oracle}


def qdq_resnet(out_dir: Path) -> tuple[Arrays, Arrays, dict]:
    """The corpus ResNet (legacy export), quantized per channel."""
    return _quantize(vision.resnet, out_dir, 40, per_channel=True, exporter="legacy")


def qdq_mobilenet_v3(out_dir: Path) -> tuple[Arrays, Arrays, dict]:
    """The corpus MobileNetV3 (legacy export), quantized per tensor."""
    return _quantize(vision.mobilenet_v3, out_dir, 41, per_channel=False, exporter="legacy")


def qdq_helper_mlp(out_dir: Path) -> tuple[Arrays, Arrays, dict]:
    """The onnx.helper MLP at opset 21, quantized per tensor. (At onnx's default opset, 28 with
    onnx 1.23, the quantizer writes DequantizeLinear-28, which ONNX Runtime 1.32 does not implement.)"""
    return _quantize(helper.mlp, out_dir, 42, per_channel=False, opset=21)


def dynamic_int8_bert(out_dir: Path) -> tuple[Arrays, Arrays, dict]:
    """The corpus BERT (legacy export) through ``quantize_dynamic``, as the transformers-on-CPU guides
    do: int8 weights, activations quantized at run time (DynamicQuantizeLinear, MatMulInteger)."""
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        feeds, float_oracle = text.bert(Path(tmp), exporter="legacy")
        quantize_dynamic(str(Path(tmp) / MODEL_FILE), str(out_dir / MODEL_FILE), weight_type=QuantType.QInt8)
    session = ort.InferenceSession(str(out_dir / MODEL_FILE), providers=["CPUExecutionProvider"])
    _, outs = graph_io(out_dir / MODEL_FILE)
    oracle = dict(zip(outs, session.run(outs, feeds), strict=True))
    return feeds, oracle, {"oracle": "onnxruntime:cpu on the quantized model",
                           "quantization_error_vs_float": _drift(oracle, float_oracle)}
