"""Core ML (Apple): ``coreml:cpu``, ``coreml:all`` and ``coreml:ane`` through compute units.

Conversion (coremltools) runs anywhere; prediction needs the Core ML runtime,
which exists only on macOS (and iOS), so elsewhere every target says so.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from facade.adapters.base import Availability, LoadOptions, Runner
from facade.adapters.converted import ConvertedRunner, ConvertingAdapter
from facade.adapters.io_contract import Binding, IOContract
from facade.convert.cache import Artifact
from facade.devices import DeviceFacts
from facade.model import Model
from facade.targets import HardwareClass, Unit

# Facade unit -> coremltools.ComputeUnit member name.
COMPUTE_UNITS = {"cpu": "CPU_ONLY", "all": "ALL", "ane": "CPU_AND_NE"}


class CoreMlAdapter(ConvertingAdapter):
    """``coreml:*`` targets; the artifact is an ML program (``.mlpackage``) that keeps ONNX names."""

    engine = "coreml"
    units: ClassVar = {
        "cpu": Unit(HardwareClass.CPU),
        "all": Unit(HardwareClass.NPU),
        "ane": Unit(HardwareClass.NPU),
    }
    modules = ("coremltools",)
    extra = "coreml"
    artifact_format = "coreml"
    converter = "coremltools"

    def available(self, unit: str, facts: DeviceFacts) -> Availability:
        base = self.installed()
        if not base:
            return base
        if facts.os not in ("macos", "ios"):
            return Availability.no(f"the Core ML runtime needs macOS; this is {facts.os}")
        return Availability.yes()

    def open_artifact(self, artifact: Artifact, model: Model, unit: str, options: LoadOptions) -> Runner:
        import coremltools as ct

        mlmodel = ct.models.MLModel(str(artifact.main), compute_units=getattr(ct.ComputeUnit, COMPUTE_UNITS[unit]))
        contract = IOContract(inputs=tuple(Binding(s, s.name) for s in model.inputs),
                              outputs=tuple(Binding(s, s.name) for s in model.outputs), per_sample=True)

        def invoke(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            return mlmodel.predict(feeds)

        precision = artifact.manifest["options"].get("precision", "fp32")
        return ConvertedRunner(f"{self.engine}:{unit}", model, contract, invoke, precision)
