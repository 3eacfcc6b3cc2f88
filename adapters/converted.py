"""Engines that run a converted artifact: conversion, caching and verification, shared by all of them.

An adapter for ncnn, MNN, LiteRT, Core ML or SNPE names its artifact format and
its converter and implements :meth:`ConvertingAdapter.open_artifact`; this class
converts through the cache, verifies the loaded artifact once against the ONNX
model, caches the verdict with the artifact and refuses a divergent one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import ClassVar

import numpy as np

from facade.adapters.base import Adapter, Availability, LoadOptions, Runner, engine_error
from facade.adapters.io_contract import IOContract
from facade.convert import cache, get_converter
from facade.convert.verify import describe, verify
from facade.errors import ConversionError, FacadeError, FacadeInternalError, format_message
from facade.model import Model


class ConvertedRunner(Runner):
    """A runner whose engine speaks in its own names and layouts; the IO contract maps them."""

    def __init__(self, target: str, model: Model, contract: IOContract,
                 invoke: Callable[[dict[str, np.ndarray]], Mapping[str, np.ndarray]],
                 precision: str, close: Callable[[], None] | None = None):
        super().__init__(target, model, precision=precision)
        self.contract = contract
        self._invoke = invoke
        self._release = close

    def _run(self, feeds: dict[str, np.ndarray], wanted: tuple[str, ...]) -> dict[str, np.ndarray]:
        return self.contract.run(feeds, self._invoke, self.target, wanted)

    def _close(self) -> None:
        if self._release is not None:
            self._release()
        self._invoke = None


class ConvertingAdapter(Adapter):
    """An engine fed by a converter. Subclasses set ``artifact_format``/``converter`` and open artifacts."""

    artifact_format: ClassVar[str]
    converter: ClassVar[str]

    def verdict_key(self, unit: str, precision: str) -> str:
        return f"{self.engine}:{unit}@{precision}"

    def accepts(self, model: Model, unit: str) -> Availability:
        if model.format == self.artifact_format:
            return Availability.no(f"loading a {self.artifact_format} artifact directly is not supported yet; "
                                   "give the ONNX model")
        if model.format != "onnx":
            return Availability.no(f"takes ONNX models (converted with {self.converter}), not {model.format}")
        conv = get_converter(self.converter)
        avail = conv.available()
        if not avail:
            return Availability.no(f"needs conversion with {conv.name}: {avail.reason}")
        artifact = cache.lookup(model, conv, conv.options_for("fp32"))
        if artifact is None:
            return Availability.yes(f"will convert with {conv.name}")
        if not artifact.ok:
            return Availability.refused(f"{conv.name} rejected this model: {artifact.refusal}")
        for checked in dict.fromkeys([unit, "cpu"] if "cpu" in self.units else [unit]):
            verdict = artifact.verdicts.get(self.verdict_key(checked, "fp32"))
            if verdict is not None and not verdict["ok"]:
                return Availability.refused(f"{describe(verdict)} on {self.engine}:{checked} "
                                            f"(artifact {artifact.key[:12]})")
        return Availability.yes(f"converted by {conv.name} (cached)")

    def load(self, model: Model, unit: str, options: LoadOptions) -> Runner:
        conv = get_converter(self.converter)
        try:
            artifact = cache.obtain(model, conv, conv.options_for(options.precision))
        except (FacadeError, FacadeInternalError):
            raise
        except Exception as e:  # preparation runs ONNX Runtime, whose own errors name the node
            raise engine_error(f"{self.engine}:{unit}", "load", e) from e
        if unit != "cpu" and "cpu" in self.units:
            # A GPU driver may crash on a graph the converter got wrong (ncnn on llvmpipe segfaulted on
            # one): the artifact must first pass on the engine's CPU unit, in this process, safely.
            self._verified(artifact, conv.name, model, "cpu", options).close()
        return self._verified(artifact, conv.name, model, unit, options)

    def _verified(self, artifact: cache.Artifact, converter: str, model: Model, unit: str,
                  options: LoadOptions) -> Runner:
        """Open the artifact on ``unit`` and verify it (or reuse the cached verdict); refuse if it diverges."""
        target = f"{self.engine}:{unit}"
        try:
            runner = self.open_artifact(artifact, model, unit, options)
        except ConversionError as e:  # the artifact's tensors do not map onto the ONNX contract
            raise ConversionError(format_message(f"Conversion with {converter} gave an unusable model: {e}",
                                                 where=target)) from e
        key = self.verdict_key(unit, runner.precision)
        verdict = artifact.verdicts.get(key)
        cached = verdict is not None
        if not cached:
            try:
                verdict = verify(runner.run, model, runner.precision)
            except (FacadeError, FacadeInternalError):  # the target cannot run here (no verdict on the artifact)
                runner.close()
                raise
            except Exception as e:  # runner.run wraps the engine's errors: this is the reference, ONNX Runtime
                runner.close()
                raise ConversionError(format_message(
                    "The conversion check could not run the ONNX model on its reference (ONNX Runtime)",
                    where=target, received=f"{type(e).__name__}: {' '.join(str(e).split())[:600]}",
                    expected="a model ONNX Runtime loads, so that the converted artifact can be verified")) from e
            except BaseException:  # an interrupt
                runner.close()
                raise
            cache.record_verdict(artifact, key, verdict)
        if not verdict["ok"]:
            runner.close()
            raise ConversionError(format_message(
                f"Conversion with {converter} diverged from the ONNX model: {verdict['detail']}", where=target,
                received=f"max relative error {verdict['error']:.3g}" if verdict["error"] is not None
                else "no output comparable with the ONNX model's",
                expected=f"max relative error <= {verdict['tolerance']:g} at {verdict['precision']}",
                hint="This target refuses the model rather than give wrong answers"))
        runner.notes.append(f"converted by {converter} {artifact.manifest['version']} "
                            f"(artifact {artifact.key[:12]})")
        runner.notes.append(artifact.preparation)
        runner.notes.append(describe(verdict) + (" (cached verdict)" if cached else ""))
        return runner

    def open_artifact(self, artifact: cache.Artifact, model: Model, unit: str, options: LoadOptions) -> Runner:
        """Load the converted files on ``unit`` and return a runner (usually a :class:`ConvertedRunner`)."""
        raise NotImplementedError
