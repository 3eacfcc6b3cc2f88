"""A size bound for QNN's HTP simulator, checked before ONNX Runtime creates the session.

On x86-64 the HTP backend is a simulator: graph preparation walks every element, so a model
with ~1e12 elements (a ``[1e6, 1e6]`` Relu, a huge Conv) does not return from session creation
within a minute, and nothing can interrupt it in-process. Facade's intake bounds every model
for every engine by memory; this bound is HTP's own and much lower. Measured here (2 shared
cores, one Relu, Session creation): 1.6e7 elements 2.4 s, 6.7e7 (the bound) 10 s; time grows
with the element count, so a 1e9-element tensor would take minutes.
"""

from __future__ import annotations

import math

import onnx

from facade.errors import UnsupportedModelError, format_message

MAX_ELEMENTS = 1 << 26  # per tensor: 6.7e7 elements, 256 MiB in float32


def _dims(type_proto: onnx.TypeProto) -> list[int] | None:
    if not type_proto.HasField("tensor_type") or not type_proto.tensor_type.HasField("shape"):
        return None
    dims = [d.dim_value if d.HasField("dim_value") else 1 for d in type_proto.tensor_type.shape.dim]
    return dims


def largest_tensor(proto: onnx.ModelProto) -> tuple[str, list[int], int] | None:
    """The tensor with the most elements among the graph's declared ones (inputs, outputs,
    value_info, initializers); symbolic dims count as 1."""
    best = None
    g = proto.graph
    shaped = [(v.name, _dims(v.type)) for v in (*g.input, *g.output, *g.value_info)]
    shaped += [(t.name, list(t.dims)) for t in g.initializer]
    for name, dims in shaped:
        if dims is None:
            continue
        count = math.prod(dims)
        if best is None or count > best[2]:
            best = (name, dims, count)
    return best


def check(proto: onnx.ModelProto, where: str) -> None:
    """Refuse a model whose largest declared tensor is beyond what the HTP simulator prepares in time."""
    largest = largest_tensor(proto)
    if largest is not None and largest[2] > MAX_ELEMENTS:
        name, dims, count = largest
        raise UnsupportedModelError(format_message(
            "Model is too large for QNN's HTP simulator: creating its session would not return in minutes",
            where=where, received=f"tensor {name!r} of shape {dims} ({count:.3g} elements)",
            expected=f"at most {MAX_ELEMENTS:.3g} elements per tensor on this target, or another target"))
