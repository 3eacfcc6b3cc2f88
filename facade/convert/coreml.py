"""ONNX to Core ML with coremltools (runs on Linux; predicting needs macOS).

coremltools dropped its ONNX frontend (coremltools 6+; 9 has only the PyTorch,
TensorFlow and MIL frontends), so the documented route from ONNX is ONNX ->
PyTorch (``onnx2torch``) -> TorchScript -> ``coremltools.convert`` as an ML
program at fp32 (fp16 when the caller allows it). Without torch and onnx2torch
the converter says so and the Core ML targets are unavailable for ONNX models.

Measured on Linux x86-64 (Python 3.11): coremltools 9.0 converts a model traced
with torch 2.13.0+cpu (it warns that torch 2.13 is untested, 2.7 being the newest
tested). The route still fails here: every onnx2torch release (1.0.0-1.5.15)
imports torchvision when imported (its NMS and RoiAlign converters), and the only
torchvision wheel for torch 2.13 on PyPI (0.28.0) is a CUDA build whose ``_C.so``
needs ``libtorch_cuda.so``, absent from the CPU torch wheel, so ``import
torchvision`` raises "operator torchvision::nms does not exist". Availability
therefore imports onnx2torch in a child process once and quotes the failure.
"""

from __future__ import annotations

import functools
import platform
import sys
from collections.abc import Mapping
from pathlib import Path

import onnx

from facade import childproc
from facade.convert.base import Converter, move, package_version
from facade.convert.child import tail
from facade.devices import package_dir
from facade.targets import Availability

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


FRONTEND = ("torch", "torchvision", "onnx2torch")  # onnx2torch imports torchvision when imported


@functools.lru_cache(maxsize=8)
def import_problem(modules: tuple[str, ...], versions: tuple[str, ...] = ()) -> str | None:
    """Why ``modules`` fail to import, from a child process (the last line of its error), or None.

    ``versions`` is only the cache key: a package upgrade in a long-lived process asks again.
    """
    code = "".join(f"import {m}\n" for m in modules)
    done = childproc.run([sys.executable, "-I", "-c", code], timeout_s=childproc.timeout("start"))
    if done.hung:
        return f"importing {', '.join(modules)} hung for {done.timeout_s:g} s"
    return None if done.returncode == 0 else tail(done.stderr, 1) or f"exit status {done.returncode}"


def _cuda_mismatch() -> str:
    """The likely cause when torch is a CPU build and torchvision is not (their native code must match)."""
    torch_v, vision_v = package_version("torch") or "", package_version("torchvision") or ""
    if "+cpu" in torch_v and "+cpu" not in vision_v:
        return (f" (torchvision {vision_v} is a CUDA build; its native library needs libtorch_cuda.so, which "
                f"torch {torch_v} lacks: install the CPU build of torchvision)")
    return ""


class CoreMlConverter(Converter):
    name = "coremltools"
    produces = "coreml"

    def available(self) -> Availability:
        if package_dir("coremltools") is None:
            return Availability.no("coremltools is not installed; pip install 'facade-runtime[coreml]'")
        for module in FRONTEND:
            if package_dir(module) is None:
                return Availability.no(f"coremltools {package_version('coremltools')} has no ONNX frontend; "
                                       f"ONNX -> Core ML goes through PyTorch (onnx2torch) and {module} is not "
                                       "installed (it needs torch, a torchvision build for that torch, and "
                                       "onnx2torch)")
        versions = tuple(f"{m} {package_version(m)}" for m in FRONTEND)
        problem = import_problem(("onnx2torch",), versions)
        if problem:
            return Availability.no(f"ONNX -> Core ML goes through onnx2torch, which does not import here "
                                   f"({', '.join(versions)}): {problem}{_cuda_mismatch()}")
        return Availability.yes()

    def unverified_reason(self) -> str:
        if platform.system() != "Darwin":
            return "not verified: no Core ML runtime on this OS"
        return super().unverified_reason()

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
