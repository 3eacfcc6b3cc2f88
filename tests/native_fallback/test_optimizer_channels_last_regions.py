"""optimizer/channels_last_regions.py and global_pools.py: N,H,W,C through residual Adds and pools up to a
global pool, refused where any reader needs N,C,H,W; the numbers unchanged against the unoptimized graph
and ORT, in C and numpy."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from conftest import make_model, ort_run
from onnx import helper

from facade import native_fallback
from facade.native_fallback import compiled, ir, optimizer
from facade.native_fallback.optimizer.channels_last import SUFFIX
from facade.native_fallback.program import Program


def _graph(model: onnx.ModelProto, passes) -> ir.Graph:
    graph = ir.from_model(onnx.shape_inference.infer_shapes(model))
    for step in passes:
        graph = step(graph)
    return graph


def _flags(graph: ir.Graph) -> dict[str, tuple[int, int]]:
    return {n.name or n.outputs[0]: (n.attrs.get("channels_last_in", 0), n.attrs.get("channels_last_out", 0))
            for n in graph.nodes}


def _residual_net(rng, add: str = "Add", tail: str = "GlobalAveragePool", skip_shape=None, size: int = 14,
                  c: int = 8):
    """x -> stem 3x3 -> MaxPool -> [1x1 -> 3x3 -> 1x1] + shortcut 1x1 -> Relu -> ``tail`` (a global pool, a
    whole-input AveragePool, or a Flatten that reads N,C,H,W); ``skip_shape``: the shortcut is an input of
    that shape instead (a broadcast Add); the block runs over ``size`` / 2 squared pixels, ``c`` channels
    wide (2 c after it)."""
    e = 2 * c
    shapes = {"stem": (c, 3, 3, 3), "a": (c, c, 1, 1), "b": (c, c, 3, 3), "c": (e, c, 1, 1), "s": (e, c, 1, 1)}
    inits = {k: (rng.standard_normal(s) / np.sqrt(np.prod(s[1:]))).astype(np.float32) for k, s in shapes.items()}
    x = rng.standard_normal((2, 3, size, size)).astype(np.float32)
    feeds = {"x": x}
    nodes = [helper.make_node("Conv", ["x", "stem"], ["h0"], pads=[1] * 4),
             helper.make_node("MaxPool", ["h0"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Conv", ["p", "a"], ["h1"]),
             helper.make_node("Relu", ["h1"], ["r1"]),
             helper.make_node("Conv", ["r1", "b"], ["h2"], pads=[1] * 4),
             helper.make_node("Conv", ["h2", "c"], ["h3"])]
    if skip_shape is None:
        nodes.append(helper.make_node("Conv", ["p", "s"], ["skip"]))
    else:
        feeds["skip"] = rng.standard_normal(skip_shape).astype(np.float32)
    nodes += [helper.make_node(add, ["h3", "skip"], ["sum"]), helper.make_node("Relu", ["sum"], ["out"])]
    if tail == "AveragePool":
        nodes.append(helper.make_node("AveragePool", ["out"], ["y"], kernel_shape=[size // 2] * 2))
    else:
        nodes.append(helper.make_node(tail, ["out"], ["y"]))
    return make_model(nodes, feeds, ["y"], inits), feeds


def _matches(model, feeds, graph: ir.Graph) -> None:
    expected = ort_run(model, feeds)[0]
    np.testing.assert_allclose(Program(graph).run(feeds)["y"], expected, rtol=1e-5, atol=1e-5)
    for threads in (1, 2):
        got = native_fallback.compile(model, threads=threads).run(feeds)["y"]
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("tail", ["GlobalAveragePool", "GlobalMaxPool", "AveragePool"])
@pytest.mark.parametrize("add", ["Add", "Sum"])
def test_a_residual_block_runs_channels_last_up_to_the_global_pool(add, tail, rng) -> None:
    model, feeds = _residual_net(rng, add, tail)
    graph = _graph(model, [*optimizer.PASSES, optimizer.global_pools, optimizer.channels_last_regions])
    by_op = {n.outputs[0].removesuffix(SUFFIX): n for n in graph.nodes}
    assert _flags(graph)[by_op["h0"].name or by_op["h0"].outputs[0]][1] == 1  # the stem writes N,H,W,C
    for name in ("r1", "h2", "h3", "skip"):  # every convolution of the block (its Relu fused) reads and writes it
        assert (by_op[name].attrs.get("channels_last_in"), by_op[name].attrs.get("channels_last_out")) == (1, 1)
    assert by_op["p"].attrs.get("channels_last_in") == by_op["p"].attrs.get("channels_last_out") == 1
    pool = by_op["y"]
    assert pool.op_type == ("GlobalAveragePool" if tail == "AveragePool" else tail)
    assert pool.attrs == {"channels_last_in": 1} and pool.outputs == ["y"]  # the graph output keeps its name
    assert all(i.endswith(SUFFIX) for i in by_op["sum"].inputs)
    _matches(model, feeds, graph)


@pytest.mark.parametrize("case", ["flatten", "broadcast", "output"])
def test_one_reader_that_needs_channels_first_keeps_the_whole_chain_so(case, rng) -> None:
    """A Flatten reading the block's output, a broadcast Add or the sum being a graph output: the Add's
    inputs must share its output's layout, so the refusal reaches back through the block."""
    model, feeds = _residual_net(rng, tail="Flatten" if case == "flatten" else "GlobalAveragePool",
                                 skip_shape=(1, 16, 1, 1) if case == "broadcast" else None)
    if case == "output":
        model.graph.output.append(helper.make_tensor_value_info("sum", onnx.TensorProto.FLOAT, None))
    graph = _graph(model, [*optimizer.PASSES, optimizer.global_pools, optimizer.channels_last_regions])
    by_op = {n.outputs[0].removesuffix(SUFFIX): n for n in graph.nodes}
    assert not by_op["h3"].attrs.get("channels_last_out")
    assert not any(i.endswith(SUFFIX) for i in by_op["sum"].inputs)
    if case != "broadcast":
        assert not by_op["skip"].attrs.get("channels_last_out")
    assert (by_op["r1"].attrs.get("channels_last_in"), by_op["r1"].attrs.get("channels_last_out")) == (1, 1)
    expected = ort_run(model, feeds)[0]
    np.testing.assert_allclose(Program(graph).run(feeds)["y"], expected, rtol=1e-5, atol=1e-5)


