"""ONNX Runtime: the CPU provider, and accelerators through execution providers.

QNN comes as a *plugin* EP (``onnxruntime-qnn``): its library is registered once
per process with ``register_execution_provider_library`` and bound to a session
with ``add_provider_for_devices``. ORT silently runs nodes a provider rejects on
the CPU, so for every accelerator unit the first run is profiled and the trace
says where nodes really ran; a unit on which no node ran is refused. QNN's
options are in :mod:`.qnn_options`, its graph-finalization refusals in :mod:`.qnn_finalize`;
ml_dtypes feeds (bfloat16, float8, int4), which ORT's numpy binding cannot
name, go through OrtValues (:mod:`.ort_values`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import tempfile
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

import numpy as np

from facade.adapters import ort_values, qnn_finalize, qnn_options, qnn_rewrites, qnn_search, qnn_size
from facade.adapters.base import Adapter, Availability, LoadOptions, Runner, resolve_threads, stdout_to_stderr
from facade.convert.verify import verify
from facade.devices import DeviceFacts, package_dir
from facade.errors import TargetUnavailableError, UnsupportedModelError, format_message
from facade.model import Model
from facade.quantization import gate
from facade.targets import HardwareClass, Unit
from facade.tensor import OPTIONAL, SEQUENCE

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
# Process-wide QNN backend state that outlives sessions (see OnnxRuntimeAdapter._check).
_QNN_STATE = {"fp16_seen": False}


@functools.lru_cache(maxsize=1)
def _ort():
    """``onnxruntime``, its telemetry events off also where it was imported before facade set
    ``ORT_DISABLE_TELEMETRY`` (:mod:`facade.offline`)."""
    import onnxruntime

    onnxruntime.disable_telemetry_events()
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
    """An ``InferenceSession``; outputs requested by name so ORT returns them in ONNX order.

    A model with ml_dtypes inputs or outputs runs through OrtValues (see :mod:`.ort_values`).
    ``InferenceSession.run`` is thread-safe (ORT's documented contract), so calls run concurrently.
    """

    reentrant = True

    def __init__(self, target: str, model: Model, session, precision: str):
        super().__init__(target, model, precision=precision)
        self._session = session
        self._dtypes = {o.name: o.dtype for o in self.outputs}
        self._ort_values = ort_values.needs_ort_values(s.dtype for s in (*self.inputs, *self.outputs))
        # Feeds are validated by Runner.run; ORT's Python wrapper would check their names again on every
        # call, so the binding's run is called directly. ORT's own EP-failure retry lives in the wrapper:
        # an EPFail takes that path.
        self._direct = getattr(session, "_sess", None)
        self._ep_fail = getattr(_ort().capi.onnxruntime_pybind11_state, "EPFail", ())

    def _run(self, feeds: dict[str, np.ndarray], wanted: tuple[str, ...]) -> dict[str, np.ndarray]:
        names = list(wanted)
        if self._ort_values:
            outs = ort_values.run_with_ort_values(_ort(), self._session, names, feeds, self._dtypes)
        elif self._direct is None:
            outs = self._session.run(names, feeds)
        else:
            try:
                outs = self._direct.run(names, feeds, None)
            except self._ep_fail:
                outs = self._session.run(names, feeds)
        return dict(zip(names, outs, strict=True))

    def _close(self) -> None:
        self._session = None


class OnnxRuntimeAdapter(Adapter):
    """``onnxruntime:*`` targets."""

    engine = "onnxruntime"
    units: ClassVar = {
        "cpu": Unit(HardwareClass.CPU),
        "xnnpack": Unit(HardwareClass.CPU),
        "cuda": Unit(HardwareClass.GPU),
        "qnn-htp": Unit(HardwareClass.NPU, api="qnn-htp", extra="qnn"),
        "qnn-gpu": Unit(HardwareClass.GPU, extra="qnn"),
        "nnapi": Unit(HardwareClass.NPU),
        "coreml": Unit(HardwareClass.NPU),
    }
    modules = ("onnxruntime",)
    extra = "onnxruntime"
    containers = frozenset({SEQUENCE, OPTIONAL})  # ORT's binding takes lists of arrays and None as they are

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

    def checks_engine_options(self, unit: str) -> bool:
        """Whether ``unit`` takes engine options that can be checked: the QNN units (the EP's provider options).

        The other units ignore engine options today, so they do not check them.
        """
        return unit in _QNN_BACKENDS

    def engine_option_problem(self, unit: str, options: Mapping[str, object]) -> qnn_options.OptionProblem | None:
        """What is wrong with ``engine = {...}`` options for ``unit`` (None: nothing); policies are checked with it."""
        return qnn_options.option_problem(options) if unit in _QNN_BACKENDS else None

    def load(self, model: Model, unit: str, options: LoadOptions) -> Runner:
        if gate.wanted(options):  # int8 QDQ, kept only within the accuracy bounds (facade.quantization.gate)
            return gate.load(model, options, gate.qdq(self, unit), lambda fp: self.load(model, unit, fp))
        where = f"{self.engine}:{unit}"
        for role, specs in (("input", model.inputs), ("output", model.outputs)):
            for spec in specs:
                ort_values.check_representable(spec.name, spec.dtype, where, role, container=spec.container)
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
        ep_options: dict[str, str] = {}
        notes: list[str] = []
        htp = False  # whether failures are searched for the nodes HTP gets wrong
        if unit == "qnn-htp" and model.proto is not None:
            qnn_size.check(model.proto, where)  # before the simulator is asked: it would not return
        if unit in _QNN_BACKENDS:
            problem = qnn_options.option_problem(options.engine)
            if problem is not None:
                raise TargetUnavailableError(format_message(
                    problem.what, where=where, received=problem.received, expected=problem.expected,
                    available=problem.available, hint=problem.hint))
            providers = None
            ep_name = _register_qnn()
            devices = [d for d in ort.get_ep_devices() if d.ep_name == ep_name]
            if not devices:
                raise self.unavailable(unit, "the QNN plugin registered but reported no device")
            # HTP computes fp32 graphs in fp16 unless told not to; only allow that if the caller does.
            fp16 = options.precision != "fp32"
            ep_options, notes = qnn_options.provider_options(_QNN_BACKENDS[unit][0], fp16, options.engine)
            so.add_provider_for_devices(devices, ep_options)
            precision = "fp16" if fp16 else "fp32"
            htp = unit == "qnn-htp"
        checked = unit != "cpu"
        profile_dir = tempfile.TemporaryDirectory(prefix="facade-ort-") if checked else None
        if profile_dir is not None:
            so.enable_profiling = True
            so.profile_file_prefix = str(Path(profile_dir.name) / "ort")
        compiled = model  # what the engine compiles; verification always compares with ``model`` itself
        if htp:
            proto, rewritten = qnn_rewrites.expand_batch_broadcasts(model.proto)
            if rewritten:
                compiled = dataclasses.replace(model, proto=proto)
                notes.append(f"expanded the batch-broadcast operand of {len(rewritten)} Add(s) feeding "
                             f"LayerNormalization ({', '.join(rewritten[:3])}{', ...' if len(rewritten) > 3 else ''})"
                             ": HTP computes them wrong otherwise (measured on QNN's simulator)")
        try:
            with stdout_to_stderr():
                session = ort.InferenceSession(compiled.serialized(), sess_options=so, providers=providers)
        except Exception as e:  # ORT raises its own Fail/InvalidGraph/NotImplemented types
            if htp and qnn_finalize.is_finalize_failure(e):
                raise self._finalize_refusal(compiled, ep_options, precision, e) from e
            raise UnsupportedModelError(format_message(
                f"ONNX Runtime could not load the model: {str(e).strip().splitlines()[0]}",
                where=where, received=model.name)) from e
        if unit in _QNN_BACKENDS and precision == "fp16":
            _QNN_STATE["fp16_seen"] = True
        runner = OnnxRuntimeRunner(where, model, session, precision)
        runner.notes.extend(notes)
        if profile_dir is not None:
            with profile_dir:
                runner.notes.extend(self._check(runner, session, unit, ep_options, htp, compiled))
        return runner

    def _finalize_refusal(self, model: Model, ep_options: Mapping[str, str], precision: str,
                          error: Exception) -> UnsupportedModelError:
        """Why HTP did not finalize the graph: the nodes that fail alone, else the run of nodes the EP fused."""
        found, problem = qnn_search.search("finalize", model.proto, ep_options)
        what, expected = qnn_finalize.refusal_text(found, precision)
        if problem:
            what += f"; {problem}"
        weights = sum(len(t.raw_data) for t in model.proto.graph.initializer) / 2**20
        received = (f"model {model.name!r} ({len(model.proto.graph.node)} nodes, {weights:.2f} MB of weights) "
                    f"at precision {precision}")
        return UnsupportedModelError(format_message(
            what, where=f"{self.engine}:qnn-htp", received=received, expected=expected,
            hint=f"ONNX Runtime said: {str(error).strip().splitlines()[0]}"))

    @staticmethod
    def _divergence(model: Model, ep_options: Mapping[str, str], tolerance: float) -> str:
        """The smallest run of nodes that diverges on HTP by itself, for the refusal."""
        found, problem = qnn_search.search("diverge", model.proto, ep_options, tolerance)
        if found is not None:
            return f" First run of nodes that diverges: {found.describe()}."
        return f" {problem[0].upper()}{problem[1:]}." if problem else ""

    def _check(self, runner: OnnxRuntimeRunner, session, unit: str, ep_options: Mapping[str, str],
               htp: bool, compiled: Model) -> list[str]:
        """Run once on seeded inputs with profiling on: where did nodes run, and are the numbers right?

        ORT runs nodes an execution provider rejects on the CPU without a word, and
        an accelerator may compute in lower precision than asked (QNN's HTP backend
        keeps fp16 mode for the whole process once any session enabled it), so a
        unit is refused when no node ran on it or its outputs diverge from the CPU.
        """
        verdict = verify(runner.run, runner.model, runner.precision)
        notes = [self._placement(session, unit)]
        if not verdict["ok"]:
            leak = (" An earlier session in this process enabled QNN's fp16 mode, which the HTP backend keeps "
                    "for the rest of the process." if unit in _QNN_BACKENDS and _QNN_STATE["fp16_seen"]
                    and runner.precision == "fp32" else "")
            if unit == "qnn-htp" and runner.precision == "fp32" and ep_options.get("soc_model", "0") != "0":
                leak += (f" soc_model {ep_options['soc_model']} was set: with an HTP v69+ SoC the backend computes "
                         "float graphs in fp16 even with fp16 off (measured on the simulator).")
            if htp and not leak:
                leak = self._divergence(compiled, ep_options, verdict["tolerance"])
            raise self.unavailable(unit, f"outputs diverge from ONNX Runtime on the CPU: {verdict['detail']} "
                                         f"at {verdict['precision']}.{leak}")
        return [*notes, f"outputs verified against the CPU: {verdict['detail']}"]

    def _placement(self, session, unit: str) -> str:
        """Which provider ran which nodes in the (profiled) run just made."""
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
