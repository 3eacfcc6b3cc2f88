"""ncnn (Tencent): ``ncnn:cpu`` and ``ncnn:vulkan``, fed by pnnx conversions.

ncnn's defaults compute in reduced precision (fp16/bf16 storage and arithmetic);
facade turns all of that off unless the caller allows fp16, so engines agree, and
the runner's ``precision`` says which ran. ncnn has no batch axis: where pnnx
stripped one (its ``batch_index=0``), the IO contract feeds one sample at a time.
A ``Mat`` made from numpy shares its memory, so it is cloned before the array can
be freed under it.
"""

from __future__ import annotations

import re
from typing import ClassVar

import numpy as np

from facade.adapters.base import (
    Availability,
    LoadOptions,
    Runner,
    native_output,
    resolve_threads,
    stdout_to_stderr,
)
from facade.adapters.converted import ConvertedRunner, ConvertingAdapter
from facade.adapters.io_contract import Binding, IOContract
from facade.convert.cache import Artifact
from facade.convert.pnnx import NO_BATCH
from facade.devices import DeviceFacts
from facade.errors import ConversionError, format_message
from facade.model import Model
from facade.quantization import gate
from facade.targets import HardwareClass, Unit

_FP16 = ("use_fp16_packed", "use_fp16_storage", "use_fp16_arithmetic")
INT8_WHY = ("the installed ncnn wheel ships no ncnn2table/ncnn2int8 (ncnn's int8 calibration tools) and pnnx "
            "writes float models only")
_OFF = ("use_bf16_storage", "use_bf16_packed", "use_int8_inference")


def sample_shapes(shapes: dict | None, model: Model, blobs, batch_index: dict[str, int]) -> dict | None:
    """The ONNX outputs' shapes for one sample: a blob pnnx stripped of its batch axis comes out of ncnn one
    sample at a time, so a model converted at a static batch of 2 ([2, 10]) gives [10] per run, read as [1, 10]."""
    if not shapes:
        return shapes
    per_sample = dict(shapes)
    for spec, blob in zip(model.outputs, blobs, strict=True):
        shape = per_sample.get(spec.name)
        if shape and batch_index.get(blob, 0) != NO_BATCH:
            per_sample[spec.name] = [1, *shape[1:]]
    return per_sample


def blob_names(param_text: str, prefix: str) -> list[str]:
    """pnnx's blobs ``in0, in1, ...`` or ``out0, out1, ...`` in the param file, by number."""
    found = set(re.findall(rf"\b{prefix}(\d+)\b", param_text))
    return [f"{prefix}{i}" for i in sorted(map(int, found))]


class NcnnAdapter(ConvertingAdapter):
    """``ncnn:cpu`` and ``ncnn:vulkan`` (``LoadOptions.engine['gpu']`` picks the Vulkan device)."""

    engine = "ncnn"
    units: ClassVar = {"cpu": Unit(HardwareClass.CPU), "vulkan": Unit(HardwareClass.GPU, api="vulkan")}
    modules = ("ncnn",)
    extra = "ncnn"
    artifact_format = "ncnn"
    converter = "pnnx"

    def available(self, unit: str, facts: DeviceFacts) -> Availability:
        base = self.installed()
        if not base or unit == "cpu":
            return base
        devices = facts.gpu_devices("vulkan")
        if not devices:
            return Availability.no("no Vulkan device was found (install a driver, e.g. mesa-vulkan-drivers)"
                                   + (f"; {'; '.join(facts.probe_errors)}" if facts.probe_errors else ""))
        return Availability.yes(", ".join(d.name for d in devices))

    def load(self, model: Model, unit: str, options: LoadOptions) -> Runner:
        if gate.wanted(options):
            return gate.without_int8(lambda fp: super(NcnnAdapter, self).load(model, unit, fp), options, INT8_WHY)
        return super().load(model, unit, options)

    def open_artifact(self, artifact: Artifact, model: Model, unit: str, options: LoadOptions) -> Runner:
        target = f"{self.engine}:{unit}"
        try:
            import ncnn
        except ImportError as e:
            raise self.unavailable(unit, f"ncnn failed to import ({e}); pip install 'facade-runtime[ncnn]'") from e
        net = ncnn.Net()
        fp16 = options.precision != "fp32"
        for flag in _FP16:
            setattr(net.opt, flag, fp16)
        for flag in _OFF:
            setattr(net.opt, flag, False)
        net.opt.num_threads = resolve_threads(options)
        if unit == "vulkan":
            net.opt.use_vulkan_compute = True
            with stdout_to_stderr():
                net.set_vulkan_device(int(options.engine.get("gpu", 0)))
        param = artifact.main
        with native_output() as printed:
            failed = net.load_param(str(param)) != 0 or net.load_model(str(param.with_suffix(".bin"))) != 0
        if failed:
            said = f" (ncnn: {'; '.join(printed[-3:])})" if printed else ""
            raise ConversionError(format_message(f"ncnn could not load the model pnnx wrote{said}", where=target,
                                                 received=str(param), expected="a loadable .param/.bin pair"))
        text = param.read_text()
        batch_index = artifact.io.get("batch_index", {})

        def bind(specs, blobs) -> tuple[Binding, ...]:
            return tuple(Binding(s, n, batch_axis=batch_index.get(n, 0) == NO_BATCH)
                         for s, n in zip(specs, blobs, strict=True))

        out_blobs = blob_names(text, "out")
        contract = IOContract(inputs=bind(model.inputs, blob_names(text, "in")),
                              outputs=bind(model.outputs, out_blobs), per_sample=True,
                              output_shapes=sample_shapes(artifact.io.get("output_shapes"), model, out_blobs,
                                                          batch_index),
                              fresh_outputs=True)  # np.array(mat) below copies out of ncnn's Mat

        def invoke(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            with net.create_extractor() as ex:
                for name, arr in feeds.items():
                    ex.input(name, ncnn.Mat(arr).clone())
                out = {}
                for b in contract.outputs:
                    ret, mat = ex.extract(b.engine_name)
                    if ret != 0:
                        raise ConversionError(format_message(f"ncnn failed to compute blob {b.engine_name}",
                                                             where=target, received=f"return code {ret}"))
                    out[b.engine_name] = np.array(mat)
                return out

        return ConvertedRunner(target, model, contract, invoke, "fp16" if fp16 else "fp32", close=net.clear)
