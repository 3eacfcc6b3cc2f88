"""Realistic seeded weights for models shipped without them.

The light models in the onnx wheel (``onnx/backend/test/data/light``) replace
every large weight by ``ConstantOfShape(0.02)``: fine for operator coverage,
useless for numerics (the output is a uniform softmax). :func:`materialize`
turns those into He-normal convolution weights, scaled dense weights and small
biases, then sets every BatchNormalization's statistics from real activations
(one calibration run), so activations stay of order one and engines can be
compared on meaningful values.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from facade.inputs import seeded_feeds
from facade.model import onnx_specs
from facade.reference import reference_outputs

_PASS_THROUGH = {"Unsqueeze", "Reshape", "Identity", "Cast", "Squeeze", "Transpose"}


def _consumer(graph: onnx.GraphProto, name: str) -> tuple[onnx.NodeProto | None, int]:
    """The first real consumer of ``name`` (through shape-only ops) and the input index it uses."""
    for _ in range(8):
        hit = next(((n, i) for n in graph.node for i, x in enumerate(n.input) if x == name), None)
        if hit is None:
            return None, -1
        if hit[0].op_type not in _PASS_THROUGH:
            return hit
        name = hit[0].output[0]
    return None, -1


def _attr(node: onnx.NodeProto, key: str, default: int) -> int:
    return next((a.i for a in node.attribute if a.name == key), default)


def _values(rng: np.random.Generator, shape: tuple[int, ...], node: onnx.NodeProto | None, index: int) -> np.ndarray:
    op = node.op_type if node is not None else ""
    normal = rng.standard_normal(shape)
    if op in ("Conv", "ConvTranspose") and index == 1:
        fan_in = int(np.prod(shape[1:])) * (_attr(node, "group", 1) if op == "ConvTranspose" else 1)
        return normal * np.sqrt(2.0 / max(fan_in, 1))
    if op == "Gemm" and index == 1 and len(shape) == 2:
        return normal * np.sqrt(1.0 / shape[1 if _attr(node, "transB", 0) else 0])
    if op == "MatMul" and index == 1 and len(shape) >= 2:
        return normal * np.sqrt(1.0 / shape[-2])
    if op == "BatchNormalization":
        return {1: 1.0 + 0.1 * normal, 2: 0.1 * normal, 3: np.zeros(shape), 4: np.ones(shape)}.get(index, normal)
    if op in ("Mul", "Div", "InstanceNormalization", "LayerNormalization") and index >= 1:
        return 1.0 + 0.1 * normal
    if op == "PRelu":
        return np.full(shape, 0.25)
    return 0.1 * normal


def materialize(model: onnx.ModelProto, seed: int = 0) -> onnx.ModelProto:
    """Replace ``ConstantOfShape`` weights by seeded values and calibrate BatchNormalization."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    rng = np.random.default_rng(seed)
    inits = {t.name: t for t in graph.initializer}
    keep = []
    for node in graph.node:
        shape_init = inits.get(node.input[0]) if node.op_type == "ConstantOfShape" and node.input else None
        value = next((a.t for a in node.attribute if a.name == "value"), None)
        if shape_init is None or (value is not None and value.data_type != onnx.TensorProto.FLOAT):
            keep.append(node)
            continue
        shape = tuple(int(d) for d in numpy_helper.to_array(shape_init))
        consumer, index = _consumer(graph, node.output[0])
        data = _values(rng, shape, consumer, index).astype(np.float32)
        graph.initializer.append(numpy_helper.from_array(data, node.output[0]))
    del graph.node[:]
    graph.node.extend(keep)
    # From IR 4 on, initializers need not be listed as graph inputs. Old models list them,
    # which from IR 4 on would make every weight an overridable input: engines (QNN) then
    # treat weights as runtime data. They are constants here, so unlist them.
    model.ir_version = max(model.ir_version, 4)
    weights = {t.name for t in graph.initializer}
    real_inputs = [vi for vi in graph.input if vi.name not in weights]
    del graph.input[:]
    graph.input.extend(real_inputs)
    _prune(graph)
    _calibrate_batchnorm(model, seed)
    _prune(graph)
    return model


