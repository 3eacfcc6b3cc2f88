"""ONNX Runtime: the CPU provider, and accelerators through execution providers.

QNN comes as a *plugin* EP (``onnxruntime-qnn``): its library is registered once
per process with ``register_execution_provider_library`` and bound to a session
with ``add_provider_for_devices``. ORT silently runs nodes a provider rejects on
the CPU, so for every accelerator unit the first run is profiled and the trace
says where nodes really ran; a unit on which no node ran is refused.
"""

from __future__ import annotations

import functools
import json
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

from facade.adapters.base import Adapter, Availability, LoadOptions, Runner, resolve_threads, stdout_to_stderr
from facade.devices import DeviceFacts, package_dir
from facade.errors import UnsupportedModelError, format_message
from facade.inputs import seeded_feeds
from facade.model import Model

_PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "xnnpack": "XnnpackExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "nnapi": "NnapiExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "qnn-htp": "QNNExecutionProvider",
    "qnn-gpu": "QNNExecutionProvider",
}
_QNN_BACKENDS = {"qnn-htp": ("htp", "libQnnHtp.so"), "qnn-gpu": ("gpu", "libQnnGpu.so")}


def _ort():
    import onnxruntime

    return onnxruntime


@functools.lru_cache(maxsize=1)
def _built_in_providers() -> tuple[str, ...]:
    return tuple(_ort().get_available_providers())


@functools.lru_cache(maxsize=1)
def _register_qnn() -> str:
    """Register the QNN plugin library once per process; return its EP name."""
    import onnxruntime_qnn

    with stdout_to_stderr():
        _ort().register_execution_provider_library(onnxruntime_qnn.get_ep_name(), onnxruntime_qnn.get_library_path())
    return onnxruntime_qnn.get_ep_name()


class OnnxRuntimeRunner(Runner):
    """An ``InferenceSession``; outputs requested by name so ORT returns them in ONNX order."""

    def __init__(self, target: str, model: Model, session, precision: str):
        super().__init__(target, model, precision=precision)
        self._session = session
        self._names = [o.name for o in self.outputs]

    def _run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(self._names, self._session.run(self._names, feeds), strict=True))

    def _close(self) -> None:
        self._session = None


