"""ONNX to ncnn with pnnx, ncnn's own converter, run as its native executable.

``pip install pnnx`` would pull CUDA torch for pnnx's Python helpers; the
executable inside the package needs none, so facade installs it with
``--no-deps`` and runs the binary. Weights are written in fp32 (``fp16=0``):
reduced precision is the runtime's choice (LoadOptions.precision), not the file's.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

import onnx
from onnx import TensorProto

from facade.adapters.base import Availability
from facade.convert.base import Converter, move, package_version
from facade.devices import package_dir

PARAM, BIN = "model.ncnn.param", "model.ncnn.bin"
_DTYPES = {TensorProto.FLOAT: "f32", TensorProto.FLOAT16: "f16", TensorProto.INT64: "i64",
           TensorProto.INT32: "i32", TensorProto.INT8: "i8", TensorProto.UINT8: "u8"}


def executable() -> Path | None:
    """The pnnx binary: the one inside the ``pnnx`` package, else one on PATH."""
    pkg = package_dir("pnnx")
    if pkg is not None and (pkg / "pnnx").is_file():
        return pkg / "pnnx"
    found = shutil.which("pnnx")
    return Path(found) if found else None


def input_shapes(proto: onnx.ModelProto) -> str:
    """pnnx's ``inputshape=`` value: each graph input's static shape and dtype, in ONNX order."""
    initializers = {t.name for t in proto.graph.initializer}
    parts = []
    for vi in proto.graph.input:
        if vi.name in initializers:
            continue
        t = vi.type.tensor_type
        dims = ",".join(str(d.dim_value) for d in t.shape.dim)
        parts.append(f"[{dims}]{_DTYPES.get(t.elem_type, 'f32')}")
    return ",".join(parts)


class PnnxConverter(Converter):
    name = "pnnx"
    produces = "ncnn"
    timeout_s = 300.0

    def available(self) -> Availability:
        exe = executable()
        if exe is None:
            return Availability.no("the pnnx executable is not installed; pip install --no-deps pnnx")
        return Availability.yes(str(exe))

    def version(self) -> str:
        return package_version("pnnx") or f"binary {executable()}"

    def command(self, src: Path, workdir: Path, options: Mapping[str, object], prepared: onnx.ModelProto) -> list[str]:
        return [str(executable()), str(src), f"inputshape={input_shapes(prepared)}", "fp16=0",
                f"ncnnparam={PARAM}", f"ncnnbin={BIN}", "pnnxparam=model.pnnx.param", "pnnxbin=model.pnnx.bin",
                "pnnxpy=model_pnnx.py", "ncnnpy=model_ncnn.py", "pnnxonnx=model.pnnx.onnx"]

    def collect(self, workdir: Path, dest: Path, options: Mapping[str, object]) -> str:
        move(workdir, dest, PARAM, BIN)
        return PARAM
