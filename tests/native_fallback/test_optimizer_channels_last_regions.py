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


def _fire_net(rng, squeeze_group: int = 1, extra: str | None = None):
    """Two SqueezeNet fire modules: x -> stem -> [squeeze 1x1 -> expand 1x1 | expand 3x3 -> Concat] ->
    MaxPool -> the second fire's squeeze (grouped by ``squeeze_group``) -> its expands -> Concat ->
    GlobalAveragePool; ``extra``: the first Concat also joins a tensor of that kind ("input": a graph input,
    "constant": an initializer)."""
    c = 8
    shapes = {"stem": (c, 3, 3, 3), "s1": (4, c, 1, 1), "e1": (c, 4, 1, 1), "f1": (c, 4, 3, 3),
              "s2": (8, 2 * c + (4 if extra else 0), 1, 1), "e2": (c, 8, 1, 1), "f2": (c, 8, 3, 3)}
    shapes["s2"] = (8, shapes["s2"][1] // squeeze_group, 1, 1)
    inits = {k: (rng.standard_normal(s) / np.sqrt(np.prod(s[1:]))).astype(np.float32) for k, s in shapes.items()}
    feeds = {"x": rng.standard_normal((2, 3, 14, 14)).astype(np.float32)}
    joined = ["a1", "b1"]
    if extra == "input":
        feeds["z"] = rng.standard_normal((2, 4, 14, 14)).astype(np.float32)
        joined.append("z")
    elif extra == "constant":
        inits["z"] = rng.standard_normal((2, 4, 14, 14)).astype(np.float32)
        joined.append("z")
    nodes = [helper.make_node("Conv", ["x", "stem"], ["h0"], pads=[1] * 4),
             helper.make_node("Relu", ["h0"], ["r0"]),
             helper.make_node("Conv", ["r0", "s1"], ["q1"]),
             helper.make_node("Conv", ["q1", "e1"], ["a1"]),
             helper.make_node("Conv", ["q1", "f1"], ["b1"], pads=[1] * 4),
             helper.make_node("Concat", joined, ["cat1"], axis=1),
             helper.make_node("MaxPool", ["cat1"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Conv", ["p", "s2"], ["q2"], group=squeeze_group),
             helper.make_node("Conv", ["q2", "e2"], ["a2"]),
             helper.make_node("Conv", ["q2", "f2"], ["b2"], pads=[1] * 4),
             helper.make_node("Concat", ["a2", "b2"], ["cat2"], axis=-3),
             helper.make_node("GlobalAveragePool", ["cat2"], ["y"])]
    return make_model(nodes, feeds, ["y"], inits), feeds


FIRE_PASSES = [*optimizer.PASSES, optimizer.global_pools, optimizer.channels_last, optimizer.channels_last_regions]


def test_fire_modules_run_channels_last_through_their_concats(rng) -> None:
    """A channel Concat of channels-last tensors joins them on axis 3: the squeeze 1x1 reading it, the
    MaxPool between the fires and the global pool then read N,H,W,C, and concat_convs writes each
    expand into its slice of the joined output."""
    model, feeds = _fire_net(rng)
    graph = _graph(model, FIRE_PASSES)
    by_op = {n.outputs[0].removesuffix(SUFFIX): n for n in graph.nodes}
    for name in ("cat1", "cat2"):
        assert by_op[name].attrs["axis"] == 3 and by_op[name].outputs[0].endswith(SUFFIX)
    for name in ("a1", "b1", "a2", "b2"):
        assert by_op[name].attrs.get("channels_last_out") == 1
    assert by_op["p"].attrs.get("channels_last_in") == by_op["p"].attrs.get("channels_last_out") == 1
    assert by_op["q2"].attrs.get("channels_last_in") == 1
    assert by_op["y"].attrs == {"channels_last_in": 1}
    _matches(model, feeds, graph)
    joined = _graph(model, [*FIRE_PASSES, optimizer.concat_convs])
    assert [n.op_type for n in joined.nodes].count("ConvConcat") == 2
    _matches(model, feeds, joined)


@pytest.mark.parametrize("extra", ["input", "constant"])
def test_a_concat_joining_a_channels_first_tensor_stays_channels_first(extra, rng) -> None:
    """A graph input or an initializer in the Concat is N,C,H,W: the Concat keeps axis 1, and its other
    inputs stay N,C,H,W for it."""
    model, feeds = _fire_net(rng, extra=extra)
    graph = _graph(model, FIRE_PASSES)
    by_op = {n.outputs[0].removesuffix(SUFFIX): n for n in graph.nodes}
    assert by_op["cat1"].attrs["axis"] == 1 and not by_op["cat1"].outputs[0].endswith(SUFFIX)
    assert not by_op["a1"].attrs.get("channels_last_out") and not by_op["b1"].attrs.get("channels_last_out")
    assert by_op["cat2"].attrs["axis"] == 3  # the second fire is a region of its own
    _matches(model, feeds, graph)


def test_a_grouped_convolution_reads_channels_first(rng) -> None:
    """OpenBLAS ran a group-4 1x1 (136 channels over 28x28) 1.5x slower from an N,H,W,C input, and its
    pieces did not scale (ShuffleNet: 0.09 against 0.18 ms a node, measured): a grouped convolution that
    is not depthwise keeps its input N,C,H,W here, and so does the Concat and pool feeding it. (Without
    ``channels_last``, whose pool -> 1x1 handover does take it N,H,W,C: from a depthwise convolution,
    writing N,C,H,W instead cost ShuffleNet 30%.)"""
    model, feeds = _fire_net(rng, squeeze_group=4)
    graph = _graph(model, [*optimizer.PASSES, optimizer.global_pools, optimizer.channels_last_regions])
    by_op = {n.outputs[0].removesuffix(SUFFIX): n for n in graph.nodes}
    assert not by_op["q2"].attrs.get("channels_last_in")
    assert by_op["cat1"].attrs["axis"] == 1 and not by_op["p"].attrs.get("channels_last_out")
    assert by_op["cat2"].attrs["axis"] == 3
    _matches(model, feeds, graph)


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
