"""The catalogue of targets (``engine:unit``) that facade knows about.

A target name is data, not code: the catalogue says which hardware class each
unit belongs to, so the router can order candidates without importing any
engine. Whether a target is *available* is the adapter's answer, not ours.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from facade.errors import UnknownTargetError, closest, format_message


class HardwareClass(enum.IntEnum):
    """Default preference order: lower runs first (NPU, then GPU, then CPU engines)."""

    NPU = 0
    GPU = 1
    CPU = 2
    FALLBACK = 3  # the in-house engine: always works, slower than the optimized CPU engines
    SOFTWARE = 4  # a GPU/NPU API served by the CPU (llvmpipe, PoCL, QNN's x86 simulator)


@dataclass(frozen=True)
class TargetInfo:
    """One ``engine:unit`` pair and the hardware class of its unit."""

    engine: str
    unit: str
    hardware: HardwareClass
    api: str | None = None  # device API or accelerator kind whose facts decide the real class

    @property
    def name(self) -> str:
        return f"{self.engine}:{self.unit}"

    @property
    def flushes_non_finite(self) -> bool:
        """Whether the unit turns NaN and inf into finite numbers (0.0) without saying so: feeds and
        outputs holding them are flagged by the runner (measured: QNN's HTP simulator, where ONNX
        Runtime's CPU gives NaN for an all-NaN or all-inf feed)."""
        return self.name in FLUSHES_NON_FINITE

    @property
    def probe(self) -> bool:
        """Whether loading this target may crash the process (GPU/NPU drivers): probe it in a child first."""
        return self.api is not None or self.hardware in (HardwareClass.NPU, HardwareClass.GPU)


FLUSHES_NON_FINITE = frozenset({"onnxruntime:qnn-htp"})

_N, _G, _C, _F = HardwareClass.NPU, HardwareClass.GPU, HardwareClass.CPU, HardwareClass.FALLBACK

CATALOGUE: tuple[TargetInfo, ...] = tuple(
    TargetInfo(engine, unit, hw, api)
    for engine, unit, hw, api in [
        ("onnxruntime", "cpu", _C, None),
        ("onnxruntime", "xnnpack", _C, None),
        ("onnxruntime", "cuda", _G, None),
        ("onnxruntime", "qnn-htp", _N, "qnn-htp"),
        ("onnxruntime", "qnn-gpu", _G, None),
        ("onnxruntime", "nnapi", _N, None),
        ("onnxruntime", "coreml", _N, None),
        ("litert", "cpu", _C, None),
        ("litert", "gpu", _G, None),
        ("litert", "nnapi", _N, None),
        ("ncnn", "cpu", _C, None),
        ("ncnn", "vulkan", _G, "vulkan"),
        ("mnn", "cpu", _C, None),
        ("mnn", "opencl", _G, "opencl"),
        ("mnn", "vulkan", _G, "vulkan"),
        ("mnn", "metal", _G, None),
        ("coreml", "cpu", _C, None),
        ("coreml", "all", _N, None),
        ("coreml", "ane", _N, None),
        ("snpe", "cpu", _C, None),
        ("snpe", "gpu", _G, None),
        ("snpe", "dsp", _N, "snpe"),
        # The in-house engine is the floor on any device: its OpenCL kernels beat its numpy
        # ones on a real GPU, but not the optimized CPU engines (measured on an H200:
        # SqueezeNet 10.9 ms on native:opencl, 1.3 ms on onnxruntime:cpu).
        ("native", "opencl", _F, "opencl"),
        ("native", "cpu", _F, None),
    ]
)

_BY_NAME = {t.name: t for t in CATALOGUE}


def target_names() -> list[str]:
    """Every known target name, in catalogue order."""
    return list(_BY_NAME)


def lookup(name: str) -> TargetInfo:
    """Return the catalogue entry for ``name``; raise with a suggestion when unknown."""
    info = _BY_NAME.get(name)
    if info is None:  # a third-party engine's targets are known once its adapter is imported
        from facade.adapters import registry

        registry.load_all()
        info = _BY_NAME.get(name)
    if info is not None:
        return info
    guess = closest(name, _BY_NAME)
    raise UnknownTargetError(
        format_message(
            "Unknown target name",
            where=name,
            received=repr(name),
            expected="a target written engine:unit, e.g. onnxruntime:cpu",
            available=_BY_NAME,
            hint=f"Did you mean {guess!r}?" if guess else None,
        )
    )


def register_target(info: TargetInfo) -> None:
    """Add a target for a third-party adapter; refuses to redefine a known one differently."""
    known = _BY_NAME.get(info.name)
    if known is not None and known != info:
        raise UnknownTargetError(
            format_message(
                "Target already defined with another hardware class",
                where=info.name,
                received=info.hardware.name,
                expected=known.hardware.name,
            )
        )
    _BY_NAME[info.name] = info
