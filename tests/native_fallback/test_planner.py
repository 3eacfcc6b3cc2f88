"""Memory planner: liveness, buffer sharing, in-place reuse, and the figures on real models."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_model
from onnx import helper

from facade import native_fallback, zoo
from facade.native_fallback import planner
from facade.native_fallback.ir import Node


def _chain(ops: list[str]) -> list[Node]:
    names = ["x", *[f"t{i}" for i in range(len(ops))]]
    return [Node(op, [names[i]], [names[i + 1]]) for i, op in enumerate(ops)]


def test_chain_needs_two_buffers() -> None:
    nodes = _chain(["Neg", "Exp", "Neg", "Exp", "Neg"])
    sizes = {f"t{i}": 100 for i in range(5)}
    plan = planner.plan(nodes, sizes, {"t4"})
    assert plan.no_reuse_bytes == 500
    assert plan.peak_bytes == 200


def test_in_place_op_reuses_its_dying_input() -> None:
    nodes = _chain(["Neg", "Relu", "Relu"])
    plan = planner.plan(nodes, {"t0": 64, "t1": 64, "t2": 64}, {"t2"})
    assert plan.peak_bytes == 64


def test_live_ranges_never_share_a_buffer() -> None:
    nodes = [Node("Neg", ["x"], ["a"]), Node("Neg", ["x"], ["b"]), Node("Add", ["a", "b"], ["c"])]
    plan = planner.plan(nodes, {"a": 10, "b": 10, "c": 10}, {"c"})
    assert plan.assignment["a"] != plan.assignment["b"]


def test_memory_report_after_first_run() -> None:
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Neg", ["a"], ["b"]),
             helper.make_node("Exp", ["b"], ["y"])]
    prog = native_fallback.compile(make_model(nodes, {"x": np.ones(256, np.float32)}, ["y"]))
    assert prog.memory_report() == {}
    prog.run({"x": np.ones(256, np.float32)})
    report = prog.memory_report()
    assert report["no_reuse_bytes"] == 3 * 1024
    assert report["planned_peak_bytes"] < report["no_reuse_bytes"]


@pytest.mark.parametrize("name", ["resnet50", "densenet121"])
def test_planned_peak_is_at_most_half_of_no_reuse(name: str) -> None:
    model = zoo.shipped_light_model(name)  # weights need not be realistic: shapes decide the plan
    prog = native_fallback.compile(model)
    prog.run(zoo.sample_input(model))
    report = prog.memory_report()
    assert report["planned_peak_bytes"] <= report["no_reuse_bytes"] / 2


_VIEWS = {  # a node making a possible view "v" of "m", and the initializers it needs
    "Reshape": (helper.make_node("Reshape", ["m", "shape"], ["v"]), {"shape": np.array([4, 2], np.int64)}),
    "Transpose": (helper.make_node("Transpose", ["m"], ["v"], perm=[1, 0]), {}),
    "Flatten": (helper.make_node("Flatten", ["m"], ["v"], axis=0), {}),
    "Identity": (helper.make_node("Identity", ["m"], ["v"]), {}),
    "Unsqueeze": (helper.make_node("Unsqueeze", ["m", "axes"], ["v"]), {"axes": np.array([0], np.int64)}),
    "Slice": (helper.make_node("Slice", ["m", "starts", "ends"], ["v"]),
              {"starts": np.array([0], np.int64), "ends": np.array([1], np.int64)}),
}


@pytest.mark.parametrize("writer", ["Add", "Relu"])
@pytest.mark.parametrize("view", sorted(_VIEWS))
def test_a_live_view_of_a_dying_value_stops_the_in_place_write(view: str, writer: str) -> None:
    """m's name dies at the in-place step, but a view of m is read after it: writing over m would
    change the view (this returned -11 instead of -1 before buffers' lifetimes covered their views)."""
    from conftest import ort_run

    x = np.ones((2, 4), np.float32)
    make_view, extra = _VIEWS[view]
    write = (helper.make_node("Add", ["m", "c"], ["a"]) if writer == "Add" else helper.make_node("Relu", ["m"], ["a"]))
    nodes = [helper.make_node("MatMul", ["x", "w"], ["m"]), make_view, write,
             helper.make_node("Neg", ["v"], ["nv"]), helper.make_node("Neg", ["a"], ["y"])]
    inits = {"w": np.eye(4, dtype=np.float32) * -1, "c": np.full(4, 10, np.float32), **extra}
    model = make_model(nodes, {"x": x}, ["y", "nv"], inits)
    prog = native_fallback.compile(model, optimize=False)
    for got, want in zip((prog.run({"x": x})[n] for n in ("y", "nv")), ort_run(model, {"x": x}), strict=True):
        np.testing.assert_array_equal(got, want)


def test_in_place_still_writes_over_a_value_whose_views_died_first() -> None:
    x = np.ones((2, 4), np.float32)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Reshape", ["m", "flat"], ["v"]),
             helper.make_node("Neg", ["v"], ["nv"]), helper.make_node("Reshape", ["nv", "back"], ["nb"]),
             helper.make_node("Add", ["m", "nb"], ["a"]), helper.make_node("Add", ["a", "c"], ["y"])]
    inits = {"w": np.eye(4, dtype=np.float32) * 3, "c": np.ones(4, np.float32),
             "flat": np.array([8], np.int64), "back": np.array([2, 4], np.int64)}
    prog = native_fallback.compile(make_model(nodes, {"x": x}, ["y"], inits), optimize=False)
    assert [(s.node.op_type, s.targets) for s in prog.steps if s.in_place] == [("Add", (0,)), ("Add", (0,))]
    np.testing.assert_array_equal(prog.run({"x": x})["y"], np.ones((2, 4), np.float32))


def _degenerate_node(op: str):
    """The node of ``op`` most likely to hand back its input: one input, no optional attributes."""
    two = {"Pow", "Where", "Equal", "Less", "Greater", "And", "Or"}
    if op == "Where":
        return helper.make_node(op, ["b", "x", "x"], ["y"]), {"x": np.ones((2, 4), np.float32)}, {"b": np.ones((2, 4), bool)}
    if op in {"Not", "And", "Or"}:
        ins = ["b", "b"] if op in two else ["b"]
        return helper.make_node(op, ins, ["y"]), {"b": np.ones((2, 4), bool)}, {}
    if op in {"LayerNormalization", "InstanceNormalization"}:
        scale = {"s": np.ones(4 if op == "LayerNormalization" else 2, np.float32)}
        bias = {"t": np.zeros_like(scale["s"])}
        return helper.make_node(op, ["x", "s", "t"], ["y"]), {"x": np.ones((1, 2, 4), np.float32)}, {**scale, **bias}
    ins = ["x", "x"] if op in two else ["x"]
    return helper.make_node(op, ins, ["y"]), {"x": np.ones((2, 4), np.float32)}, {}


@pytest.mark.parametrize("op", sorted(planner.ALLOCATING_OPS - planner.FRESH_OUTPUT_OPS))
def test_an_allocating_op_never_returns_its_input(op: str) -> None:
    """ALLOCATING_OPS ends a view chain, so each must give fresh memory even in its most trivial form."""
    node, feeds, inits = _degenerate_node(op)
    prog = native_fallback.compile(make_model([node], feeds, ["y"], inits, opset=18), optimize=False)
    args = [feeds.get(n, inits.get(n)) for n in node.input]
    out = prog.steps[0].kernel(*args)[0]
    assert not any(np.shares_memory(out, a) for a in args), f"{op} returned memory of its input"
