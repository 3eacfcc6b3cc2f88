"""SNPE (Qualcomm AI runtime SDK): ``snpe:cpu``, ``snpe:gpu``, ``snpe:dsp`` through ``snpe-net-run``.

The SDK's documented contract, which this module follows:

* ``snpe-net-run --container <dlc> --input_list <file> [--output_dir <dir>]``, the
  runtime chosen by ``--use_gpu`` or ``--use_dsp`` (CPU is the default and has no
  flag). Sources: the tool's ``--help`` ("REQUIRED ARGUMENTS: --container ...
  --input_list ..."), Qualcomm's "Run models" page (docs.qualcomm.com, 80-70018-15B:
  "${QAIRT_ROOT}/bin/x86_64-linux-clang/snpe-net-run --container ... --input_list
  ... --output_dir ...", "SNPE's default runtime is CPU").
* Inputs are raw files of float32 values unless ``--use_native_input_files`` is
  given (SNPE 2.5.0 release notes: "inputs in their native format as opposed to
  default float32 format"); written little-endian, as every SNPE host and device is.
* 4-D image tensors are NHWC ("Input Image Formatting": "In SNPE, the image must be
  presented as a tensor of shape (batch x height x width x channel)"); other
  ranks keep the ONNX order.
* The input list has one line per inference of space-separated ``name:=path``
  pairs; an optional first line starting with ``#`` or ``%`` names the outputs to
  write (``snpe-dlc-graph-prepare --input_list`` doc, QAIRT 2.39). Facade leaves it
  out, so the network's own outputs are written.
* Outputs land in ``<output_dir>/Result_<line index>/<output tensor name>.raw``
  (float32). The docs do not say how a name with ``/`` or ``:`` becomes a file
  name: a ``/`` is used as a path separator, so the name is read as a relative path
  first and then in the sanitized spelling converters use; a missing output is an
  error that lists the files found, never a guess.

Contract tests (tests/adapters/test_snpe_contract.py) check this against a test
double of the SDK; no real SNPE runtime has run this code on this project's CI.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np

from facade import childproc
from facade.adapters.base import Availability, LoadOptions, Runner
from facade.adapters.converted import ConvertedRunner, ConvertingAdapter
from facade.adapters.io_contract import CHANNELS_LAST, Binding, IOContract, sanitized
from facade.convert.cache import Artifact
from facade.convert.child import tail
from facade.convert.snpe import sdk_availability, sdk_tool
from facade.devices import DeviceFacts
from facade.errors import TargetUnavailableError, format_message
from facade.model import Model
from facade.targets import HardwareClass, Unit

RUNTIME_FLAGS = {"cpu": [], "gpu": ["--use_gpu"], "dsp": ["--use_dsp"]}


def layout_perm(rank: int) -> tuple[int, ...] | None:
    """SNPE keeps 4-D tensors channels last; other ranks keep the ONNX order."""
    return CHANNELS_LAST[4] if rank == 4 else None


def write_inputs(workdir: Path, feeds: dict[str, np.ndarray]) -> Path:
    """The raw files and the input list for one inference; returns the list's path."""
    if any(c.isspace() for c in str(workdir)):
        raise TargetUnavailableError(format_message(
            "The input list separates name:=path pairs by spaces, and the scratch directory's path has one",
            where="snpe", received=str(workdir), expected="a TMPDIR without whitespace"))
    pairs = []
    for i, (name, arr) in enumerate(feeds.items()):
        raw = workdir / f"input_{i}.raw"
        np.ascontiguousarray(arr, dtype="<f4").tofile(raw)
        pairs.append(f"{name}:={raw}")
    listing = workdir / "input_list.txt"
    listing.write_text(" ".join(pairs) + "\n")
    return listing


