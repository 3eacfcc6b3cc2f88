"""Reading a model once: ONNX (the canonical format) or an engine's native artifact.

A :class:`Model` carries the bytes' digest (the key of every cache), the I/O
contract as :class:`~facade.tensor.TensorSpec` lists, and, for ONNX, the parsed
graph. Every way a model can be unusable becomes a :class:`~facade.errors.ModelError`
that names the source and what is wrong with it.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import onnx

from facade import intake
from facade.errors import ModelError, format_message
from facade.tensor import TensorSpec, spec_from_type

# Native artifacts each engine accepts directly, by file suffix.
NATIVE_SUFFIXES = {
    ".tflite": "tflite",
    ".param": "ncnn",
    ".mnn": "mnn",
    ".mlpackage": "coreml",
    ".mlmodel": "coreml",
    ".dlc": "dlc",
}
_CHANNEL_FIRST_OPS = {"Conv", "ConvTranspose", "MaxPool", "AveragePool", "GlobalAveragePool",
                      "GlobalMaxPool", "LpPool", "BatchNormalization", "InstanceNormalization", "LRN"}
_LAYOUTS = {3: "NCW", 4: "NCHW", 5: "NCDHW"}


@dataclass
class Model:
    """A model read once: its format, bytes digest, name, and I/O contract."""

    format: str
    sha256: str
    name: str
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    path: Path | None = None
    proto: onnx.ModelProto | None = field(default=None, repr=False)

    @property
    def opset(self) -> int:
        """The default-domain opset of an ONNX model (0 for native artifacts)."""
        if self.proto is None:
            return 0
        return next((o.version for o in self.proto.opset_import if o.domain in ("", "ai.onnx")), 0)

    def serialized(self) -> bytes:
        """The ONNX bytes (external data inlined), for engines that take a buffer."""
        if self.proto is None:
            raise ModelError(format_message("Model is not ONNX", where=self.name, received=self.format,
                                            expected="an ONNX model"))
        return self.proto.SerializeToString()


def _spec(vi: onnx.ValueInfoProto, layout: str | None) -> TensorSpec:
    return spec_from_type(vi.name, vi.type, layout)


def _layouts(graph: onnx.GraphProto) -> dict[str, str]:
    """Names of graph tensors read or written directly by a channel-first operator."""
    ranks = {}
    for vi in [*graph.input, *graph.output]:
        if vi.type.tensor_type.HasField("shape"):
            ranks[vi.name] = len(vi.type.tensor_type.shape.dim)
    found = {}
    for node in graph.node:
        if node.op_type in _CHANNEL_FIRST_OPS:
            for name in [*node.input[:1], *node.output[:1]]:
                if ranks.get(name) in _LAYOUTS:
                    found[name] = _LAYOUTS[ranks[name]]
    return found


def onnx_specs(proto: onnx.ModelProto) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """Input specs (initializers excluded) and output specs of an ONNX model."""
    g = proto.graph
    inits = {i.name for i in g.initializer} | {i.name for i in g.sparse_initializer}
    lay = _layouts(g)
    inputs = [_spec(vi, lay.get(vi.name)) for vi in g.input if vi.name not in inits]
    outputs = [_spec(vi, lay.get(vi.name)) for vi in g.output]
    return inputs, outputs


def _parse_onnx(data: bytes, where: str) -> onnx.ModelProto:
    if not data:
        raise ModelError(format_message("Model is empty", where=where, received="0 bytes",
                                        expected="a serialized ONNX ModelProto"))
    try:
        return onnx.load_from_string(data)
    except Exception as e:  # protobuf raises DecodeError, or RuntimeWarning-like errors on garbage
        raise ModelError(format_message("Model is not a valid ONNX file (protobuf could not parse it)",
                                        where=where, received=f"{len(data)} bytes starting {data[:8]!r}",
                                        expected="a serialized ONNX ModelProto")) from e


def load_model(model: str | os.PathLike | bytes | onnx.ModelProto | Model) -> Model:
    """Read ``model`` (path, ONNX bytes, ``onnx.ModelProto``) once into a :class:`Model`.

    Raises:
        ModelError: the path is missing, the file empty, truncated, not ONNX, or
            failing ONNX validation; the message names the source.
    """
    if isinstance(model, Model):
        return model
    if isinstance(model, onnx.ModelProto):
        data = model.SerializeToString()
        proto = intake.validate(model, "<ModelProto>", hashlib.sha256(data).hexdigest(), None)
        name = proto.graph.name or "model"
        path = None
    elif isinstance(model, (bytes, bytearray, memoryview)):
        data = bytes(model)
        proto = intake.validate(_parse_onnx(data, "<bytes>"), "<bytes>", hashlib.sha256(data).hexdigest(), None)
        name = proto.graph.name or "model"
        path = None
    elif isinstance(model, (str, os.PathLike)):
        path = Path(model)
        if not path.exists():
            raise ModelError(format_message("Model file not found", where=str(path), received=str(path.resolve()),
                                            expected="an existing .onnx file (or a native artifact)"))
        fmt = NATIVE_SUFFIXES.get(path.suffix.lower())
        if fmt is not None:
            return _native_artifact(path, fmt)
        if path.is_dir():
            raise ModelError(format_message("Model path is a directory", where=str(path),
                                            expected="an .onnx file"))
        data = path.read_bytes()
        proto = intake.validate(_parse_onnx(data, str(path)), str(path), hashlib.sha256(data).hexdigest(),
                                path.parent)
        name = path.stem
    else:
        raise ModelError(format_message("Unsupported model argument", received=type(model).__name__,
                                        expected="a path, ONNX bytes or onnx.ModelProto"))
    inputs, outputs = onnx_specs(proto)
    return Model("onnx", hashlib.sha256(data).hexdigest(), name, inputs, outputs, path, proto)


def _native_artifact(path: Path, fmt: str) -> Model:
    """A model already in one engine's format: its I/O contract is read by that engine's adapter."""
    files = sorted(path.rglob("*")) if path.is_dir() else [path]
    if fmt == "ncnn":
        files.append(path.with_suffix(".bin"))
    digest = hashlib.sha256()
    for f in files:
        if f.is_file():
            digest.update(f.read_bytes())
    if digest.digest() == hashlib.sha256().digest():
        raise ModelError(format_message("Model artifact is empty", where=str(path), expected=f"a {fmt} model"))
    return Model(fmt, digest.hexdigest(), path.stem, [], [], path, None)
