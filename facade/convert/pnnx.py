"""ONNX to ncnn with pnnx, ncnn's own converter, run as its native executable.

``pip install pnnx`` would pull CUDA torch for pnnx's Python helpers; the
executable inside the package needs none, so facade installs it with
``--no-deps`` and runs the binary. Weights are written in fp32 (``fp16=0``):
reduced precision is the runtime's choice (LoadOptions.precision), not the file's.
pnnx strips a leading axis it recognises as a batch (one a convolution reads)
and keeps others (a ``[4, 16]`` MatMul input); the inference script it writes
says which, per blob (``batch_index=0`` or ``233``), and the adapter follows it.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping
from pathlib import Path

import onnx
from onnx import TensorProto

from facade.convert.base import Converter, move, package_version
from facade.convert.causes import LogPattern
from facade.devices import package_dir
from facade.targets import Availability

PARAM, BIN, SCRIPT = "model.ncnn.param", "model.ncnn.bin", "model_ncnn.py"
NO_BATCH = 233  # ncnn's "no batch axis" batch_index
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
    # pnnx 20261020 bundles onnxruntime 1.30: "Unsupported model IR version: 14, max supported IR
    # version: 13" and "Current official support for domain ai.onnx is till opset 26", then signal 11.
    max_ir_version = 13
    max_opset = 26
    log_causes = (
        # pnnx runs the model in its onnxruntime on inputs it makes up; its integer ids overflow small tables.
        LogPattern(r"ort Run failed .*?running (?P<op>\w+) node\. Name:'(?P<node>[^']+)' Status Message: "
                   r"(?P<why>[^\n]{0,120})",
                   "pnnx runs the model on inputs it makes up, and ONNX Runtime refused them at {op} node {node} "
                   "({why}): integer inputs that index a table (token ids) cannot be converted for {engine}"),
    )

    def available(self) -> Availability:
        exe = executable()
        if exe is None:
            return Availability.no("the pnnx executable is not installed; pip install --no-deps pnnx")
        return Availability.yes(str(exe))

    def version(self) -> str:
        # ncnn's version too: which layers it registers decides whether an artifact is refused (:meth:`unsupported`).
        return f"{package_version('pnnx') or f'binary {executable()}'}, ncnn {package_version('ncnn')}"

    def command(self, src: Path, workdir: Path, options: Mapping[str, object], prepared: onnx.ModelProto) -> list[str]:
        return [str(executable()), str(src), f"inputshape={input_shapes(prepared)}", "fp16=0",
                f"ncnnparam={PARAM}", f"ncnnbin={BIN}", "pnnxparam=model.pnnx.param", "pnnxbin=model.pnnx.bin",
                "pnnxpy=model_pnnx.py", f"ncnnpy={SCRIPT}", "pnnxonnx=model.pnnx.onnx"]

    def collect(self, workdir: Path, dest: Path, options: Mapping[str, object]) -> str:
        move(workdir, dest, PARAM, BIN)
        return PARAM

    def unsupported(self, dest: Path, main: str) -> list[str]:
        """Layer types in the param file that this ncnn does not register (pnnx writes torch-level layers such
        as ``Tensor.to`` it could not lower; ncnn then logs "layer Tensor.to not exists or registered")."""
        try:
            import ncnn
        except ImportError:  # nothing to check against: the adapter reports ncnn missing
            return []
        return [t for t in dict.fromkeys(layer_types((dest / main).read_text())) if ncnn.layer_to_index(t) < 0]

    def io_facts(self, workdir: Path) -> dict:
        """``{"batch_index": {blob: 0 | 233}}`` from pnnx's ncnn script (empty if it wrote none)."""
        try:
            return {"batch_index": batch_indices((workdir / SCRIPT).read_text())}
        except OSError:
            return {}


def layer_types(param: str) -> list[str]:
    """Each layer's type in an ncnn param file (after its magic number and layer/blob counts line)."""
    return [line.split()[0] for line in param.splitlines()[2:] if line.strip()]


def batch_indices(script: str) -> dict[str, int]:
    """Each blob's ``batch_index`` in pnnx's ncnn script: ``ex.input("in0", ncnn.Mat(in0.numpy(),
    batch_index=0)...)`` for inputs, ``out0.numpy(batch_index=0)`` for outputs."""
    found = {name: int(i) for name, i in re.findall(r'ex\.input\("(\w+)",\s*ncnn\.Mat\(.*?batch_index=(\d+)', script)}
    found |= {name: int(i) for name, i in re.findall(r"\b(out\d+)\.numpy\(batch_index=(\d+)\)", script)}
    return found
