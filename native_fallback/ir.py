"""The engine's graph IR: ONNX decoded once into plain Python objects.

Kernels and passes work on :class:`Graph` and :class:`Node` rather than protobufs
because protobuf attribute access is slow and immutable-ish, and every optimizer
pass rewrites the graph.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from facade.errors import ModelError, format_message


@dataclass
class Node:
    """One operator application; ``attrs`` are decoded to Python/numpy values."""

    op_type: str
    inputs: list[str]
    outputs: list[str]
    name: str = ""
    domain: str = ""
    attrs: dict[str, Any] = field(default_factory=dict)
    proto: onnx.NodeProto | None = field(default=None, repr=False, compare=False)

    def label(self) -> str:
        """How errors name this node: its name, or its op and first output."""
        return f"node '{self.name or self.outputs[0]}' ({self.op_type})"


@dataclass
class Graph:
    """A topologically ordered graph with its constants and known shapes."""

    nodes: list[Node]
    inputs: list[str]
    outputs: list[str]
    initializers: dict[str, np.ndarray]
    opsets: dict[str, int]
    shapes: dict[str, tuple] = field(default_factory=dict)
    dtypes: dict[str, np.dtype] = field(default_factory=dict)


def load(model: onnx.ModelProto | str | os.PathLike) -> onnx.ModelProto:
    """Accept a ModelProto or a path (external data resolved next to the file)."""
    if isinstance(model, onnx.ModelProto):
        return model
    try:
        return onnx.load(os.fspath(model))
    except Exception as e:
        raise ModelError(
            format_message("cannot read the ONNX model", where="native", received=str(model),
                           expected="a readable .onnx file")
        ) from e


def _attr_value(attr: onnx.AttributeProto, opsets: dict[str, int]) -> Any:
    if attr.type == onnx.AttributeProto.GRAPH:
        return from_graph_proto(attr.g, opsets)
    if attr.type == onnx.AttributeProto.GRAPHS:
        return [from_graph_proto(g, opsets) for g in attr.graphs]
    if attr.type == onnx.AttributeProto.TENSOR:
        return numpy_helper.to_array(attr.t)
    if attr.type == onnx.AttributeProto.SPARSE_TENSOR:
        return _sparse_to_dense(attr.sparse_tensor)
    value = onnx.helper.get_attribute_value(attr)
    if isinstance(value, bytes):
        return value.decode()
    if attr.type == onnx.AttributeProto.STRINGS:
        return [v.decode() for v in value]
    return value


def _sparse_to_dense(sp: onnx.SparseTensorProto) -> np.ndarray:
    values = numpy_helper.to_array(sp.values)
    idx = numpy_helper.to_array(sp.indices)
    dense = np.zeros(int(np.prod(sp.dims)), dtype=values.dtype)
    if idx.ndim == 2:
        idx = np.ravel_multi_index(idx.T, tuple(sp.dims))
    dense[idx] = values
    return dense.reshape(tuple(sp.dims))


def _dtype_of(type_proto: onnx.TypeProto) -> np.dtype | None:
    if type_proto.HasField("tensor_type") and type_proto.tensor_type.elem_type:
        return onnx.helper.tensor_dtype_to_np_dtype(type_proto.tensor_type.elem_type)
    return None


def _shape_of(type_proto: onnx.TypeProto) -> tuple | None:
    if not type_proto.HasField("tensor_type") or not type_proto.tensor_type.HasField("shape"):
        return None
    return tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                 for d in type_proto.tensor_type.shape.dim)


def from_graph_proto(g: onnx.GraphProto, opsets: dict[str, int]) -> Graph:
    """Decode a GraphProto (main graph or a control-flow body)."""
    inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    for sp in g.sparse_initializer:
        inits[sp.values.name] = _sparse_to_dense(sp)
    nodes = [
        Node(n.op_type, list(n.input), list(n.output), n.name, n.domain or "",
             {a.name: _attr_value(a, opsets) for a in n.attribute}, n)
        for n in g.node
    ]
    graph = Graph(nodes, [i.name for i in g.input if i.name not in inits], [o.name for o in g.output],
                  inits, opsets)
    for vi in [*g.input, *g.value_info, *g.output]:
        shape, dtype = _shape_of(vi.type), _dtype_of(vi.type)
        if shape is not None:
            graph.shapes[vi.name] = shape
        if dtype is not None:
            graph.dtypes[vi.name] = dtype
    graph.nodes = toposort(graph)
    return graph


def from_model(model: onnx.ModelProto) -> Graph:
    """Decode a model, with onnx's shape inference where it succeeds.

    Shape inference is best effort: shapes only feed the optimizer's shape
    folding, and run time always resolves dynamic dimensions from real arrays.
    """
    opsets = {(o.domain or ""): o.version for o in model.opset_import}
    opsets.setdefault("", 1)
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    except Exception:
        inferred = model
    return from_graph_proto(inferred.graph, opsets)


def toposort(graph: Graph) -> list[Node]:
    """Order nodes so every input is produced before use (Kahn, stable)."""
    produced_by: dict[str, int] = {}
    for i, node in enumerate(graph.nodes):
        for out in node.outputs:
            if out:
                produced_by[out] = i
    deps = []
    for node in graph.nodes:
        names = list(node.inputs)
        for value in node.attrs.values():
            for sub in value if isinstance(value, list) else [value]:
                if isinstance(sub, Graph):
                    names.extend(free_names(sub))
        deps.append({produced_by[n] for n in names if n in produced_by})
    order, done, pending = [], set(), list(range(len(graph.nodes)))
    while pending:
        ready = [i for i in pending if deps[i] <= done]
        if not ready:
            cycle = ", ".join(graph.nodes[i].name or graph.nodes[i].op_type for i in pending[:5])
            raise ModelError(format_message("the graph has a cycle or a missing producer",
                                            where="native", received=cycle,
                                            expected="an acyclic ONNX graph"))
        order.extend(ready)
        done.update(ready)
        ready_set = set(ready)
        pending = [i for i in pending if i not in ready_set]
    return [graph.nodes[i] for i in order]


def free_names(graph: Graph) -> set[str]:
    """Names a subgraph reads from its enclosing scope."""
    local = set(graph.inputs) | set(graph.initializers)
    used = set()
    for node in graph.nodes:
        local.update(node.outputs)
    for node in graph.nodes:
        used.update(n for n in node.inputs if n)
        for value in node.attrs.values():
            for sub in value if isinstance(value, list) else [value]:
                if isinstance(sub, Graph):
                    used.update(free_names(sub))
    used.update(graph.outputs)
    return used - local