def result_file(result_dir: Path, name: str) -> Path | None:
    """The raw file ``snpe-net-run`` wrote for output ``name`` in ``Result_<i>``, if any (see module doc)."""
    # The tool joins "<dir>/" and the name as strings, so "/a/b" lands in <dir>/a/b.raw.
    for candidate in dict.fromkeys([name.lstrip("/"), name.lstrip("/").replace(":", "_"), sanitized(name)]):
        path = result_dir / f"{candidate}.raw"
        if path.is_file():
            return path
    return None


def read_outputs(result_dir: Path, names: Sequence[str], where: str) -> dict[str, np.ndarray]:
    """Each output's float32 values from ``result_dir``, flat; a missing one raises, listing what is there."""
    out = {}
    for name in names:
        path = result_file(result_dir, name)
        if path is None:
            found = sorted(str(p.relative_to(result_dir)) for p in result_dir.rglob("*.raw")) \
                if result_dir.is_dir() else []
            raise TargetUnavailableError(format_message(
                "snpe-net-run wrote no file for an output", where=where,
                received=found or f"no {result_dir.name} directory", expected=f"{result_dir.name}/{name}.raw"))
        out[name] = np.fromfile(path, dtype="<f4")
    return out


def net_run(argv: list[str], where: str) -> None:
    """Run ``snpe-net-run``; a non-zero exit or a hang raises with the end of its stderr."""
    done = childproc.run(argv, timeout_s=childproc.timeout("start"))
    if done.hung:
        raise TargetUnavailableError(format_message(
            f"snpe-net-run {done.how}", where=where, received=tail(done.stderr) or "no output"))
    if done.returncode != 0:
        raise TargetUnavailableError(format_message(
            f"snpe-net-run exited with {done.returncode}", where=where,
            received=tail(done.stderr) or tail(done.stdout) or "no output",
            expected="exit status 0 and Result_0/ in the output directory"))


class SnpeAdapter(ConvertingAdapter):
    """``snpe:*`` targets, run by the SDK's ``snpe-net-run`` in a child process."""

    engine = "snpe"
    units: ClassVar = {
        "cpu": Unit(HardwareClass.CPU),
        "gpu": Unit(HardwareClass.GPU),
        "dsp": Unit(HardwareClass.NPU, api="snpe"),
    }
    artifact_format = "dlc"
    converter = "snpe-onnx-to-dlc"

    def available(self, unit: str, facts: DeviceFacts) -> Availability:
        sdk = sdk_availability("snpe-net-run")
        if not sdk:
            return sdk
        if unit == "dsp" and facts.accelerator("snpe") is None and facts.os != "android":
            return Availability.no("the SNPE DSP runtime needs a Qualcomm Hexagon DSP; none was detected")
        return Availability.yes()

    def open_artifact(self, artifact: Artifact, model: Model, unit: str, options: LoadOptions) -> Runner:
        target = f"{self.engine}:{unit}"
        exe = sdk_tool("snpe-net-run")
        shapes = artifact.io.get("output_shapes") or {}
        contract = IOContract(
            inputs=tuple(Binding(s, s.name, layout_perm(len(s.shape or ())), np.dtype(np.float32))
                         for s in model.inputs),
            outputs=tuple(Binding(s, s.name, layout_perm(len(s.shape or ()))) for s in model.outputs),
            per_sample=True, output_shapes=shapes, fresh_outputs=True)  # read from files: new arrays

        def invoke(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            with tempfile.TemporaryDirectory(prefix="facade-snpe-") as tmp:
                work = Path(tmp)
                listing = write_inputs(work, feeds)
                net_run([str(exe), "--container", str(artifact.main), "--input_list", str(listing),
                         "--output_dir", str(work / "out"), *RUNTIME_FLAGS[unit]], target)
                flat = read_outputs(work / "out" / "Result_0", [b.engine_name for b in contract.outputs], target)
            out = {}
            for b in contract.outputs:
                shape = shapes.get(b.spec.name) or list(b.spec.concrete_shape(1))
                out[b.engine_name] = flat[b.engine_name].reshape([shape[i] for i in b.perm] if b.perm else shape)
            return out

        return ConvertedRunner(target, model, contract, invoke, "fp32")
