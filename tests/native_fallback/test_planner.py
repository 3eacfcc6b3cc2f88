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
