"""LiteRT (TensorFlow Lite): ``litert:cpu`` (XNNPACK), ``litert:gpu`` and ``litert:nnapi`` by delegate.

The interpreter comes from ``ai_edge_litert`` (``tflite_runtime`` 2.14 does not
import under numpy 2; it is used only where it is what is installed and it
imports). onnx2tf moves NCHW tensors channels last; the IO contract finds each
tensor's permutation from the shapes and transposes back. An external delegate
is loaded from ``LoadOptions.engine['delegate']`` (a shared library path).
"""

from __future__ import annotations

import re
from typing import ClassVar

import numpy as np

from facade.adapters.base import Availability, LoadOptions, Runner, resolve_threads
from facade.adapters.converted import ConvertedRunner, ConvertingAdapter
from facade.adapters.io_contract import Binding, IOContract, find_permutation, match_names
from facade.convert import cache
from facade.convert.cache import Artifact
from facade.convert.onnx2tf import Onnx2TfInt8
from facade.devices import DeviceFacts, package_dir
from facade.errors import ConversionError, format_message
from facade.model import Model
from facade.quantization import gate
from facade.targets import HardwareClass, Unit

# Delegate libraries by unit, as Android/iOS builds ship them.
_DELEGATES = {"gpu": "libtensorflowlite_gpu_delegate.so", "nnapi": "libnnapi_delegate.so"}


def interpreter_module():
    """``ai_edge_litert.interpreter``, else ``tflite_runtime.interpreter`` where that imports."""
    try:
        from ai_edge_litert import interpreter
    except ImportError:
        from tflite_runtime import interpreter  # only where it is installed and imports (numpy < 2)
    return interpreter


def _order(name: str) -> tuple[int, str]:
    """onnx2tf names outputs ``Identity``, ``Identity_1``, ... in ONNX order."""
    m = re.search(r"_(\d+)$", name)
    return (int(m.group(1)) if m else 0, name)


def _tensors(it) -> tuple[dict, dict]:
    """Input and output tensor details by name.

    The model's signature names where it has one signature: onnx2tf's ``-coion``
    keeps the ONNX names there, while its tensor names may be ``serving_default_a:0``
    and ``PartitionedCall:3`` (outputs in no useful order). Else the tensor names,
    outputs in onnx2tf's ``Identity_N`` order.
    """
    signatures = it.get_signature_list()
    if len(signatures) == 1:
        runner = it.get_signature_runner(next(iter(signatures)))
        return dict(runner.get_input_details()), dict(runner.get_output_details())
    return ({d["name"]: d for d in it.get_input_details()},
            {d["name"]: d for d in sorted(it.get_output_details(), key=lambda d: _order(d["name"]))})


class LiteRtAdapter(ConvertingAdapter):
    """``litert:cpu``, ``litert:gpu``, ``litert:nnapi``."""

    engine = "litert"
    units: ClassVar = {
        "cpu": Unit(HardwareClass.CPU),
        "gpu": Unit(HardwareClass.GPU),
        "nnapi": Unit(HardwareClass.NPU),
    }
    modules = ("ai_edge_litert",)
    extra = "litert"
    artifact_format = "tflite"
    converter = "onnx2tf"

    def installed(self, modules: tuple[str, ...] | None = None) -> Availability:
        if modules is None and package_dir("ai_edge_litert") is None and package_dir("tflite_runtime") is not None:
            return Availability.yes("tflite_runtime")
        return super().installed(modules)

    def available(self, unit: str, facts: DeviceFacts) -> Availability:
        base = self.installed()
        if not base or unit == "cpu":
            return base
        if unit == "nnapi" and facts.os != "android":
            return Availability.no(f"NNAPI exists only on Android; this is {facts.os}")
        if unit == "gpu" and facts.os not in ("android", "ios"):
            return Availability.no(f"LiteRT's GPU delegate ships for Android and iOS; this is {facts.os} "
                                   "(an external delegate can be given by library path)")
        return Availability.yes(f"delegate {_DELEGATES[unit]}")

    def load(self, model: Model, unit: str, options: LoadOptions) -> Runner:
        if gate.wanted(options):  # onnx2tf's full-integer TFLite, kept only within the accuracy bounds
            return gate.load(model, options, self._int8(unit), lambda fp: super(LiteRtAdapter, self).load(model, unit, fp))
        return super().load(model, unit, options)

    def _int8(self, unit: str) -> gate.Opener:
        def open_int8(model: Model, data, options: LoadOptions) -> tuple[Runner, str, Artifact]:
            conv = Onnx2TfInt8(data)
            artifact = cache.obtain(model, conv, conv.options())
            return self._verified(artifact, conv.name, model, unit, options), "onnx2tf full-integer TFLite", artifact

        return open_int8

    def open_artifact(self, artifact: Artifact, model: Model, unit: str, options: LoadOptions) -> Runner:
        target = f"{self.engine}:{unit}"
        try:
            interp_mod = interpreter_module()
        except ImportError as e:
            raise self.unavailable(unit, f"LiteRT failed to import ({e}); pip install 'facade-runtime[litert]'") from e
        delegates = []
        library = options.engine.get("delegate") or _DELEGATES.get(unit)
        if library:
            try:
                delegates.append(interp_mod.load_delegate(str(library)))
            except (ValueError, OSError) as e:
                raise self.unavailable(unit, f"the delegate {library} failed to load: {e}") from e
        try:
            it = interp_mod.Interpreter(model_path=str(artifact.main), num_threads=resolve_threads(options),
                                        experimental_delegates=delegates or None)
            it.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise ConversionError(format_message(f"LiteRT could not load the converted model: {e}",
                                                 where=target, received=str(artifact.main))) from e
        ins, outs = _tensors(it)
        shapes = artifact.io.get("output_shapes") or {}

        def bind(specs, details, shape_of) -> tuple[Binding, ...]:
            names = match_names([s.name for s in specs], list(details))
            return tuple(Binding(s, names[s.name], find_permutation(shape_of(s), details[names[s.name]]["shape"],
                                                                     prefer_channels_last=True),
                                 engine_dtype=np.dtype(details[names[s.name]]["dtype"]),
                                 static_shape=tuple(int(d) for d in details[names[s.name]]["shape"]))
                         for s in specs)

        contract = IOContract(inputs=bind(model.inputs, ins, lambda s: s.concrete_shape(1)),
                              outputs=bind(model.outputs, outs, lambda s: shapes.get(s.name) or s.concrete_shape(1)),
                              per_sample=True, fresh_outputs=True)  # get_tensor() returns a copy
        index = {name: d["index"] for name, d in {**ins, **outs}.items()}

        def invoke(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            for name, arr in feeds.items():
                it.set_tensor(index[name], arr)
            it.invoke()
            return {b.engine_name: it.get_tensor(index[b.engine_name]) for b in contract.outputs}

        precision = str(artifact.manifest["options"].get("precision", "fp32"))  # the file's: fp32, fp16 or int8
        return ConvertedRunner(target, model, contract, invoke, precision)
