"""IR: decoding, topological order, opset lookup, path loading with external data."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from conftest import make_model
from onnx import helper

from facade import native_fallback
from facade.errors import ModelError
from facade.native_fallback import ir


def test_toposort_orders_shuffled_nodes() -> None:
    nodes = [helper.make_node("Relu", ["b"], ["c"]), helper.make_node("Neg", ["a"], ["b"])]
    graph = ir.from_model(make_model(nodes, {"a": np.zeros(3, np.float32)}, ["c"]))
    assert [n.op_type for n in graph.nodes] == ["Neg", "Relu"]


def test_cycle_is_a_model_error() -> None:
    nodes = [helper.make_node("Relu", ["c"], ["b"]), helper.make_node("Neg", ["b"], ["c"])]
    with pytest.raises(ModelError, match="cycle"):
        ir.from_model(make_model(nodes, {"a": np.zeros(3, np.float32)}, ["c"]))


def test_attributes_are_decoded_once() -> None:
    node = helper.make_node("Transpose", ["a"], ["b"], perm=[1, 0])
    graph = ir.from_model(make_model([node], {"a": np.zeros((2, 3), np.float32)}, ["b"]))
    assert graph.nodes[0].attrs == {"perm": [1, 0]}
    assert graph.shapes["b"] == (3, 2)


def test_path_with_external_data(tmp_path) -> None:
    w = np.arange(4096, dtype=np.float32).reshape(64, 64)
    model = make_model([helper.make_node("MatMul", ["x", "w"], ["y"])], {"x": np.ones((1, 64), np.float32)},
                       ["y"], {"w": w})
    path = tmp_path / "m.onnx"
    onnx.save(model, path, save_as_external_data=True, all_tensors_to_one_file=True, location="w.bin",
              size_threshold=0)
    assert (tmp_path / "w.bin").exists()
    out = native_fallback.compile(str(path)).run({"x": np.ones((1, 64), np.float32)})["y"]
    np.testing.assert_allclose(out, np.ones((1, 64), np.float32) @ w)


def test_dynamic_dimensions_resolve_at_run_time() -> None:
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], {"x": np.zeros((1, 3), np.float32)}, ["y"])
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    prog = native_fallback.compile(model)
    for batch in (1, 5):
        assert prog.run({"x": -np.ones((batch, 3), np.float32)})["y"].shape == (batch, 3)


def test_unsupported_lists_node_op_domain_opset() -> None:
    node = helper.make_node("Frobnicate", ["x"], ["y"], domain="com.example", name="frob1")
    model = make_model([node], {"x": np.zeros(2, np.float32)}, ["y"])
    model.opset_import.append(helper.make_opsetid("com.example", 3))
    lines = native_fallback.unsupported(model)
    assert len(lines) == 1 and all(s in lines[0] for s in ("frob1", "Frobnicate", "com.example", "3"))