def _prune(graph: onnx.GraphProto) -> None:
    """Drop initializers no node reads (and their graph-input entries, for IR < 4 models)."""
    used = {x for n in graph.node for x in n.input} | {o.name for o in graph.output}
    dead = {t.name for t in graph.initializer if t.name not in used}
    keep_init = [t for t in graph.initializer if t.name not in dead]
    keep_in = [vi for vi in graph.input if vi.name not in dead]
    del graph.initializer[:]
    graph.initializer.extend(keep_init)
    del graph.input[:]
    graph.input.extend(keep_in)


def _opset(model: onnx.ModelProto) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)


def _calibrate_batchnorm(model: onnx.ModelProto, seed: int) -> None:
    """Set each BatchNormalization's mean/var to the statistics of its input, in one run.

    A calibration copy feeds every BatchNormalization with the mean and variance
    of its own input, computed in-graph, and exposes them as outputs, so the
    statistics of deeper layers already see normalized activations upstream.
    """
    bns = [n for n in model.graph.node if n.op_type == "BatchNormalization"]
    if not bns:
        return
    calib = onnx.ModelProto.FromString(model.SerializeToString())
    g = calib.graph
    opset = _opset(calib)
    inferred = onnx.shape_inference.infer_shapes(calib)
    ranks = {vi.name: len(vi.type.tensor_type.shape.dim)
             for vi in [*inferred.graph.value_info, *inferred.graph.input] if vi.type.tensor_type.HasField("shape")}
    g.initializer.append(numpy_helper.from_array(np.array([-1], np.int64), "__calib_flat"))
    stats, nodes = [], []
    for node in g.node:
        if node.op_type != "BatchNormalization":
            nodes.append(node)
            continue
        k, x = len(stats), node.input[0]
        axes = [0, *range(2, ranks.get(x, 4))]
        extra_in, extra_attr = [], {"axes": axes}
        if opset >= 18:
            g.initializer.append(numpy_helper.from_array(np.array(axes, np.int64), f"__calib_axes{k}"))
            extra_in, extra_attr = [f"__calib_axes{k}"], {}
        p = f"__calib{k}_"
        nodes += [
            helper.make_node("ReduceMean", [x, *extra_in], [p + "m"], keepdims=1, **extra_attr),
            helper.make_node("Sub", [x, p + "m"], [p + "d"]),
            helper.make_node("Mul", [p + "d", p + "d"], [p + "d2"]),
            helper.make_node("ReduceMean", [p + "d2", *extra_in], [p + "v"], keepdims=1, **extra_attr),
            helper.make_node("Reshape", [p + "m", "__calib_flat"], [p + "mean"]),
            helper.make_node("Reshape", [p + "v", "__calib_flat"], [p + "var"]),
        ]
        fed = onnx.NodeProto.FromString(node.SerializeToString())
        fed.input[3], fed.input[4] = p + "mean", p + "var"
        nodes.append(fed)
        g.output.extend([helper.make_tensor_value_info(p + "mean", onnx.TensorProto.FLOAT, None),
                         helper.make_tensor_value_info(p + "var", onnx.TensorProto.FLOAT, None)])
        stats.append((p + "mean", p + "var"))
    del g.node[:]
    g.node.extend(nodes)
    _prune(g)

    values = reference_outputs(calib, seeded_feeds(onnx_specs(calib)[0], seed))
    for k, (node, (mean, var)) in enumerate(zip(bns, stats, strict=True)):
        for slot, name in ((3, mean), (4, var)):
            fresh = f"{node.input[slot]}__bn{k}"
            model.graph.initializer.append(numpy_helper.from_array(values[name].astype(np.float32), fresh))
            node.input[slot] = fresh
