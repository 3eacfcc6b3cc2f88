"""The words of the target catalogue: hardware classes, units, targets, and availability answers.

A target (``engine:unit``) is data, not code: each adapter declares its units
(:class:`Unit`: hardware class, device API, pip extra) and the catalogue
(:mod:`facade.adapters.catalogue`) is derived from those declarations, so the
router can order candidates without importing any engine. Whether a target is
*available* is the adapter's answer (:class:`Availability`), not ours. This
module is ground: it imports nothing above it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field


class HardwareClass(enum.IntEnum):
    """Default preference order: lower runs first (NPU, then GPU, then CPU engines)."""

    NPU = 0
    GPU = 1
    CPU = 2
    FALLBACK = 3  # the in-house engine: always works, slower than the optimized CPU engines
    SOFTWARE = 4  # a GPU/NPU API served by the CPU (llvmpipe, PoCL, QNN's x86 simulator)


@dataclass(frozen=True)
class Unit:
    """What an adapter declares about one of its units (``units = {"cpu": Unit(HardwareClass.CPU)}``)."""

    hardware: HardwareClass
    api: str | None = None  # device API or accelerator kind whose facts decide the real class
    extra: str | None = None  # pip extra that installs it (None: the adapter's own ``extra``)


@dataclass(frozen=True)
class TargetInfo:
    """One ``engine:unit`` pair of the catalogue: the unit's hardware class, device API and pip extra."""

    engine: str
    unit: str
    hardware: HardwareClass
    api: str | None = None  # device API or accelerator kind whose facts decide the real class
    extra: str = ""  # pip extra that installs it: facade-runtime[<extra>]

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


# Measured facts about targets, not declarations: QNN's HTP simulator flushes NaN/inf to 0.0.
FLUSHES_NON_FINITE = frozenset({"onnxruntime:qnn-htp"})


@dataclass(frozen=True)
class Availability:
    """A yes/no with its reason; truthy when available.

    ``refusal`` marks a "no" that is a recorded failure of the target on this model
    (its converter rejected it, or its artifact diverged), not a lack of the target:
    the router reports it as the failure it was (status ``failed``, ConversionError).
    """

    ok: bool
    reason: str
    refusal: bool = False

    def __bool__(self) -> bool:
        return self.ok

    @classmethod
    def yes(cls, reason: str = "available") -> Availability:
        return cls(True, reason)

    @classmethod
    def no(cls, reason: str) -> Availability:
        return cls(False, reason)

    @classmethod
    def refused(cls, reason: str) -> Availability:
        return cls(False, reason, refusal=True)


@dataclass(frozen=True)
class LoadOptions:
    """What the caller or policy asks of a target: threads, lowest precision allowed, engine options."""

    threads: int | None = None
    precision: str = "fp32"  # lowest precision the caller accepts: fp32 | fp16 | int8
    engine: Mapping[str, object] = field(default_factory=dict)
    # int8 may be tried: a facade.quantization.gate.Int8Request (calibration data and accuracy bounds), else None.
    calibration: object = None
