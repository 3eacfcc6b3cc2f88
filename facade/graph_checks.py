"""Operator checks that ONNX shape inference leaves to the engine, made before any engine loads.

onnx's inference for Conv takes ``kernel_shape`` on trust and never compares input
channels with the weights and ``group``; Transpose accepts a ``perm`` of the wrong
length; Reshape to a constant shape of another element count passes. ONNX Runtime
then loads such a model and fails inside ``run()``, and other engines compute
numbers from it. Each check here raises a :class:`~facade.errors.ModelError`
naming the node, its operator, and what contradicts what.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import numpy_helper

from facade.errors import InputError, ModelError, format_message

Shapes = dict[str, list[int | str]]
Consts = dict[str, np.ndarray]


def _attr(node: onnx.NodeProto, name: str, default: object = None) -> object:
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def _refuse(node: onnx.NodeProto, where: str, what: str, received: object, expected: object) -> None:
    label = f"{node.op_type} node {node.name!r}" if node.name else f"{node.op_type} node (unnamed)"
    raise ModelError(format_message(f"{label}: {what}", where=where, received=received, expected=expected))


def _conv(node: onnx.NodeProto, shapes: Shapes, consts: Consts, where: str) -> None:
    x, w = (shapes.get(n) for n in node.input[:2])
    group = _attr(node, "group", 1)
    if group < 1:
        _refuse(node, where, "group must be positive", f"group={group}", "group >= 1")
    if w is None:
        return
    kernel = _attr(node, "kernel_shape")
    if kernel is not None and list(kernel) != list(w[2:]):
        _refuse(node, where, "kernel_shape contradicts the weights", f"kernel_shape={list(kernel)}, "
                f"weight shape {w}", f"kernel_shape={list(w[2:])} (the weight's spatial dims)")
    if x is None:
        return
    if len(x) != len(w):
        _refuse(node, where, "weight rank differs from input rank", f"input {x}, weight {w}",
                f"a rank-{len(x)} weight [M, C/group, k...]")
    c, per_group, m = x[1], w[1], w[0]
    if all(isinstance(v, int) for v in (c, per_group)) and c != per_group * group:
        _refuse(node, where, "input channels contradict weights and group",
                f"input channels {c}, weight shape {w}, group={group}",
                f"input channels = weight.shape[1] x group = {per_group * group}")
    if isinstance(m, int) and m % group:
        _refuse(node, where, "output channels are not divisible by group", f"weight shape {w}, group={group}",
                "weight.shape[0] a multiple of group")


def _transpose(node: onnx.NodeProto, shapes: Shapes, consts: Consts, where: str) -> None:
    x = shapes.get(node.input[0])
    perm = _attr(node, "perm")
    if x is None or perm is None:
        return
    if sorted(perm) != list(range(len(x))):
        _refuse(node, where, "perm is not a permutation of the input's axes", f"perm={list(perm)}, input {x}",
                f"a permutation of 0..{len(x) - 1}")


def _reshape(node: onnx.NodeProto, shapes: Shapes, consts: Consts, where: str) -> None:
    x = shapes.get(node.input[0])
    target = consts.get(node.input[1]) if len(node.input) > 1 else None
    if x is None or target is None or not all(isinstance(d, int) for d in x):
        return
    dims = [int(d) for d in target.reshape(-1)]
    if not _attr(node, "allowzero", 0):
        dims = [x[i] if d == 0 and i < len(x) else d for i, d in enumerate(dims)]
    if -1 in dims:
        return  # onnx's inference checks the inferred axis when it can
    if int(np.prod(dims)) != int(np.prod(x)):
        _refuse(node, where, "target shape has a different element count than the input",
                f"input {x} ({int(np.prod(x))} elements), shape {dims} ({int(np.prod(dims))} elements)",
                "a shape with the same element count")


# Operators whose ``axis``/``axes`` attribute indexes input 0's axes; True: the rank itself is valid too.
_AXIS_OPS = {"Flatten": True, "Softmax": False, "LogSoftmax": False, "Hardmax": False, "Concat": False,
             "Gather": False, "GatherElements": False, "ArgMax": False, "ArgMin": False, "Split": False,
             "CumSum": False, "LpNormalization": False, "ReduceMax": False, "ReduceMin": False,
             "ReduceSum": False, "ReduceMean": False, "ReduceProd": False, "ReduceL1": False, "ReduceL2": False,
             "ReduceLogSum": False, "ReduceLogSumExp": False, "ReduceSumSquare": False}


def _axes(node: onnx.NodeProto, shapes: Shapes, consts: Consts, where: str) -> None:
    x = shapes.get(node.input[0]) if node.input else None
    if x is None:
        return
    rank, upper = len(x), len(x) + (1 if _AXIS_OPS[node.op_type] else 0)
    for name in ("axis", "axes"):
        value = _attr(node, name)
        for axis in ([value] if isinstance(value, int) else list(value or [])):
            if not -rank <= axis < upper:
                _refuse(node, where, f"{name} is out of range for the input's rank", f"{name}={value}, input {x}",
                        f"{name} in [{-rank}, {upper - 1}]")


def _schema_attributes(node: onnx.NodeProto, opset: int, where: str) -> None:
    """Every attribute known to the operator's schema at ``opset``, with the schema's type.

    onnx.checker leaves both to engines: ONNX Runtime refuses at load, others read a
    string ``alpha`` as a number or ignore a misspelt attribute and compute something else.
    """
    try:
        schema = onnx.defs.get_schema(node.op_type, opset, node.domain)
    except onnx.defs.SchemaError:
        return  # the checker already refused an unknown default-domain operator
    for a in node.attribute:
        spec = schema.attributes.get(a.name)
        if spec is None:
            _refuse(node, where, f"attribute {a.name!r} is not an attribute of {node.op_type}-{schema.since_version}",
                    a.name, sorted(schema.attributes) or "no attributes")
        if a.type != spec.type.value and not (a.ref_attr_name and a.type == 0):
            _refuse(node, where, f"attribute {a.name!r} has the wrong type",
                    onnx.AttributeProto.AttributeType.Name(a.type),
                    onnx.AttributeProto.AttributeType.Name(spec.type.value))


_CHECKS: dict[str, Callable[[onnx.NodeProto, Shapes, Consts, str], None]] = {
    "Conv": _conv, "ConvInteger": _conv, "Transpose": _transpose, "Reshape": _reshape,
}


def check_nodes(model: onnx.ModelProto, inferred: onnx.ModelProto, where: str) -> None:
    """Run the per-operator checks on the main graph's default-domain nodes, with ``inferred``'s shapes."""
    g = inferred.graph
    shapes: Shapes = {}
    for vi in [*g.input, *g.output, *g.value_info]:
        tt = vi.type.tensor_type
        if vi.type.HasField("tensor_type") and tt.HasField("shape"):
            shapes[vi.name] = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in tt.shape.dim]
    consts: Consts = {}
    for init in model.graph.initializer:
        shapes[init.name] = list(init.dims)
        if init.data_type == onnx.TensorProto.INT64 and int(np.prod(init.dims)) <= 16:
            consts[init.name] = numpy_helper.to_array(init)
    for node in model.graph.node:
        if node.op_type == "Constant" and node.output and node.attribute and node.attribute[0].name == "value":
            value = node.attribute[0].t
            if value.data_type == onnx.TensorProto.INT64 and int(np.prod(value.dims)) <= 16:
                consts[node.output[0]] = numpy_helper.to_array(value)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
    for node in model.graph.node:
        if node.domain not in ("", "ai.onnx"):
            continue
        _schema_attributes(node, opset, where)
        if node.op_type in _AXIS_OPS:
            _axes(node, shapes, consts, where)
        check = _CHECKS.get(node.op_type)
        if check is not None:
            check(node, shapes, consts, where)


@dataclass(frozen=True)
class IndexBound:
    """A graph input used directly as Gather indices into an axis of static ``size``."""

    feed: str
    node: str
    size: int


def index_bounds(model: onnx.ModelProto | None) -> list[IndexBound]:
    """Gather nodes whose indices are a graph input and whose data axis is static.

    Only run time can check fed indices, and engines differ: ONNX Runtime and the native
    engine refuse an index past the end, MNN reads past the tensor and returns numbers
    (measured with benchmarks/bad_inputs.py). The base runner checks these feeds for all.
    """
    if model is None:
        return []
    g = model.graph
    shapes: Shapes = {init.name: list(init.dims) for init in g.initializer}
    for vi in g.input:
        tt = vi.type.tensor_type
        if vi.type.HasField("tensor_type") and tt.HasField("shape"):
            shapes[vi.name] = [d.dim_value if d.HasField("dim_value") else "?" for d in tt.shape.dim]
    feeds = {vi.name for vi in g.input} - {init.name for init in g.initializer}
    found = []
    for node in g.node:
        if node.op_type != "Gather" or node.domain not in ("", "ai.onnx") or len(node.input) < 2:
            continue
        data, axis = shapes.get(node.input[0]), _attr(node, "axis", 0)
        if node.input[1] in feeds and data and -len(data) <= axis < len(data) and isinstance(data[axis], int):
            found.append(IndexBound(node.input[1], node.name or node.op_type, data[axis]))
    return found


def check_index_feeds(bounds: list[IndexBound], feeds: dict[str, object], where: str) -> None:
    """Refuse a fed index outside ``[-size, size - 1]`` of the axis it indexes (InputError naming the node)."""
    for b in bounds:
        value = feeds.get(b.feed)
        if not isinstance(value, np.ndarray) or value.size == 0 or value.dtype.kind not in "iu":
            continue
        low, high = int(value.min()), int(value.max())
        if low < -b.size or high >= b.size:
            raise InputError(format_message(
                f"Input {b.feed!r} indexes Gather node {b.node!r} out of range", where=where,
                received=f"indices from {low} to {high}", expected=f"indices in [{-b.size}, {b.size - 1}]"))
