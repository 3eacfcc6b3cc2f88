"""facade.native_fallback: the in-house engine that always runs.

ONNX in, numpy kernels (and OpenCL kernels where a device supports them) out.
Exact first (a float64 mode is the conformance oracle), then fast.

    prog = native_fallback.compile(model, dtype="float32", device="cpu")
    outs = prog.run({"input": x})
"""

from __future__ import annotations

import os

import onnx

from facade.errors import ArgumentError, format_message

from . import (
    ir,
    ops,  # noqa: F401  (registers every kernel)
    registry,
)
from .probe import opencl_available
from .program import Program, opset_for, unsupported_line

__all__ = ["Program", "compile", "opencl_available", "unsupported"]

_DTYPES = ("float32", "float64")
_DEVICES = ("cpu", "opencl")


def compile(model: onnx.ModelProto | str | os.PathLike, *, dtype: str = "float32", device: str = "cpu",
            optimize: bool = True, threads: int | None = None) -> Program:
    """Compile an ONNX model into a runnable :class:`Program`.

    ``dtype="float64"`` computes every float tensor in float64 (the conformance
    oracle); ``threads`` bounds the BLAS thread pool while the program runs.
    """
    if dtype not in _DTYPES:
        raise ArgumentError(format_message("Unknown dtype", where="native.compile(dtype=...)", received=dtype,
                                           expected=" or ".join(_DTYPES)))
    if device not in _DEVICES:
        raise ArgumentError(format_message("Unknown device", where="native.compile(device=...)", received=device,
                                           expected=" or ".join(_DEVICES)))
    graph = ir.from_model(ir.load(model))
    if optimize:
        from .optimizer import optimize as run_passes

        graph = run_passes(graph, device)
    if device == "opencl":
        from .opencl.program import OpenCLProgram

        return OpenCLProgram(graph, float64=dtype == "float64", threads=threads)
    return Program(graph, float64=dtype == "float64", threads=threads)


def unsupported(model: onnx.ModelProto | str | os.PathLike) -> list[str]:
    """One readable line per node (subgraphs included) that no kernel implements."""
    proto = ir.load(model)
    graph = ir.from_graph_proto(proto.graph, {(o.domain or ""): o.version for o in proto.opset_import})
    lines: list[str] = []

    def visit(g: ir.Graph) -> None:
        for node in g.nodes:
            opset = opset_for(g, node)
            if registry.lookup(node.domain, node.op_type, opset) is None:
                lines.append(unsupported_line(node, opset))
            for value in node.attrs.values():
                for sub in value if isinstance(value, list) else [value]:
                    if isinstance(sub, ir.Graph):
                        visit(sub)

    visit(graph)
    return lines
