"""Models for tests and benchmarks, built in code (nothing is downloaded).

* The onnx wheel's light models have their weights stripped to
  ``ConstantOfShape(0.02)``; :func:`realistic` gives them seeded weights
  (He-normal for convolutions) and sets each BatchNormalization's statistics from
  the activations that really reach it, so outputs stay of order one and a
  numerical comparison means something.
* :func:`mobilenet_v2` builds a MobileNetV2-shaped network with onnx.helper.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .ir import from_model
from .program import Program

LIGHT_DIR = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"


def light_model(name: str) -> onnx.ModelProto:
    """Load ``light_<name>.onnx`` from the onnx wheel."""
    return onnx.load(LIGHT_DIR / f"light_{name}.onnx")


def light_names() -> list[str]:
    """Every light model the onnx wheel ships."""
    return sorted(p.stem.removeprefix("light_") for p in LIGHT_DIR.glob("light_*.onnx"))


def data_input(model: onnx.ModelProto) -> onnx.ValueInfoProto:
    """The model's one real (non-initializer) input."""
    inits = {t.name for t in model.graph.initializer}
    return next(i for i in model.graph.input if i.name not in inits)


def sample_input(model: onnx.ModelProto, seed: int = 0) -> dict[str, np.ndarray]:
    """A seeded standard-normal feed for the model's data input."""
    inp = data_input(model)
    shape = [d.dim_value or 1 for d in inp.type.tensor_type.shape.dim]
    return {inp.name: np.random.default_rng(seed).standard_normal(shape).astype(np.float32)}


def _weight(shape: tuple[int, ...], role: tuple[str, int], rng: np.random.Generator) -> np.ndarray:
    """A seeded value for a stripped weight, by the (op, input index) that reads it."""
    op, index = role
    if op == "Conv" and index == 1:
        return rng.normal(0, np.sqrt(2.0 / max(1, int(np.prod(shape[1:])))), shape)
    if op == "Gemm" and index == 1:
        return rng.normal(0, np.sqrt(1.0 / max(1, min(shape))), shape)
    if op == "BatchNormalization":
        return {1: rng.uniform(0.5, 1.5, shape), 3: np.zeros(shape), 4: np.ones(shape)}.get(
            index, rng.normal(0, 0.1, shape))
    if op in ("Mul", "Unsqueeze"):
        return rng.uniform(0.5, 1.5, shape)
    return rng.normal(0, 0.1, shape)


def realistic(model: onnx.ModelProto, seed: int = 0) -> onnx.ModelProto:
    """A copy of ``model`` with seeded weights and BatchNorm statistics calibrated on a sample."""
    rng = np.random.default_rng(seed)
    model = onnx.ModelProto.FromString(model.SerializeToString())
    g = model.graph
    consts = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    roles: dict[str, tuple[str, int]] = {}
    for node in g.node:
        for i, name in enumerate(node.input):
            roles.setdefault(name, (node.op_type, i))
    kept, weights = [], {}
    for node in g.node:
        if node.op_type == "ConstantOfShape" and node.input[0] in consts:
            shape = tuple(int(d) for d in consts[node.input[0]])
            weights[node.output[0]] = _weight(shape, roles.get(node.output[0], ("", 0)), rng)
            continue
        kept.append(node)
    for name, value in consts.items():
        if value.dtype.kind == "f" and name in roles:
            weights[name] = _weight(value.shape, roles.get(name, ("", 0)), rng)
    del g.node[:]
    g.node.extend(kept)
    read = {name for node in kept for name in node.input}
    keep_inits = [t for t in g.initializer if t.name not in weights and t.name in read]
    del g.initializer[:]
    g.initializer.extend(keep_inits)
    g.initializer.extend(numpy_helper.from_array(v.astype(np.float32), k) for k, v in weights.items())
    dropped = set(consts) - {t.name for t in g.initializer}
    inputs = [i for i in g.input if i.name not in dropped]
    del g.input[:]
    g.input.extend(inputs)
    _calibrate_batchnorm(model, sample_input(model, seed))
    return model