def test_without_the_c_kernels_a_winograd_shaped_convolution_stays_channels_first(monkeypatch, rng) -> None:
    """numpy's Winograd runs N,C,H,W only: with conv.c off the 3x3 (64 channels over 16x16, Winograd's
    shape) keeps its layout; the result unchanged."""
    monkeypatch.setenv(compiled.ENV_VAR, "numpy")
    model, feeds = _residual_net(rng, size=32, c=64)
    graph = _graph(model, [*optimizer.PASSES, optimizer.global_pools, optimizer.channels_last_regions])
    by_op = {n.outputs[0].removesuffix(SUFFIX): n for n in graph.nodes}
    assert not by_op["h2"].attrs.get("channels_last_in") and not by_op["h2"].attrs.get("channels_last_out")
    assert by_op["h3"].attrs.get("channels_last_out") == 1  # past it the block is channels-last again
    _matches(model, feeds, graph)
    monkeypatch.delenv(compiled.ENV_VAR)
    graph = _graph(model, [*optimizer.PASSES, optimizer.global_pools, optimizer.channels_last_regions])
    by_op = {n.outputs[0].removesuffix(SUFFIX): n for n in graph.nodes}
    assert by_op["h2"].attrs.get("channels_last_in") == by_op["h2"].attrs.get("channels_last_out") == 1


@pytest.mark.parametrize(("attrs", "becomes_global"), [
    ({"kernel_shape": [7, 7]}, True),
    ({"kernel_shape": [7, 7], "strides": [3, 3]}, True),
    ({"kernel_shape": [7, 7], "pads": [1, 1, 1, 1]}, False),
    ({"kernel_shape": [3, 3]}, False),
    ({"kernel_shape": [7, 7], "auto_pad": "SAME_UPPER"}, False),
])
@pytest.mark.parametrize("op", ["AveragePool", "MaxPool"])
def test_a_pool_over_its_whole_input_becomes_global(op, attrs, becomes_global, rng) -> None:
    x = rng.standard_normal((2, 5, 7, 7)).astype(np.float32)
    model = make_model([helper.make_node(op, ["x"], ["y"], **attrs)], {"x": x}, ["y"])
    [node] = _graph(model, [optimizer.global_pools]).nodes
    assert node.op_type == (f"Global{op}" if becomes_global else op)
    got = Program(_graph(model, [optimizer.global_pools])).run({"x": x})["y"]
    np.testing.assert_allclose(got, ort_run(model, {"x": x})[0], rtol=1e-6, atol=1e-6)


def test_a_max_pool_with_indices_stays(rng) -> None:
    x = rng.standard_normal((1, 2, 4, 4)).astype(np.float32)
    model = make_model([helper.make_node("MaxPool", ["x"], ["y", "i"], kernel_shape=[4, 4])], {"x": x}, ["y", "i"])
    assert [n.op_type for n in _graph(model, [optimizer.global_pools]).nodes] == ["MaxPool"]


def test_a_whole_input_max_pool_with_a_folded_relu_stays_a_max_pool(rng) -> None:
    """fold_relus_into_pools runs first: its ``relu`` attribute has no global-pool form, so the pool stays
    and the Relu is still applied (a global pool would drop it)."""
    x = rng.standard_normal((2, 5, 7, 7)).astype(np.float32) - 3.0  # most windows negative
    model = make_model([helper.make_node("MaxPool", ["x"], ["m"], kernel_shape=[7, 7]),
                        helper.make_node("Relu", ["m"], ["y"])], {"x": x}, ["y"])
    graph = _graph(model, [*optimizer.PASSES, *optimizer.CPU_PASSES])
    assert [(n.op_type, n.attrs.get("relu")) for n in graph.nodes] == [("MaxPool", 1)]
    np.testing.assert_array_equal(native_fallback.compile(model).run({"x": x})["y"], ort_run(model, {"x": x})[0])
