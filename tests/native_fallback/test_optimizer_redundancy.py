"""Repeated nodes merge, and multiplying or dividing by one goes, with every value kept exactly."""

from __future__ import annotations

import numpy as np
from conftest import make_model, ort_run
from onnx import helper

from facade import native_fallback
from facade.native_fallback import ir
from facade.native_fallback.optimizer import drop_unit_scaling, merge_duplicates


def test_a_mask_rebuilt_per_layer_is_built_once(rng) -> None:
    x = rng.standard_normal((2, 16)).astype(np.float32)
    nodes = []
    for layer in range(3):  # nn.TransformerEncoder: each layer reshapes and expands the same mask
        nodes += [helper.make_node("Reshape", ["x", f"s{layer}"], [f"r{layer}"]),
                  helper.make_node("Expand", [f"r{layer}", f"e{layer}"], [f"m{layer}"])]
    nodes += [helper.make_node("Sum", ["m0", "m1", "m2"], ["y"])]
    inits = {**{f"s{k}": np.array([2, 1, 1, 16], np.int64) for k in range(3)},
             **{f"e{k}": np.array([1, 4, 1, 1], np.int64) for k in range(3)}}
    inits["e2"] = np.array([1, 4, 2, 1], np.int64)  # a different shape: this Expand stays
    model = make_model(nodes, {"x": x}, ["y"], inits)
    graph = merge_duplicates(ir.from_model(model))
    assert [n.op_type for n in graph.nodes] == ["Reshape", "Expand", "Expand", "Sum"]
    got = native_fallback.compile(model).run({"x": x})["y"]
    np.testing.assert_array_equal(got, ort_run(model, {"x": x})[0])


def test_an_output_or_a_random_node_is_not_merged(rng) -> None:
    x = rng.standard_normal(8).astype(np.float32)
    nodes = [helper.make_node("Neg", ["x"], ["a"]), helper.make_node("Neg", ["x"], ["b"]),
             helper.make_node("RandomUniformLike", ["x"], ["u"]), helper.make_node("RandomUniformLike", ["x"], ["v"]),
             helper.make_node("Sub", ["u", "v"], ["d"])]
    graph = merge_duplicates(ir.from_model(make_model(nodes, {"x": x}, ["a", "b", "d"])))
    assert [n.op_type for n in graph.nodes] == ["Neg", "Neg", "RandomUniformLike", "RandomUniformLike", "Sub"]


def test_mul_and_div_by_one_go_and_keep_nan_inf_and_minus_zero() -> None:
    x = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1e-45, -3.5], np.float32)
    nodes = [helper.make_node("Mul", ["x", "one"], ["a"]), helper.make_node("Mul", ["one", "a"], ["b"]),
             helper.make_node("Div", ["b", "one"], ["c"]), helper.make_node("Div", ["one", "c"], ["y"])]
    model = make_model(nodes, {"x": x}, ["y"], {"one": np.array(1.0, np.float32)})
    graph = drop_unit_scaling(ir.from_model(model))
    assert [n.op_type for n in graph.nodes] == ["Div"] and graph.nodes[0].inputs == ["one", "x"]  # 1 / x stays
    got = native_fallback.compile(model).run({"x": x})["y"]
    np.testing.assert_array_equal(got, ort_run(model, {"x": x})[0])
    np.testing.assert_array_equal(np.signbit(got), np.signbit(1 / x))


def test_a_one_that_broadcasts_or_is_not_one_stays(rng) -> None:
    x = rng.standard_normal(4).astype(np.float32)
    inits = {"row": np.ones((3, 1), np.float32), "near": np.array(1.0000001, np.float32)}
    nodes = [helper.make_node("Mul", ["x", "row"], ["a"]), helper.make_node("Mul", ["a", "near"], ["y"])]
    model = make_model(nodes, {"x": x}, ["y"], inits)
    graph = drop_unit_scaling(ir.from_model(model))
    assert [n.op_type for n in graph.nodes] == ["Mul", "Mul"]
    got = native_fallback.compile(model).run({"x": x})["y"]
    assert got.shape == (3, 4)
    np.testing.assert_array_equal(got, ort_run(model, {"x": x})[0])
