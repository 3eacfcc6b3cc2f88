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

from facade.convert.base import Converter, move, package_version
from facade.convert.causes import LogPattern
from facade.devices import package_dir
from facade.errors import ConversionError, format_message
from facade.targets import Availability

CALIBRATION = "calibration_image_sample_data_20x128x128x3_float32.npy"
_FILES = {"fp32": "model_float32.tflite", "fp16": "model_float16.tflite", "int8": "model_full_integer_quant.tflite"}
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


class Onnx2TfInt8(Onnx2TfConverter):
    """onnx2tf's full-integer quantization (``-oiqt``) calibrated on the caller's samples, never on its defaults.

    Each float input's calibration samples are written as one ``.npy`` stack, channels
    last for 4-D inputs (TensorFlow's layout, which onnx2tf feeds its calibrator),
    and passed with ``-cind NAME FILE 0 1`` (mean 0, std 1: the samples are used
    as given). Inputs and outputs stay float32 (``-iqd/-oqd float32``), so the ONNX
    contract holds; the graph between computes in int8. TensorFlow's calibrator
    takes float inputs only: a model with integer inputs is refused before TF runs.
    """

    def __init__(self, calibration):
        self.calibration = calibration

    def options(self) -> dict[str, object]:
        """This converter's options: int8 and the calibration data's digest (part of the cache key)."""
        return {"precision": "int8", "calibration": self.calibration.digest}

    def command(self, src: Path, workdir: Path, options: Mapping[str, object], prepared: onnx.ModelProto) -> list[str]:
        calibrate, _ = self.calibration.split()
        args = []
        for name in calibrate[0]:
            stack = np.concatenate([s[name] for s in calibrate])
            if stack.dtype.kind != "f":
                raise ConversionError(format_message(
                    f"onnx2tf's integer quantization takes float inputs only; input {name!r} is {stack.dtype}",
                    where=f"{self.name} int8", expected="a model whose inputs are all float"))
            path = workdir / f"calibration_{len(args)}.npy"
            np.save(path, np.moveaxis(stack, 1, -1) if stack.ndim == 4 else stack)
            args += ["-cind", name, str(path), "[0.0]", "[1.0]"]
        return [*super().command(src, workdir, options, prepared), "-oiqt", "-iqd", "float32", "-oqd", "float32",
                *args]
