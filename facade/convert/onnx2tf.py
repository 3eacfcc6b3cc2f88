"""ONNX to TFLite with onnx2tf and TensorFlow (the optional extra ``facade-runtime[tflite-convert]``).

onnx2tf reads ``calibration_image_sample_data_20x128x128x3_float32.npy`` from its
working directory and otherwise tries to download it, so the child runs in a
scratch directory where facade wrote that file (random data: only float models
are converted, the file is never used for quantization). The model is
constant-folded first by ONNX Runtime's basic optimizations (standard ONNX ops
only, :func:`facade.convert.prepare.constant_folded`): onnx2tf converted a per-channel scale built by Unsqueeze then Mul wrongly,
and a folded constant converts exactly. onnx2tf writes float32 and float16
variants; ``precision`` picks one. It changes NCHW tensors to NHWC: the adapter's
IO contract transposes back.
"""

from __future__ import annotations

import re
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnx

from facade.adapters.base import Availability
from facade.convert.base import Converter, move, package_version
from facade.convert.causes import LogPattern
from facade.devices import package_dir

CALIBRATION = "calibration_image_sample_data_20x128x128x3_float32.npy"
_FILES = {"fp32": "model_float32.tflite", "fp16": "model_float16.tflite"}
# Options that keep operators in TFLite builtins (part of the version, hence of the cache key):
# Erf (GELU's exact form in BERT/ViT/ConvNeXt exports) and GeLU otherwise become FlexErf, a Select
# TF op that LiteRT's interpreter refuses; onnx2tf's pseudo operators compute them from builtins.
FLAGS: tuple[str, ...] = ("-rtpo", "Erf", "GeLU")
# A TFLite model keeps a Select (Flex) TF op as a custom op whose code is "Flex" + the TF op's name.
_FLEX = re.compile(rb"Flex([A-Z][A-Za-z0-9]+)")


class Onnx2TfConverter(Converter):
    name = "onnx2tf"
    produces = "tflite"
    timeout_s = 600.0
    fold_with_ort = True  # see the module docstring: a folded per-channel scale converts exactly
    log_causes = (
        # onnx2tf prints the Python traceback (ops/<OnnxOp>.py), the exception, then "onnx_op_name: <node>".
        LogPattern(r"onnx2tf/ops/(?P<op>\w+)\.py(?:.|\n)*?^(?P<exc>[\w.]*(?:Error|Exception): [^\n]{0,160})"
                   r"(?:.|\n)*?ERROR: onnx_op_name: (?P<node>\S+)",
                   "onnx2tf cannot convert ONNX {op} node {node} for {engine}: {exc}"),
        LogPattern(r"(?:TF Select ops|Flex ops): (?P<op>[^\n]+)",
                   "{engine} has no builtin operator for the TensorFlow op(s) {op} (Select TF ops)"),
    )

    def available(self) -> Availability:
        for module in ("onnx2tf", "tensorflow", "tf_keras", "onnx_graphsurgeon", "sng4onnx"):
            if package_dir(module) is None:
                return Availability.no(f"{module} is not installed; pip install 'facade-runtime[tflite-convert]' "
                                       "(TensorFlow, large)")
        return Availability.yes()

    def version(self) -> str:
        return f"onnx2tf {package_version('onnx2tf')}, tensorflow {package_version('tensorflow')}, {' '.join(FLAGS)}"

    def options_for(self, precision: str) -> dict[str, object]:
        return {"precision": "fp32" if precision == "fp32" else "fp16"}

    def setup_workdir(self, workdir: Path) -> None:
        rng = np.random.default_rng(0)
        np.save(workdir / CALIBRATION, rng.random((20, 128, 128, 3), dtype=np.float32))

    def command(self, src: Path, workdir: Path, options: Mapping[str, object], prepared: onnx.ModelProto) -> list[str]:
        exe = shutil.which("onnx2tf", path=str(Path(sys.executable).parent)) or "onnx2tf"
        return [exe, "-i", str(src), "-o", str(workdir / "out"), "-n", "-coion", *FLAGS]

    def collect(self, workdir: Path, dest: Path, options: Mapping[str, object]) -> str:
        name = _FILES[str(options.get("precision", "fp32"))]
        move(workdir / "out", dest, name)
        return name

    def unsupported(self, dest: Path, main: str) -> list[str]:
        """Select (Flex) TF ops in the TFLite file: LiteRT's interpreter has no Flex delegate and refuses them
        ("Select TensorFlow op(s), included in the given model, is(are) not supported by this interpreter")."""
        found = _FLEX.findall((dest / main).read_bytes())
        return [f"Flex{op.decode()}" for op in dict.fromkeys(found)]
