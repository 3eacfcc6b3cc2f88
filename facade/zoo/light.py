"""The light models of the onnx wheel (``onnx/backend/test/data/light``): as shipped, or with real weights.

As shipped, every large weight is ``ConstantOfShape(0.02)``: fine for operator
coverage and shapes, useless for numerics (the output is a uniform softmax).
:func:`light_model` gives them seeded realistic weights (:mod:`facade.zoo.weights`).
"""

from __future__ import annotations

from pathlib import Path

import onnx

from facade.zoo.weights import materialize


def light_model_dir() -> Path:
    """Where the onnx wheel keeps its light models."""
    return Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"


def light_names() -> list[str]:
    """Every light model the onnx wheel ships, without the ``light_`` prefix."""
    return sorted(p.stem.removeprefix("light_") for p in light_model_dir().glob("light_*.onnx"))


def shipped_light_model(name: str) -> onnx.ModelProto:
    """``light_<name>.onnx`` as the onnx wheel ships it (weights stripped to ``ConstantOfShape(0.02)``)."""
    stem = name if name.startswith("light_") else f"light_{name}"
    return onnx.load(str(light_model_dir() / f"{stem}.onnx"))


def light_model(name: str, seed: int = 0) -> onnx.ModelProto:
    """``light_<name>.onnx`` from the onnx wheel, with seeded realistic weights."""
    return materialize(shipped_light_model(name), seed)