class OnnxRuntimeAdapter(Adapter):
    """``onnxruntime:*`` targets."""

    engine = "onnxruntime"
    units = ("cpu", "xnnpack", "cuda", "qnn-htp", "qnn-gpu", "nnapi", "coreml")
    modules = ("onnxruntime",)
    extra = "onnxruntime"

    def available(self, unit: str, facts: DeviceFacts) -> Availability:
        base = self.installed()
        if not base or unit == "cpu":
            return base
        if unit in _QNN_BACKENDS:
            return self._qnn_available(unit, facts)
        platform_ok = {
            "nnapi": (facts.os == "android", f"NNAPI exists only on Android; this is {facts.os}"),
            "coreml": (facts.os in ("macos", "ios"), f"Core ML exists only on macOS/iOS; this is {facts.os}"),
            "cuda": (any("nvidia" in f"{g.name} {g.vendor}".lower() or g.vendor == str(0x10DE) for g in facts.gpus),
                     "CUDA needs an NVIDIA GPU; none was detected"),
            "xnnpack": (True, ""),
        }[unit]
        if not platform_ok[0]:
            return Availability.no(platform_ok[1])
        provider = _PROVIDERS[unit]
        if provider not in _built_in_providers():
            return Availability.no(f"this onnxruntime build has no {provider} "
                                   f"(it has {', '.join(_built_in_providers())})")
        return Availability.yes()

    def _qnn_available(self, unit: str, facts: DeviceFacts) -> Availability:
        qnn = package_dir("onnxruntime_qnn")
        if qnn is None:
            return Availability.no("the QNN execution provider is not installed; pip install 'facade-runtime[qnn]'")
        backend, lib = _QNN_BACKENDS[unit]
        if not (qnn / lib).exists():
            return Availability.no(f"onnxruntime-qnn ships no {backend} backend ({lib}) for this platform")
        if unit == "qnn-gpu" and not any("adreno" in g.name.lower() for g in facts.gpus):
            return Availability.no("the QNN GPU backend needs a Qualcomm Adreno GPU; detected: "
                                   + (", ".join(g.name for g in facts.gpus) or "no GPU"))
        if unit == "qnn-htp":
            return Availability.yes("onnxruntime-qnn HTP backend")
        return Availability.yes()

    def load(self, model: Model, unit: str, options: LoadOptions) -> Runner:
        try:
            ort = _ort()
        except ImportError as e:
            raise self.unavailable(unit, f"onnxruntime failed to import ({e}); "
                                         "pip install 'facade-runtime[onnxruntime]'") from e
        so = ort.SessionOptions()
        so.log_severity_level = 3
        so.intra_op_num_threads = resolve_threads(options)
        so.inter_op_num_threads = 1
        precision = "fp32"
        providers: list = [_PROVIDERS[unit]] if unit == "cpu" else [_PROVIDERS[unit], "CPUExecutionProvider"]
        if unit in _QNN_BACKENDS:
            providers = None
            ep_name = _register_qnn()
            devices = [d for d in ort.get_ep_devices() if d.ep_name == ep_name]
            if not devices:
                raise self.unavailable(unit, "the QNN plugin registered but reported no device")
            # HTP computes fp32 graphs in fp16 unless told not to; only allow that if the caller does.
            fp16 = options.precision != "fp32"
            so.add_provider_for_devices(devices, {"backend_type": _QNN_BACKENDS[unit][0],
                                                  "enable_htp_fp16_precision": "1" if fp16 else "0",
                                                  **{k: str(v) for k, v in options.engine.items()}})
            precision = "fp16" if fp16 else "fp32"
        verify = unit != "cpu"
        profile_dir = tempfile.TemporaryDirectory(prefix="facade-ort-") if verify else None
        if profile_dir is not None:
            so.enable_profiling = True
            so.profile_file_prefix = str(Path(profile_dir.name) / "ort")
        try:
            with stdout_to_stderr():
                session = ort.InferenceSession(model.serialized(), sess_options=so, providers=providers)
        except Exception as e:  # ORT raises its own Fail/InvalidGraph/NotImplemented types
            raise UnsupportedModelError(format_message(
                f"ONNX Runtime could not load the model: {str(e).strip().splitlines()[0]}",
                where=f"{self.engine}:{unit}", received=model.name)) from e
        runner = OnnxRuntimeRunner(f"{self.engine}:{unit}", model, session, precision)
        if profile_dir is not None:
            with profile_dir:
                runner.notes.append(self._placement(runner, session, unit))
        return runner

    def _placement(self, runner: OnnxRuntimeRunner, session, unit: str) -> str:
        """Run once with profiling on and report which provider ran which nodes."""
        runner.run(seeded_feeds(runner.inputs))
        events = json.loads(Path(session.end_profiling()).read_text())
        nodes = [e.get("args", {}) for e in events if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")]
        by_provider = Counter(a.get("provider", "?") for a in nodes)
        wanted = _PROVIDERS[unit]
        if by_provider.get(wanted, 0) == 0:
            raise self.unavailable(unit, f"ONNX Runtime placed no node on {wanted}: every node fell back to "
                                         f"{', '.join(by_provider) or 'nothing'}; refusing to report a "
                                         f"{unit} run that did not happen")
        others = {p: n for p, n in by_provider.items() if p != wanted}
        if not others:
            return f"placement verified: every kernel ran on {wanted} ({by_provider[wanted]} kernel(s))"
        ops = Counter(a.get("op_name", "?") for a in nodes if a.get("provider") != wanted)
        return (f"partial placement: {by_provider[wanted]} kernel(s) on {wanted}, "
                + ", ".join(f"{n} on {p}" for p, n in others.items())
                + f" (ops: {', '.join(sorted(ops))})")
