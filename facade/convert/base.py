"""What every converter does: prepare the ONNX model, run the tool in a child process, collect files.

A :class:`Converter` subclass names its tool, says whether it is installed
(without importing it), gives its version (part of the cache key) and builds the
command line; this base class owns the scratch directory, the timeout, progress
and the error shape, so each converter module holds only what differs.
"""

from __future__ import annotations

import importlib.metadata
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

import onnx
import onnx.version_converter

from facade.adapters.base import Availability
from facade.convert.child import run_child, tail
from facade.convert.progress import progress
from facade.errors import ConversionError, format_message
from facade.model import Model

STATIC_FILL = 1  # dynamic dims (batch) are fixed to this for converters that need static shapes
# Converters are given models at this opset at least. Opset 13 changed Softmax, LogSoftmax
# and Hardmax from "flatten from axis 1" to "along axis -1"; pnnx and MNN's converter both
# read an opset-9 Softmax without an axis attribute (SqueezeNet's) with the new default and
# normalise a [1, 1000, 1, 1] tensor over its last, unit axis (every output 1.0).
MIN_OPSET = 13


def upgraded(proto: onnx.ModelProto, opset: int = MIN_OPSET) -> onnx.ModelProto:
    """``proto`` rewritten to ``opset`` by ONNX's own version converter when older (unchanged when the
    converter cannot: then the tool gets the original, and verification judges its artifact)."""
    current = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), opset)
    if current >= opset:
        return proto
    try:
        return onnx.version_converter.convert_version(proto, opset)
    except Exception:  # the version converter lacks adapters for some operators
        return proto


def static_model(proto: onnx.ModelProto, fill: int = STATIC_FILL) -> onnx.ModelProto:
    """A copy of ``proto`` whose graph inputs have every dynamic dim set to ``fill``, shapes re-inferred."""
    static = onnx.ModelProto()
    static.CopyFrom(proto)
    initializers = {t.name for t in static.graph.initializer}
    for vi in static.graph.input:
        if vi.name in initializers:
            continue
        for dim in vi.type.tensor_type.shape.dim:
            if not dim.HasField("dim_value") or dim.dim_value <= 0:
                dim.Clear()
                dim.dim_value = fill
    del static.graph.value_info[:]
    for vi in static.graph.output:
        vi.type.tensor_type.ClearField("shape")
    try:
        return onnx.shape_inference.infer_shapes(static, data_prop=True)
    except Exception:  # inference is a convenience for the IO contract; the converter decides
        return static


def output_shapes(static: onnx.ModelProto) -> dict[str, list[int] | None]:
    """Each graph output's static shape after :func:`static_model` (None where inference gave none)."""
    shapes: dict[str, list[int] | None] = {}
    for vi in static.graph.output:
        t = vi.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in t.shape.dim] if t.HasField("shape") else None
        shapes[vi.name] = dims if dims is not None and all(d >= 0 for d in dims) else None
    return shapes


def package_version(dist: str) -> str | None:
    """Installed version of distribution ``dist``, read from metadata (no import)."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


class Converter:
    """One ONNX-to-engine converter. Subclasses fill the class attributes and the hooks."""

    name: ClassVar[str]
    produces: ClassVar[str]  # the model format it writes: ncnn | mnn | tflite | coreml | dlc
    timeout_s: ClassVar[float] = 300.0
    needs_static_shapes: ClassVar[bool] = True

    def available(self) -> Availability:
        """Whether the tool is installed here, with the install hint when not."""
        raise NotImplementedError

    def version(self) -> str:
        """The tool's version: part of the cache key, so an upgrade converts again."""
        raise NotImplementedError

    def unverified_reason(self) -> str:
        """What ``facade convert`` says of an artifact no target has verified yet."""
        return "not verified yet: verified against the ONNX model when a target first loads it"

    def options_for(self, precision: str) -> dict[str, object]:
        """Converter options for a caller's lowest accepted precision (default: none)."""
        return {}

    def prepare(self, proto: onnx.ModelProto) -> onnx.ModelProto:
        """The ONNX model the tool is given (default: opset 13 or newer, static shapes when the tool needs them)."""
        proto = upgraded(proto)
        return static_model(proto) if self.needs_static_shapes else proto

    def command(self, src: Path, workdir: Path, options: Mapping[str, object], prepared: onnx.ModelProto) -> list[str]:
        """The child-process command line converting ``src`` (``prepared``, saved) inside ``workdir``."""
        raise NotImplementedError

    def collect(self, workdir: Path, dest: Path, options: Mapping[str, object]) -> str:
        """Move the artifact's files from ``workdir`` to ``dest``; return the entry file's name."""
        raise NotImplementedError

    def setup_workdir(self, workdir: Path) -> None:
        """Files the tool expects in its working directory (default: none)."""

    def io_facts(self, workdir: Path) -> dict:
        """What the tool wrote about the converted model's tensors, for the adapter (default: nothing)."""
        return {}

    def convert(self, model: Model, dest: Path, options: Mapping[str, object]) -> tuple[str, dict]:
        """Convert ``model`` into ``dest``; return (entry file name, IO metadata for the adapter).

        Raises:
            ConversionError: the tool is missing, rejected the model, crashed or hung.
        """
        where = f"{self.name} ({model.name})"
        avail = self.available()
        if not avail:
            raise ConversionError(format_message(f"Converter is not available: {avail.reason}", where=where))
        if model.proto is None:
            raise ConversionError(format_message("Only ONNX models can be converted", where=where,
                                                 received=model.format, expected="onnx"))
        prepared = self.prepare(model.proto)
        with tempfile.TemporaryDirectory(prefix=f"facade-{self.name}-") as tmp:
            workdir = Path(tmp)
            src = workdir / "model.onnx"
            onnx.save(prepared, src)
            self.setup_workdir(workdir)
            with progress(f"converting {model.name} with {self.name}"):
                output = run_child(self.command(src, workdir, options, prepared), cwd=workdir,
                                   timeout_s=self.timeout_s, where=where)
            try:
                main = self.collect(workdir, dest, options)
            except (FileNotFoundError, shutil.Error) as e:
                raise ConversionError(format_message(
                    "Converter reported success but wrote no model", where=where,
                    received=tail(output) or str(e), expected="the converted model file")) from e
            facts = self.io_facts(workdir)
        return main, {"output_shapes": output_shapes(prepared) if self.needs_static_shapes else {},
                      "log": tail(output, 3), **facts}


def move(workdir: Path, dest: Path, *names: str) -> None:
    """Move converter outputs ``names`` from ``workdir`` into ``dest`` (FileNotFoundError if one is missing)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        src = workdir / name
        if not src.exists() or (src.is_file() and src.stat().st_size == 0):
            raise FileNotFoundError(name)
        shutil.move(str(src), dest / name)