def _calibrate_batchnorm(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> None:
    """Set each BN's mean/var to its input's real statistics, in schedule order, in float64."""
    prog = Program(from_model(model), float64=True)
    env: dict[str, object] = {**prog._constants, **{k: v.astype(np.float64) for k, v in feeds.items()}}
    inits = {t.name: t for t in model.graph.initializer}
    for step in prog.steps:
        node = step.node
        if node.op_type == "BatchNormalization":
            x = env[node.inputs[0]]
            axes = (0, *range(2, x.ndim))
            for name, value in ((node.inputs[3], x.mean(axis=axes)), (node.inputs[4], x.var(axis=axes))):
                env[name] = value
                inits[name].CopyFrom(numpy_helper.from_array(value.astype(np.float32), name))
        outs = step.kernel(*[env[n] if n else None for n in node.inputs])
        env.update(zip(node.outputs, outs, strict=False))


def _conv_bn(nodes: list, inits: list, rng, x: str, cin: int, cout: int, k: int, stride: int,
             group: int, act: bool, tag: str) -> str:
    """Append Conv + BatchNormalization (+ Relu6 as Clip) and return the output name."""
    w = rng.normal(0, np.sqrt(2.0 / (cin // group * k * k)), (cout, cin // group, k, k))
    params = {f"{tag}_w": w, f"{tag}_s": rng.uniform(0.5, 1.5, cout), f"{tag}_b": rng.normal(0, 0.1, cout),
              f"{tag}_m": np.zeros(cout), f"{tag}_v": np.ones(cout)}
    inits.extend(numpy_helper.from_array(v.astype(np.float32), n) for n, v in params.items())
    nodes.append(helper.make_node("Conv", [x, f"{tag}_w"], [f"{tag}_c"], kernel_shape=[k, k],
                                  strides=[stride, stride], pads=[k // 2] * 4, group=group, name=f"{tag}_conv"))
    nodes.append(helper.make_node("BatchNormalization", [f"{tag}_c", *(f"{tag}_{p}" for p in "sbmv")],
                                  [f"{tag}_bn"], name=f"{tag}_bn"))
    if not act:
        return f"{tag}_bn"
    nodes.append(helper.make_node("Clip", [f"{tag}_bn", "relu6_lo", "relu6_hi"], [f"{tag}_r"], name=f"{tag}_relu6"))
    return f"{tag}_r"


def mobilenet_v2(seed: int = 0, size: int = 224) -> onnx.ModelProto:
    """A MobileNetV2-shaped model (width 1.0, 1000 classes), BN calibrated on a sample."""
    rng = np.random.default_rng(seed)
    nodes: list = []
    inits = [numpy_helper.from_array(np.array(0, np.float32), "relu6_lo"),
             numpy_helper.from_array(np.array(6, np.float32), "relu6_hi")]
    x = _conv_bn(nodes, inits, rng, "input", 3, 32, 3, 2, 1, True, "stem")
    cin = 32
    blocks = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
    for bi, (t, c, n, s) in enumerate(blocks):
        for i in range(n):
            tag, stride, hidden = f"b{bi}_{i}", s if i == 0 else 1, cin * t
            y = x if t == 1 else _conv_bn(nodes, inits, rng, x, cin, hidden, 1, 1, 1, True, f"{tag}_exp")
            y = _conv_bn(nodes, inits, rng, y, hidden, hidden, 3, stride, hidden, True, f"{tag}_dw")
            y = _conv_bn(nodes, inits, rng, y, hidden, c, 1, 1, 1, False, f"{tag}_proj")
            if stride == 1 and cin == c:
                nodes.append(helper.make_node("Add", [x, y], [f"{tag}_add"], name=f"{tag}_add"))
                y = f"{tag}_add"
            x, cin = y, c
    x = _conv_bn(nodes, inits, rng, x, cin, 1280, 1, 1, 1, True, "head")
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["gap"], name="gap"))
    nodes.append(helper.make_node("Flatten", ["gap"], ["flat"], name="flatten"))
    inits.append(numpy_helper.from_array(rng.normal(0, np.sqrt(1 / 1280), (1000, 1280)).astype(np.float32), "fc_w"))
    inits.append(numpy_helper.from_array(np.zeros(1000, np.float32), "fc_b"))
    nodes.append(helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["logits"], transB=1, name="fc"))
    nodes.append(helper.make_node("Softmax", ["logits"], ["prob"], axis=1, name="softmax"))
    graph = helper.make_graph(nodes, "mobilenet_v2", [helper.make_tensor_value_info(
        "input", onnx.TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("prob", onnx.TensorProto.FLOAT, [1, 1000])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="facade")
    model.ir_version = 8
    _calibrate_batchnorm(model, sample_input(model, seed))
    return model
