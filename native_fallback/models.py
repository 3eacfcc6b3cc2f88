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

from facade.weights import materialize

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


def realistic(model: onnx.ModelProto, seed: int = 0) -> onnx.ModelProto:
    """A copy of ``model`` with seeded weights and BatchNorm statistics from real activations."""
    return materialize(model, seed)


def mobilenet_v2(seed: int = 0, size: int = 224) -> onnx.ModelProto:
    """facade's builtin MobileNetV2 with BatchNorm statistics calibrated on a sample (outputs of order one)."""
    from facade.builtin_models import mobilenet_v2 as build

    return materialize(build(seed, resolution=size), seed)
