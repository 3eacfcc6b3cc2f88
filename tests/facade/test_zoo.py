"""The model zoo: one registry whose every model builds and checks, realistic light-model weights, cached paths."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from facade import zoo

CHEAP = sorted(n for n in zoo.MODELS if n != "mobilenet_v2")  # the full-size MobileNetV2 is built by the demo tests


@pytest.mark.parametrize("name", CHEAP)
def test_every_registered_model_builds_the_same_checked_model_twice(name):
    first, second = zoo.build(name), zoo.build(name)
    onnx.checker.check_model(first)
    assert first.SerializeToString() == second.SerializeToString()  # seeded: the same on every machine


def test_light_models_get_seeded_realistic_weights():
    shipped = zoo.shipped_light_model("squeezenet")
    assert any(n.op_type == "ConstantOfShape" for n in shipped.graph.node)
    real = zoo.light_model("squeezenet", seed=1)
    assert not any(n.op_type == "ConstantOfShape" for n in real.graph.node)
    weights = [numpy_helper.to_array(t) for t in real.graph.initializer if t.dims and len(t.dims) == 4]
    assert weights and all(np.std(w) > 0 for w in weights)
    assert zoo.build("light_squeezenet").SerializeToString() == zoo.light_model("squeezenet").SerializeToString()
    with pytest.raises(KeyError, match="no model"):
        zoo.build("no_such_model")


def test_model_path_builds_once_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FACADE_CACHE_DIR", str(tmp_path))
    path = zoo.model_path("mlp")
    assert path.is_relative_to(tmp_path) and onnx.load(str(path)).graph.name == "mlp"
    stamp = path.stat().st_mtime_ns
    assert zoo.model_path("mlp") == path and path.stat().st_mtime_ns == stamp
