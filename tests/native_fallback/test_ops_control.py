"""If and Loop with bodies reading the outer scope, compiled once, run natively."""

from __future__ import annotations

import numpy as np
from conftest import make_model
from onnx import TensorProto, helper

from facade import native_fallback


def _body(nodes, inputs, outputs):
    return helper.make_graph(nodes, "body", [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
                             [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs])


def test_if_reads_outer_scope() -> None:
    then = _body([helper.make_node("Add", ["x", "x"], ["t"])], [], [("t", TensorProto.FLOAT, [2])])
    other = _body([helper.make_node("Neg", ["x"], ["e"])], [], [("e", TensorProto.FLOAT, [2])])
    node = helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other)
    x = np.array([1.0, 2.0], np.float32)
    prog = native_fallback.compile(make_model([node], {"c": np.array(True), "x": x}, ["y"]))
    np.testing.assert_array_equal(prog.run({"c": np.array(True), "x": x})["y"], 2 * x)
    np.testing.assert_array_equal(prog.run({"c": np.array(False), "x": x})["y"], -x)


def test_loop_carries_state_and_stacks_scan_outputs() -> None:
    body = _body([helper.make_node("Identity", ["cond_in"], ["cond_out"]),
                  helper.make_node("Add", ["acc_in", "step"], ["acc_out"]),
                  helper.make_node("Identity", ["acc_out"], ["scan"])],
                 [("i", TensorProto.INT64, []), ("cond_in", TensorProto.BOOL, []), ("acc_in", TensorProto.FLOAT, [1])],
                 [("cond_out", TensorProto.BOOL, []), ("acc_out", TensorProto.FLOAT, [1]),
                  ("scan", TensorProto.FLOAT, [1])])
    node = helper.make_node("Loop", ["n", "", "acc"], ["final", "all"], body=body)
    feeds = {"n": np.array(4, np.int64), "acc": np.zeros(1, np.float32), "step": np.array([1.5], np.float32)}
    out = native_fallback.compile(make_model([node], feeds, ["final", "all"])).run(feeds)
    np.testing.assert_array_equal(out["final"], [6.0])
    np.testing.assert_array_equal(out["all"].ravel(), [1.5, 3.0, 4.5, 6.0])
