"""SNPE (Qualcomm AI runtime SDK): ``snpe:cpu``, ``snpe:gpu``, ``snpe:dsp`` through ``snpe-net-run``.

The SDK's documented file contract: each input is a raw little-endian float32
file in the DLC's layout (the converter makes 4-D image tensors NHWC); an input
list names them, one line per inference, ``name:=path`` pairs separated by
spaces; ``snpe-net-run`` writes ``<output_dir>/Result_<i>/<output name>.raw``.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np

from facade.adapters.base import Availability, LoadOptions, Runner
from facade.adapters.converted import ConvertedRunner, ConvertingAdapter
from facade.adapters.io_contract import CHANNELS_LAST, Binding, IOContract
from facade.convert.cache import Artifact
from facade.convert.child import tail
from facade.convert.snpe import sdk_tool
from facade.devices import DeviceFacts
from facade.errors import ConversionError, format_message
from facade.model import Model

RUNTIME_FLAGS = {"cpu": [], "gpu": ["--use_gpu"], "dsp": ["--use_dsp"]}
RUN_TIMEOUT_S = 120.0


def layout_perm(rank: int) -> tuple[int, ...] | None:
    """SNPE keeps 4-D tensors channels last; other ranks keep the ONNX order."""
    return CHANNELS_LAST[4] if rank == 4 else None


def write_inputs(workdir: Path, feeds: dict[str, np.ndarray]) -> Path:
    """The raw files and the input list for one inference; returns the list's path."""
    pairs = []
    for i, (name, arr) in enumerate(feeds.items()):
        raw = workdir / f"input_{i}.raw"
        np.ascontiguousarray(arr, dtype="<f4").tofile(raw)
        pairs.append(f"{name}:={raw}")
    listing = workdir / "input_list.txt"
    listing.write_text(" ".join(pairs) + "\n")
    return listing


class SnpeAdapter(ConvertingAdapter):
    """``snpe:*`` targets, run by the SDK's ``snpe-net-run`` in a child process."""

    engine = "snpe"
    units = ("cpu", "gpu", "dsp")
    artifact_format = "dlc"
    converter = "snpe-onnx-to-dlc"

    def available(self, unit: str, facts: DeviceFacts) -> Availability:
        if sdk_tool("snpe-net-run") is None:
            return Availability.no("the Qualcomm SNPE SDK is not installed (set SNPE_ROOT to it)")
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
            per_sample=True, output_shapes=shapes)

        def invoke(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            with tempfile.TemporaryDirectory(prefix="facade-snpe-") as tmp:
                work = Path(tmp)
                listing = write_inputs(work, feeds)
                argv = [str(exe), "--container", str(artifact.main), "--input_list", str(listing),
                        "--output_dir", str(work / "out"), *RUNTIME_FLAGS[unit]]
                done = subprocess.run(argv, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
                if done.returncode != 0:
                    raise ConversionError(format_message("snpe-net-run failed", where=target,
                                                         received=tail(done.stdout + done.stderr)))
                out = {}
                for b in contract.outputs:
                    flat = np.fromfile(work / "out" / "Result_0" / f"{b.engine_name}.raw", dtype="<f4")
                    shape = shapes.get(b.spec.name) or list(b.spec.concrete_shape(1))
                    out[b.engine_name] = flat.reshape([shape[i] for i in b.perm] if b.perm else shape)
                return out

        return ConvertedRunner(target, model, contract, invoke, "fp32")
