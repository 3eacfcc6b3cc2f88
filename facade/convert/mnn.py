"""ONNX to MNN with MNN's own converter, called as the extension module ``_tools``.

The ``mnnconvert`` wrapper script in the MNN wheel imports a logger that runs
``pip install -U aliyun-log-python-sdk`` when it is missing (which downgraded
protobuf below what ``onnx`` needs) and sends usage data to a remote log service.
Facade never calls that wrapper: the child process calls ``_tools.mnnconvert``
directly, which is all the wrapper itself does to convert.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

import onnx

from facade.convert.base import Converter, move, package_version
from facade.convert.causes import LogPattern
from facade.devices import package_dir
from facade.targets import Availability

MODEL = "model.mnn"
# Converter options (part of the version, hence of the cache key). MNN 3.6 computes an Erf-form GELU
# with its tanh approximation unless told: ConvNeXt's logits then differ by 1.5e-4, wav2vec2's by 5.9e-4.
FLAGS: tuple[str, ...] = ("--useGeluApproximation", "0")
# The child: convert, then fail loudly if no file was written (the extension's return value is not documented).
_CHILD = ("import sys, os, _tools; _tools.mnnconvert(sys.argv[1:]); "
          "sys.exit(0 if os.path.getsize(sys.argv[sys.argv.index('--MNNModel') + 1]) > 0 else 3)")


class MnnConverter(Converter):
    name = "mnnconvert"
    produces = "mnn"
    needs_static_shapes = False  # MNN resizes at run time
    # "These Op Not Support: ONNX::IsNaN" (transformers' BERT/CLIP masks); Gelu: see prepare.LOWERINGS.
    lower = ("IsNaN", "Gelu")
    log_causes = (LogPattern(r"These Op Not Support: (?P<op>[^\n]+)", "{engine} has no operator for {op}"),)

    def available(self) -> Availability:
        if package_dir("_tools") is None or package_version("MNN") is None:
            return Availability.no("MNN's converter is not installed; pip install 'facade-runtime[mnn]'")
        return Availability.yes()

    def version(self) -> str:
        return f"{package_version('MNN') or 'unknown'} {' '.join(FLAGS)}"

    def command(self, src: Path, workdir: Path, options: Mapping[str, object], prepared: onnx.ModelProto) -> list[str]:
        return [sys.executable, "-I", "-c", _CHILD, "mnnconvert", "-f", "ONNX", "--modelFile", str(src),
                "--MNNModel", str(workdir / MODEL), "--bizCode", "facade", *FLAGS]

    def collect(self, workdir: Path, dest: Path, options: Mapping[str, object]) -> str:
        move(workdir, dest, MODEL)
        return MODEL
