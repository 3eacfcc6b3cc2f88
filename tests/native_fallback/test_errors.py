"""Errors name the node, op and shapes; never a bare numpy traceback."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_model
from onnx import helper

from facade import native_fallback
from facade.errors import ArgumentError, FacadeError, UnsupportedModelError


def test_unknown_operator_names_op_domain_opset_node() -> None:
    node = helper.make_node("Frobnicate", ["x"], ["y"], domain="com.example", name="frob1")
    model = make_model([node], {"x": np.zeros(2, np.float32)}, ["y"])
    model.opset_import.append(helper.make_opsetid("com.example", 3))
    with pytest.raises(UnsupportedModelError) as info:
        native_fallback.compile(model)
    assert all(s in str(info.value) for s in ("Frobnicate", "com.example", "opset 3", "frob1"))


def test_shape_mismatch_names_node_and_shapes() -> None:
    node = helper.make_node("MatMul", ["a", "b"], ["y"], name="mm")
    a, b = np.zeros((2, 3), np.float32), np.zeros((4, 5), np.float32)
    prog = native_fallback.compile(make_model([node], {"a": a, "b": b}, ["y"]))
    with pytest.raises(FacadeError) as info:
        prog.run({"a": a, "b": b})
    text = str(info.value)
    assert "mm" in text and "(2, 3)" in text and "(4, 5)" in text
    assert isinstance(info.value.__cause__, ValueError)


def test_bad_attribute_names_node_and_attribute() -> None:
    node = helper.make_node("Conv", ["x", "w"], ["y"], auto_pad="SOMETIMES", name="c1")
    x, w = np.zeros((1, 1, 4, 4), np.float32), np.zeros((1, 1, 3, 3), np.float32)
    prog = native_fallback.compile(make_model([node], {"x": x}, ["y"], {"w": w}))
    with pytest.raises(FacadeError, match=r"c1.*auto_pad"):
        prog.run({"x": x})


def test_bad_dtype_and_device_are_refused() -> None:
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], {"x": np.zeros(2, np.float32)}, ["y"])
    with pytest.raises(ArgumentError, match="float16") as info:  # a bad argument, not a bad model
        native_fallback.compile(model, dtype="float16")
    assert isinstance(info.value, ValueError) and not isinstance(info.value, UnsupportedModelError)
    with pytest.raises(ArgumentError, match="tpu"):
        native_fallback.compile(model, device="tpu")
