"""ONNX to Core ML with coremltools (runs on Linux; predicting needs macOS).

coremltools dropped its ONNX frontend (coremltools 6+; 9 has only the PyTorch,
TensorFlow and MIL frontends), so the documented route from ONNX is ONNX ->
PyTorch (``onnx2torch``) -> TorchScript -> ``coremltools.convert`` as an ML
program at fp32 (fp16 when the caller allows it). Without torch and onnx2torch
the converter says so and the Core ML targets are unavailable for ONNX models.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

import onnx

from facade.adapters.base import Availability
from facade.convert.base import Converter, move, package_version
from facade.devices import package_dir

PACKAGE = "model.mlpackage"
_CHILD = """
import sys, onnx, torch, numpy as np, coremltools as ct
from onnx2torch import convert
src, dest, precision = sys.argv[1:4]
proto = onnx.load(src)
inits = {t.name for t in proto.graph.initializer}
ins = [i for i in proto.graph.input if i.name not in inits]
shapes = [[d.dim_value for d in i.type.tensor_type.shape.dim] for i in ins]
module = convert(proto).eval()
examples = tuple(torch.zeros(s) for s in shapes)
traced = torch.jit.trace(module, examples)
model = ct.convert(traced, inputs=[ct.TensorType(name=i.name, shape=s) for i, s in zip(ins, shapes)],
                   outputs=[ct.TensorType(name=o.name) for o in proto.graph.output], convert_to="mlprogram",
                   compute_precision=ct.precision.FLOAT32 if precision == "fp32" else ct.precision.FLOAT16)
model.save(dest)
"""


class CoreMlConverter(Converter):
    name = "coremltools"
    produces = "coreml"

    def available(self) -> Availability:
        if package_dir("coremltools") is None:
            return Availability.no("coremltools is not installed; pip install 'facade-runtime[coreml]'")
        for module in ("torch", "onnx2torch"):
            if package_dir(module) is None:
                return Availability.no(f"coremltools {package_version('coremltools')} has no ONNX frontend; "
                                       f"ONNX -> Core ML goes through PyTorch and {module} is not installed "
                                       "(pip install torch onnx2torch)")
        return Availability.yes()

    def version(self) -> str:
        return f"coremltools {package_version('coremltools')}, onnx2torch {package_version('onnx2torch')}"

    def options_for(self, precision: str) -> dict[str, object]:
        return {"precision": "fp32" if precision == "fp32" else "fp16"}

    def command(self, src: Path, workdir: Path, options: Mapping[str, object], prepared: onnx.ModelProto) -> list[str]:
        return [sys.executable, "-I", "-c", _CHILD, str(src), str(workdir / PACKAGE),
                str(options.get("precision", "fp32"))]

    def collect(self, workdir: Path, dest: Path, options: Mapping[str, object]) -> str:
        move(workdir, dest, PACKAGE)
        return PACKAGE
