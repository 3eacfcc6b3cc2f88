"""Models for tests and benchmarks, built in code (nothing is downloaded).

* :func:`light_model` is a light model of the onnx wheel as shipped (weights
  stripped to ``ConstantOfShape(0.02)``: shapes, not numerics).
* :func:`benchmark_model` is one of the speed benchmarks' models with realistic
  weights (:mod:`facade.weights`), so a numerical comparison means something;
  :func:`mobilenet_v2` is facade's builtin MobileNetV2 with calibrated BatchNorms.
"""

from __future__ import annotations

import numpy as np
import onnx

from facade import weights


def light_model(name: str) -> onnx.ModelProto:
    """Load ``light_<name>.onnx`` from the onnx wheel."""
    return onnx.load(weights.light_model_dir() / f"light_{name}.onnx")


def light_names() -> list[str]:
    """Every light model the onnx wheel ships."""
    return sorted(p.stem.removeprefix("light_") for p in weights.light_model_dir().glob("light_*.onnx"))


def data_input(model: onnx.ModelProto) -> onnx.ValueInfoProto:
    """The model's one real (non-initializer) input."""
    inits = {t.name for t in model.graph.initializer}
    return next(i for i in model.graph.input if i.name not in inits)


def sample_input(model: onnx.ModelProto, seed: int = 0) -> dict[str, np.ndarray]:
    """A seeded standard-normal feed for the model's data input."""
    inp = data_input(model)
    shape = [d.dim_value or 1 for d in inp.type.tensor_type.shape.dim]
    return {inp.name: np.random.default_rng(seed).standard_normal(shape).astype(np.float32)}


def mobilenet_v2(seed: int = 0, size: int = 224) -> onnx.ModelProto:
    """facade's builtin MobileNetV2 with BatchNorm statistics calibrated on a sample (outputs of order one)."""
    from facade.builtin_models import mobilenet_v2 as build

    return weights.materialize(build(seed, resolution=size), seed)


def benchmark_model(name: str) -> onnx.ModelProto:
    """A speed benchmark's model by name, with realistic weights: ``mobilenetv2`` or a light model's name."""
    return mobilenet_v2() if name == "mobilenetv2" else weights.light_model(name)
