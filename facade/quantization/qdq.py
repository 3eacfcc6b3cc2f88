"""QDQ quantization with ``onnxruntime.quantization``, as a cached "conversion" of the ONNX model.

A quantizer bound to one :class:`~facade.quantization.calibration.CalibrationSet` is a
:class:`~facade.convert.base.Converter` whose options carry the calibration data's
digest, so the conversion cache (:mod:`facade.convert.cache`) keys the QDQ model by
model, data and options, builds it in a hidden folder renamed into place, and caches
a quantizer's refusal like a converter's. The quantizer runs in a child process
(:mod:`.child`: ORT's ``quant_pre_process``, then ``quantize_static`` or, for QNN,
``get_qnn_qdq_config`` + ``quantize``). The accuracy against fp32 on the held-out
samples is measured on ONNX Runtime's CPU and stored in the entry's manifest.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnx

from facade.adapters.base import Availability, stdout_to_stderr
from facade.convert.base import Converter, move, package_version
from facade.convert.causes import LogPattern
from facade.convert.prepare import Prepared, Step
from facade.devices import package_dir
from facade.errors import ConversionError, format_message
from facade.model import Model
from facade.quantization.accuracy import measure
from facade.quantization.calibration import CalibrationSet

MODEL = "model.onnx"
CALIBRATION = "calibration.npz"
_CHILD = Path(__file__).with_name("child.py")
# Bumped when what the child does changes (part of the version, hence of the cache key).
# 2: pre-processing retried without symbolic shape inference where that asserts.
RECIPE = 2


def ort_cpu(proto_or_bytes: onnx.ModelProto | bytes):
    """A run function over ONNX Runtime's CPU provider (the reference every quantized figure is against)."""
    import onnxruntime as ort

    data = proto_or_bytes if isinstance(proto_or_bytes, bytes) else proto_or_bytes.SerializeToString()
    with stdout_to_stderr():
        sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return lambda feeds: dict(zip(names, sess.run(names, feeds), strict=True))


class QdqQuantizer(Converter):
    """``onnxruntime.quantization`` bound to one calibration set (options: :func:`facade.quantization.options`)."""

    name = "onnxruntime-quantize"
    produces = "onnx"
    needs_static_shapes = False
    log_causes = (LogPattern(r"^(?P<exc>(?:\w+\.)*\w*(?:Error|Exception): [^\n]{0,200})",
                             "onnxruntime.quantization cannot quantize this model: {exc}"),)

    def __init__(self, calibration: CalibrationSet):
        self.calibration = calibration

    def available(self) -> Availability:
        if package_dir("onnxruntime") is None:
            return Availability.no("onnxruntime is not installed; pip install 'facade-runtime[onnxruntime]'")
        return Availability.yes()

    def version(self) -> str:
        return f"onnxruntime {package_version('onnxruntime')}, facade recipe {RECIPE}"

    def prepare(self, proto: onnx.ModelProto) -> Prepared:
        """The quantizer prepares the model itself (ORT's recommended pre-processing, in the child)."""
        return Prepared(proto, [Step("quant_pre_process", True,
                                     "ONNX Runtime's symbolic shape inference, optimization, ONNX shape inference")])

    def command(self, src: Path, workdir: Path, options: Mapping[str, object], prepared: onnx.ModelProto) -> list[str]:
        calibrate, _ = self.calibration.split()
        names = [i.name for i in prepared.graph.input if i.name not in {t.name for t in prepared.graph.initializer}]
        np.savez(workdir / CALIBRATION, **{f"s{i}_{k}": s[n] for i, s in enumerate(calibrate)
                                            for k, n in enumerate(names)})
        return [sys.executable, "-I", str(_CHILD), str(src), str(workdir / "out" / MODEL), str(workdir / CALIBRATION),
                json.dumps(dict(options), sort_keys=True)]

    def setup_workdir(self, workdir: Path) -> None:
        (workdir / "out").mkdir()

    def collect(self, workdir: Path, dest: Path, options: Mapping[str, object]) -> str:
        move(workdir / "out", dest, MODEL)
        return MODEL

    def convert(self, model: Model, dest: Path, options: Mapping[str, object],
                prepared: Prepared | None = None) -> tuple[str, dict]:
        main, io = super().convert(model, dest, options, prepared)
        _, held_out = self.calibration.split()
        try:
            accuracy = measure(ort_cpu((dest / main).read_bytes()), ort_cpu(model.proto), held_out)
        except Exception as e:  # ORT's own error types: the quantized model does not load or run
            raise ConversionError(format_message(
                "The quantized model does not run on ONNX Runtime's CPU", where=f"{self.name} ({model.name})",
                received=f"{type(e).__name__}: {' '.join(str(e).split())[:400]}",
                expected="a QDQ model ONNX Runtime runs")) from e
        return main, {**io, "accuracy": accuracy.to_dict(), "calibration": {
            "source": self.calibration.source, "digest": self.calibration.digest,
            "samples": len(self.calibration.samples), "held_out": len(held_out)}}
