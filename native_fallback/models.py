"""Models for tests and benchmarks, built in code (nothing is downloaded).

* The onnx wheel's light models have their weights stripped to
  ``ConstantOfShape(0.02)``; :func:`realistic` gives them seeded weights
  (He-normal for convolutions) and sets each BatchNormalization's statistics from
  the activations that really reach it, so outputs stay of order one and a
  numerical comparison means something.
* :func:`mobilenet_v2` is facade's builtin MobileNetV2 with calibrated BatchNorms.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

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
    if model.ir_version < 4:  # before IR 4 every initializer must also be a graph input
        listed = {i.name for i in inputs}
        inputs += [onnx.helper.make_tensor_value_info(k, onnx.TensorProto.FLOAT, list(v.shape))
                   for k, v in weights.items() if k not in listed]
    del g.input[:]
    g.input.extend(inputs)
    _calibrate_batchnorm(model, sample_input(model, seed))
    return model


def _calibrate_batchnorm(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> None:
    """Set each BN's mean/var to its input's real statistics, in schedule order (sums in float64)."""
    prog = Program(from_model(model))
    env: dict[str, object] = {**prog._constants, **feeds}
    inits = {t.name: t for t in model.graph.initializer}
    for step in prog.steps:
        node = step.node
        if node.op_type == "BatchNormalization":
            x = env[node.inputs[0]]
            axes = (0, *range(2, x.ndim))
            stats = (x.mean(axis=axes, dtype=np.float64), x.var(axis=axes, dtype=np.float64))
            for name, value in zip(node.inputs[3:5], stats, strict=True):
                env[name] = value.astype(np.float32)
                inits[name].CopyFrom(numpy_helper.from_array(value.astype(np.float32), name))
        outs = step.kernel(*[env[n] if n else None for n in node.inputs])
        env.update(zip(node.outputs, outs, strict=False))


def mobilenet_v2(seed: int = 0, size: int = 224) -> onnx.ModelProto:
    """facade's builtin MobileNetV2 with BatchNorm statistics calibrated on a sample (outputs of order one)."""
    from facade.builtin_models import mobilenet_v2 as build

    model = build(seed, resolution=size)
    _calibrate_batchnorm(model, sample_input(model, seed))
    return model
