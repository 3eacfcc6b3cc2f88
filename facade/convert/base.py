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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

import onnx

from facade.convert import causes
from facade.convert import prepare as preparation
from facade.convert.causes import LogPattern
from facade.convert.child import ChildFailed, run_child, tail
from facade.convert.prepare import MIN_OPSET, Limits, Prepared
from facade.errors import ConversionError, format_message
from facade.model import Model
from facade.progress import elapsed
from facade.targets import Availability


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


# How refusals name the engine a converter feeds (by the format it writes).
ENGINES: Mapping[str, str] = {"ncnn": "ncnn", "mnn": "MNN", "tflite": "LiteRT", "coreml": "Core ML", "dlc": "SNPE"}


class Converter:
    """One ONNX-to-engine converter. Subclasses fill the class attributes and the hooks."""

    name: ClassVar[str]
    produces: ClassVar[str]  # the model format it writes: ncnn | mnn | tflite | coreml | dlc
    timeout_s: ClassVar[float] = 300.0
    needs_static_shapes: ClassVar[bool] = True
    max_ir_version: ClassVar[int | None] = None  # the newest ONNX IR version the tool reads (None: any)
    max_opset: ClassVar[int | None] = None  # the newest ai.onnx opset the tool reads (None: any)
    fold_with_ort: ClassVar[bool] = False  # fold constants with ONNX Runtime after simplifying
    lower: ClassVar[tuple[str, ...]] = ()  # operators the tool lacks, rewritten exactly first (prepare.LOWERINGS)
    log_causes: ClassVar[tuple[LogPattern, ...]] = ()  # what the tool's log says when it fails, and why

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

    def limits(self) -> Limits:
        """What the tool accepts, from the class attributes (:mod:`.prepare` brings models within it)."""
        return Limits(max_ir_version=self.max_ir_version, min_opset=MIN_OPSET, max_opset=self.max_opset,
                      static_shapes=self.needs_static_shapes, fold_with_ort=self.fold_with_ort, lower=self.lower)

    def prepare(self, proto: onnx.ModelProto) -> Prepared:
        """The ONNX model the tool is given, and the preparation steps taken (see :mod:`.prepare`)."""
        return preparation.prepare(proto, self.limits())

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

    def unsupported(self, dest: Path, main: str) -> list[str]:
        """Operators or layers in the written artifact that the engine cannot run (default: none known).

        A converter may write what its engine then refuses to load (pnnx writes
        ``Tensor.to`` layers that ncnn lacks; onnx2tf writes Flex ops that LiteRT
        lacks): naming them here makes the conversion fail by its cause, once.
        """
        return []

    def failure(self, what: str | None, log: str, how: str, where: str, proto: onnx.ModelProto,
                ops: Sequence[str] = ()) -> ConversionError:
        """The error for a failed conversion: the cause first (``what``, else the log's own cause, else its
        last error line), the ONNX nodes of known-limit operators, then how the tool ended and the raw log's path."""
        engine = ENGINES.get(self.produces, self.produces)
        found = causes.cause(log, engine, self.log_causes) if what is None else None
        if found is not None:
            what, ops = found.text, found.ops
        if what is None and causes.last_error_line(log):
            what = f"the converter for {engine} failed: {causes.last_error_line(log)}"
        if what is None:  # a crash with no error line: say where the tool had got to
            what = f"the converter for {engine} stopped without saying why, after: {causes.last_line(log) or '(no output)'}"
        notes = []
        for op in ops:
            limit = causes.known_limit(self.produces, op)
            if limit is not None:
                nodes = [n.name or f"#{i}" for i, n in enumerate(proto.graph.node) if n.op_type == limit.onnx_op]
                at = f"the model's ONNX {limit.onnx_op} node(s) {', '.join(nodes[:3])}" \
                     f"{' ...' if len(nodes) > 3 else ''}; " if nodes else ""
                notes.append(f"{op}: {at}{limit.reason}")
        path = causes.keep_log(log, self.name, proto.SerializeToString())
        return ConversionError(format_message(
            what if what.startswith((engine, self.name)) else what[:1].upper() + what[1:], where=where, received=f"{self.name} {how}; raw log: {path}",
            expected=f"a model {engine} can take", hint="; ".join(notes) or None))

    def convert(self, model: Model, dest: Path, options: Mapping[str, object],
                prepared: Prepared | None = None) -> tuple[str, dict]:
        """Convert ``model`` (``prepared`` by :meth:`prepare` when not given) into ``dest``; return
        (entry file name, IO metadata for the adapter).

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
        prepared = prepared or self.prepare(model.proto)
        proto = prepared.proto
        with tempfile.TemporaryDirectory(prefix=f"facade-{self.name}-") as tmp:
            workdir = Path(tmp)
            src = workdir / "model.onnx"
            onnx.save(proto, src)
            self.setup_workdir(workdir)
            with elapsed(f"converting {model.name} with {self.name}"):
                try:
                    output = run_child(self.command(src, workdir, options, proto), cwd=workdir,
                                       timeout_s=self.timeout_s, where=where)
                except ChildFailed as e:
                    raise self.failure(None, e.output, e.how, where, proto) from e
            try:
                main = self.collect(workdir, dest, options)
            except (FileNotFoundError, shutil.Error) as e:
                raise self.failure(None, output, f"reported success but wrote no model ({e})", where, proto) from e
            missing = self.unsupported(dest, main)
            if missing:
                engine = ENGINES.get(self.produces, self.produces)
                raise self.failure(f"{engine} has no operator or layer for {', '.join(missing)}", output,
                                   "wrote a model the engine cannot load", where, proto, missing)
            facts = self.io_facts(workdir)
        return main, {"output_shapes": output_shapes(proto) if self.needs_static_shapes else {},
                      "log": tail(output, 3), **facts}


def move(workdir: Path, dest: Path, *names: str) -> None:
    """Move converter outputs ``names`` from ``workdir`` into ``dest`` (FileNotFoundError if one is missing)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        src = workdir / name
        if not src.exists() or (src.is_file() and src.stat().st_size == 0):
            raise FileNotFoundError(name)
        shutil.move(str(src), dest / name)
