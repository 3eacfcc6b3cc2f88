"""The model zoo: every model facade builds in code, for tests, benchmarks, conformance and ``facade demo``.

Nothing is downloaded where facade is tested, and a model built from a seed is
the same on every machine. One registry, :data:`MODELS`, names them all; each
family keeps its own table too (``cnn.MODELS``: demo and benchmark models,
``conformance.MODELS``: the conformance set, ``small.MODELS``: test contracts).
The onnx wheel's light models are ``light_<name>`` (:mod:`.light`, realistic
weights). The engine (``facade.native_fallback``) never imports the zoo.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx

from facade.cache import atomic_write, cache_dir
from facade.zoo import cnn, conformance, small
from facade.zoo.cnn import calibrated_mobilenet_v2, mlp, mobilenet_v2
from facade.zoo.graph import OPSET
from facade.zoo.light import light_model, light_model_dir, light_names, shipped_light_model
from facade.zoo.weights import materialize

MODELS: dict[str, Callable[[], onnx.ModelProto]] = {**cnn.MODELS, **conformance.MODELS, **small.MODELS}

__all__ = ["MODELS", "OPSET", "benchmark_model", "build", "calibrated_mobilenet_v2", "data_input", "light_model",
           "light_model_dir", "light_names", "materialize", "mlp", "mobilenet_v2", "model_path", "sample_input",
           "shipped_light_model"]


def build(name: str) -> onnx.ModelProto:
    """The model registered as ``name``, or ``light_<name>`` from the onnx wheel with realistic weights."""
    if name in MODELS:
        return MODELS[name]()
    if name.startswith("light_"):
        return light_model(name)
    raise KeyError(f"no model {name!r} in the zoo; known: {', '.join(sorted(MODELS))}, light_<name>")


def model_path(name: str = "mobilenet_v2") -> Path:
    """Build ``name`` once and cache it as an .onnx file (atomic write); return its path."""
    path = cache_dir("models") / f"{name}-opset{OPSET}.onnx"
    if not path.exists():
        atomic_write(path, build(name).SerializeToString())
    return path


def benchmark_model(name: str) -> onnx.ModelProto:
    """A speed benchmark's model by name, with realistic weights: ``mobilenetv2`` or a light model's name."""
    return calibrated_mobilenet_v2() if name == "mobilenetv2" else light_model(name)


def data_input(model: onnx.ModelProto) -> onnx.ValueInfoProto:
    """The model's one real (non-initializer) input."""
    inits = {t.name for t in model.graph.initializer}
    return next(i for i in model.graph.input if i.name not in inits)


def sample_input(model: onnx.ModelProto, seed: int = 0) -> dict[str, np.ndarray]:
    """A seeded standard-normal feed for the model's data input."""
    inp = data_input(model)
    shape = [d.dim_value or 1 for d in inp.type.tensor_type.shape.dim]
    return {inp.name: np.random.default_rng(seed).standard_normal(shape).astype(np.float32)}
