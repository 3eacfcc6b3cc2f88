"""The in-house engine (:mod:`facade.native_fallback`): the floor that always runs.

``native:cpu`` needs only numpy; ``native:opencl`` runs hot operators through
pyopencl and the rest on numpy, after a child-process probe of the OpenCL driver.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from facade.adapters.base import Adapter, Availability, LoadOptions, Runner, resolve_threads
from facade.devices import DeviceFacts
from facade.model import Model
from facade.targets import HardwareClass, Unit
from facade.tensor import OPTIONAL, SEQUENCE


class NativeRunner(Runner):
    """A compiled native program."""

    def __init__(self, target: str, model: Model, program, precision: str):
        super().__init__(target, model, precision=precision)
        self.program = program

    def _run(self, feeds: dict[str, np.ndarray], wanted: tuple[str, ...]) -> dict[str, np.ndarray]:
        return self.program.run(feeds)

    def _close(self) -> None:
        self.program.close()  # the process-wide BLAS limit goes back with the last program


class NativeAdapter(Adapter):
    """``native:cpu`` and ``native:opencl``."""

    engine = "native"
    units: ClassVar = {
        # The in-house engine is the floor on any device: its OpenCL kernels beat its numpy
        # ones on a real GPU, but not the optimized CPU engines (measured on an H200:
        # SqueezeNet 10.9 ms on native:opencl, 1.3 ms on onnxruntime:cpu).
        "opencl": Unit(HardwareClass.FALLBACK, api="opencl"),
        "cpu": Unit(HardwareClass.FALLBACK, extra=""),  # numpy only: no extra
    }
    extra = "opencl"
    containers = frozenset({SEQUENCE, OPTIONAL})

    def available(self, unit: str, facts: DeviceFacts) -> Availability:
        if unit == "cpu":
            from facade.native_fallback import compiled

            return Availability.yes(compiled.summary())
        base = self.installed(("pyopencl",))
        if not base:
            return base
        if not facts.gpu_devices("opencl"):
            return Availability.no("no OpenCL platform was found"
                                   + (f" ({'; '.join(facts.probe_errors)})" if facts.probe_errors else ""))
        from facade import native_fallback

        ok, reason = native_fallback.opencl_available()
        return Availability(ok, reason)

    def accepts(self, model: Model, unit: str) -> Availability:
        base = super().accepts(model, unit)
        if not base:
            return base
        from facade import native_fallback

        missing = native_fallback.unsupported(model.proto)
        if missing:
            more = f" (and {len(missing) - 3} more)" if len(missing) > 3 else ""
            return Availability.no("no native kernel for: " + "; ".join(missing[:3]) + more)
        return Availability.yes()

    def load(self, model: Model, unit: str, options: LoadOptions) -> Runner:
        from facade import native_fallback

        program = native_fallback.compile(model.proto, dtype="float32", device=unit, threads=resolve_threads(options))
        return NativeRunner(f"{self.engine}:{unit}", model, program, "fp32")
