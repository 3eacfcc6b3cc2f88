"""MNN (Alibaba): ``mnn:cpu``, and GPU backends only where the installed build really has them.

MNN silently runs on the CPU when asked for a backend it was built without
(printing "Can't Find type=3 backend, use 0 instead"); facade asks a child process
to create each GPU backend and reads that message, so it never reports a GPU run
that did not happen. fp32 is MNN's ``precision: high``.
"""

from __future__ import annotations

import functools
import sys
from typing import ClassVar

import numpy as np

from facade import childproc
from facade.adapters.base import Availability, LoadOptions, Runner, resolve_threads, stdout_to_stderr
from facade.adapters.converted import ConvertedRunner, ConvertingAdapter
from facade.adapters.io_contract import Binding, IOContract, match_names
from facade.convert.cache import Artifact
from facade.devices import DeviceFacts
from facade.errors import ConversionError, format_message
from facade.model import Model
from facade.quantization import gate
from facade.targets import HardwareClass, Unit

BACKENDS = {"cpu": "CPU", "opencl": "OPENCL", "vulkan": "VULKAN", "metal": "METAL"}
_FALLBACK_MARK = "Can't Find type="
# Measured with MNN 3.6.1: its converter aborts on a QDQ ONNX model (vector::_M_range_check, signal 6), and
# its quantization tool (mnnquant) calibrates from image files or its own per-sample folder layout.
INT8_WHY = ("MNN's converter aborts on QDQ ONNX models (MNN 3.6.1: vector::_M_range_check, signal 6) and facade "
            "does not yet write the image or per-sample folder layout MNN's quantization tool calibrates from")
_PROBE = ("import MNN.nn as nn; rt = nn.create_runtime_manager(({'backend': '%s', 'precision': 'high'},)); "
          "print('facade-probe-ok')")


@functools.cache
def backend_probe(backend: str) -> tuple[bool, str]:
    """Whether this MNN build has ``backend``, asked in a child process that may crash safely."""
    done = childproc.run([sys.executable, "-I", "-c", _PROBE % backend], timeout_s=childproc.timeout("device"))
    if done.hung:
        return False, f"creating the MNN {backend} backend hung for {done.timeout_s:g} s"
    text = done.stdout + done.stderr
    fallback = next((ln.strip() for ln in text.splitlines() if _FALLBACK_MARK in ln), None)
    if fallback:
        return False, (f"this MNN build has no {backend} backend: it prints {fallback!r} and would run on the "
                       "CPU; refusing to report a GPU run that would not happen")
    if done.returncode != 0 or "facade-probe-ok" not in done.stdout:
        return False, f"creating the MNN {backend} backend failed (exit {done.returncode}): {text.strip()[-200:]}"
    return True, f"MNN {backend} backend"


class MnnAdapter(ConvertingAdapter):
    """``mnn:cpu``, ``mnn:opencl``, ``mnn:vulkan``, ``mnn:metal``."""

    engine = "mnn"
    units: ClassVar = {
        "cpu": Unit(HardwareClass.CPU),
        "opencl": Unit(HardwareClass.GPU, api="opencl"),
        "vulkan": Unit(HardwareClass.GPU, api="vulkan"),
        "metal": Unit(HardwareClass.GPU),
    }
    modules = ("MNN",)
    extra = "mnn"
    artifact_format = "mnn"
    converter = "mnnconvert"

    def available(self, unit: str, facts: DeviceFacts) -> Availability:
        base = self.installed()
        if not base or unit == "cpu":
            return base
        if unit == "metal" and facts.os not in ("macos", "ios"):
            return Availability.no(f"Metal exists only on macOS/iOS; this is {facts.os}")
        if unit in ("opencl", "vulkan") and not facts.gpu_devices(unit):
            return Availability.no(f"no {unit} device was found")
        ok, reason = backend_probe(BACKENDS[unit])
        return Availability(ok, reason)

    def load(self, model: Model, unit: str, options: LoadOptions) -> Runner:
        if gate.wanted(options):
            return gate.without_int8(lambda fp: super(MnnAdapter, self).load(model, unit, fp), options, INT8_WHY)
        return super().load(model, unit, options)

    def open_artifact(self, artifact: Artifact, model: Model, unit: str, options: LoadOptions) -> Runner:
        target = f"{self.engine}:{unit}"
        try:
            with stdout_to_stderr():
                import MNN.expr as F
                import MNN.nn as nn
        except ImportError as e:
            raise self.unavailable(unit, f"MNN failed to import ({e}); pip install 'facade-runtime[mnn]'") from e
        fp32 = options.precision == "fp32"
        config = {"backend": BACKENDS[unit], "precision": "high" if fp32 else "low",
                  "numThread": resolve_threads(options)}
        try:
            with stdout_to_stderr():
                runtime = nn.create_runtime_manager((config,))
                info = nn.load_module_from_file(str(artifact.main), [], [], runtime_manager=runtime).get_info()
                in_names = match_names([s.name for s in model.inputs], info["inputNames"])
                out_names = match_names([s.name for s in model.outputs], info["outputNames"])
                module = nn.load_module_from_file(str(artifact.main), list(in_names.values()),
                                                  list(out_names.values()), runtime_manager=runtime)
        except Exception as e:
            raise ConversionError(format_message(f"MNN could not load the converted model: {e}", where=target,
                                                 received=str(artifact.main))) from e
        int32 = np.dtype(np.int32)
        contract = IOContract(
            inputs=tuple(Binding(s, in_names[s.name], engine_dtype=int32 if s.dtype.kind in "iu" else None)
                         for s in model.inputs),
            outputs=tuple(Binding(s, out_names[s.name]) for s in model.outputs))
        # Not fresh_outputs: Var.read() returns a view of MNN's own buffer (measured with MNN 3: a write to it
        # shows in the next read()), so the contract copies each output once.

        def invoke(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            # const() reads its data as float unless told: int32 ids (int64 narrowed by the contract) need F.int.
            args = [F.const(arr, list(arr.shape), F.NCHW, F.int if arr.dtype.kind in "iu" else F.float)
                    for arr in feeds.values()]
            outs = module.onForward(args)
            return {b.engine_name: F.convert(o, F.NCHW).read() for b, o in zip(contract.outputs, outs, strict=True)}

        return ConvertedRunner(target, model, contract, invoke, "fp32" if fp32 else "fp16")
