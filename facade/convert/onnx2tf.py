"""ONNX to TFLite with onnx2tf and TensorFlow (the optional extra ``facade-runtime[tflite-convert]``).

onnx2tf reads ``calibration_image_sample_data_20x128x128x3_float32.npy`` from its
working directory and otherwise tries to download it, so the child runs in a
scratch directory where facade wrote that file (random data: only float models
are converted, the file is never used for quantization). The model is
constant-folded first by ONNX Runtime's basic optimizations (standard ONNX ops
only): onnx2tf converted a per-channel scale built by Unsqueeze then Mul wrongly,
and a folded constant converts exactly. onnx2tf writes float32 and float16
variants; ``precision`` picks one. It changes NCHW tensors to NHWC: the adapter's
IO contract transposes back.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnx

from facade.adapters.base import Availability
from facade.convert.base import Converter, move, package_version, static_model, upgraded
from facade.devices import package_dir

CALIBRATION = "calibration_image_sample_data_20x128x128x3_float32.npy"
_FILES = {"fp32": "model_float32.tflite", "fp16": "model_float16.tflite"}


def constant_folded(proto: onnx.ModelProto) -> onnx.ModelProto:
    """``proto`` after ONNX Runtime's basic graph optimizations (constant folding); unchanged without ORT."""
    try:
        import onnxruntime as ort
    except ImportError:
        return proto
    with tempfile.TemporaryDirectory(prefix="facade-fold-") as tmp:
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        so.optimized_model_filepath = str(Path(tmp) / "folded.onnx")
        so.log_severity_level = 3
        ort.InferenceSession(proto.SerializeToString(), sess_options=so, providers=["CPUExecutionProvider"])
        return onnx.load(so.optimized_model_filepath)


class Onnx2TfConverter(Converter):
    name = "onnx2tf"
    produces = "tflite"
    timeout_s = 600.0

    def available(self) -> Availability:
        for module in ("onnx2tf", "tensorflow", "tf_keras", "onnx_graphsurgeon", "sng4onnx"):
            if package_dir(module) is None:
                return Availability.no(f"{module} is not installed; pip install 'facade-runtime[tflite-convert]' "
                                       "(TensorFlow, large)")
        return Availability.yes()

    def version(self) -> str:
        return f"onnx2tf {package_version('onnx2tf')}, tensorflow {package_version('tensorflow')}"

    def options_for(self, precision: str) -> dict[str, object]:
        return {"precision": "fp32" if precision == "fp32" else "fp16"}

    def prepare(self, proto: onnx.ModelProto) -> onnx.ModelProto:
        return static_model(constant_folded(static_model(upgraded(proto))))

    def setup_workdir(self, workdir: Path) -> None:
        rng = np.random.default_rng(0)
        np.save(workdir / CALIBRATION, rng.random((20, 128, 128, 3), dtype=np.float32))

    def command(self, src: Path, workdir: Path, options: Mapping[str, object], prepared: onnx.ModelProto) -> list[str]:
        exe = shutil.which("onnx2tf", path=str(Path(sys.executable).parent)) or "onnx2tf"
        return [exe, "-i", str(src), "-o", str(workdir / "out"), "-n", "-coion"]

    def collect(self, workdir: Path, dest: Path, options: Mapping[str, object]) -> str:
        name = _FILES[str(options.get("precision", "fp32"))]
        move(workdir / "out", dest, name)
        return name
