"""Each optimizer pass alone: it changes the graph as intended and leaves the numbers unchanged."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_model
from onnx import helper

from facade.native_fallback import ir, optimizer
from facade.native_fallback.ops.conv import pointwise_depthwise
from facade.native_fallback.optimizer.channels_last import SUFFIX
from facade.native_fallback.program import Program


def _run(graph: ir.Graph, feeds: dict) -> dict:
    return Program(graph).run(feeds)


def _check(model, feeds, passes) -> ir.Graph:
    """Apply ``passes`` to a fresh graph; assert outputs equal the unoptimized graph's."""
    want = _run(ir.from_model(model), feeds)
    graph = ir.from_model(model)
    for step in passes:
        graph = step(graph)
    got = _run(graph, feeds)
    for name, value in want.items():
        np.testing.assert_allclose(got[name], value, rtol=1e-5, atol=1e-6)
    return graph


def test_constant_folding_materializes_constant_of_shape(rng) -> None:
    nodes = [helper.make_node("ConstantOfShape", ["shape"], ["w"],
                              value=helper.make_tensor("v", 1, [1], [0.02])),
             helper.make_node("MatMul", ["x", "w"], ["y"])]
    model = make_model(nodes, {"x": rng.standard_normal((2, 3)).astype(np.float32)}, ["y"],
                       {"shape": np.array([3, 4], np.int64)})
    graph = _check(model, {"x": np.ones((2, 3), np.float32)}, [optimizer.fold_constants])
    assert [n.op_type for n in graph.nodes] == ["MatMul"]
    assert graph.initializers["w"].shape == (3, 4)


def test_dead_nodes_and_identities_go() -> None:
    nodes = [helper.make_node("Identity", ["x"], ["i"]), helper.make_node("Relu", ["i"], ["y"]),
             helper.make_node("Neg", ["x"], ["unused"])]
    model = make_model(nodes, {"x": np.ones(3, np.float32)}, ["y"])
    graph = _check(model, {"x": -np.ones(3, np.float32)}, [optimizer.remove_identities, optimizer.remove_dead])
    assert [n.op_type for n in graph.nodes] == ["Relu"]


def test_conv_bn_folding(rng) -> None:
    c = 4
    inits = {"w": rng.standard_normal((c, 3, 3, 3)).astype(np.float32), "s": rng.uniform(0.5, 2, c).astype(np.float32),
             "b": rng.standard_normal(c).astype(np.float32), "m": rng.standard_normal(c).astype(np.float32),
             "v": rng.uniform(0.5, 2, c).astype(np.float32)}
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1] * 4),
             helper.make_node("BatchNormalization", ["c", "s", "b", "m", "v"], ["y"])]
    x = rng.standard_normal((1, 3, 6, 6)).astype(np.float32)
    graph = _check(make_model(nodes, {"x": x}, ["y"], inits), {"x": x}, [optimizer.fold_conv_bn])
    assert [n.op_type for n in graph.nodes] == ["Conv"]


@pytest.mark.parametrize("act", ["Relu", "LeakyRelu", "Sigmoid", "Clip"])
def test_activation_fusion(act: str, rng) -> None:
    inits = {"w": rng.standard_normal((4, 3, 1, 1)).astype(np.float32), "lo": np.array(0, np.float32),
             "hi": np.array(0.5, np.float32)}
    act_node = helper.make_node(act, ["c", "lo", "hi"] if act == "Clip" else ["c"], ["y"])
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]), act_node]
    x = rng.standard_normal((1, 3, 4, 4)).astype(np.float32)
    graph = _check(make_model(nodes, {"x": x}, ["y"], inits), {"x": x}, [optimizer.fuse_activations])
    assert [(n.op_type, n.attrs["activation"]) for n in graph.nodes] == [("FusedConv", act)]


def test_gemm_activation_fusion(rng) -> None:
    inits = {"w": rng.standard_normal((5, 3)).astype(np.float32)}
    nodes = [helper.make_node("Gemm", ["x", "w"], ["g"], transB=1), helper.make_node("Relu", ["g"], ["y"])]
    x = rng.standard_normal((2, 3)).astype(np.float32)
    graph = _check(make_model(nodes, {"x": x}, ["y"], inits), {"x": x}, [optimizer.fuse_activations])
    assert [n.op_type for n in graph.nodes] == ["FusedGemm"]


def test_reshape_and_transpose_chains_collapse(rng) -> None:
    nodes = [helper.make_node("Reshape", ["x", "s1"], ["r1"]), helper.make_node("Reshape", ["r1", "s2"], ["r2"]),
             helper.make_node("Transpose", ["r2"], ["t1"], perm=[1, 0]),
             helper.make_node("Transpose", ["t1"], ["t2"], perm=[1, 0]), helper.make_node("Relu", ["t2"], ["y"])]
    inits = {"s1": np.array([6, 4], np.int64), "s2": np.array([3, 8], np.int64)}
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    graph = _check(make_model(nodes, {"x": x}, ["y"], inits), {"x": x}, [optimizer.simplify_chains])
    assert [n.op_type for n in graph.nodes] == ["Reshape", "Relu"]


def test_shape_subgraph_folds_to_a_constant_reshape(rng) -> None:
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Shape", ["r"], ["s"]),
             helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n", "axes"], ["n1"]),
             helper.make_node("Concat", ["n1", "minus1"], ["shape"], axis=0),
             helper.make_node("Reshape", ["r", "shape"], ["y"])]
    inits = {"zero": np.array(0, np.int64), "axes": np.array([0], np.int64), "minus1": np.array([-1], np.int64)}
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    graph = _check(make_model(nodes, {"x": x}, ["y"], inits), {"x": x},
                   [optimizer.fold_shapes, optimizer.fold_constants, optimizer.remove_dead])
    assert [n.op_type for n in graph.nodes] == ["Relu", "Reshape"]


def _inverted_residual(rng, stride: int) -> tuple:
    """stem 3x3 -> depthwise -> 1x1 expand -> Clip -> depthwise -> 1x1 project (+ residual) -> depthwise -> pool."""
    c, e = 8, 24
    w = {"stem": (c, 3, 3, 3), "dw0": (c, 1, 3, 3), "exp": (e, c, 1, 1), "dw1": (e, 1, 3, 3),
         "proj": (c, e, 1, 1), "dw2": (c, 1, 3, 3)}
    inits = {k: (rng.standard_normal(s) / np.sqrt(np.prod(s[1:]))).astype(np.float32) for k, s in w.items()}
    inits |= {"b": rng.standard_normal(e).astype(np.float32), "lo": np.array(0, np.float32),
              "hi": np.array(6, np.float32)}
    nodes = [helper.make_node("Conv", ["x", "stem"], ["s"], pads=[1] * 4),
             helper.make_node("Conv", ["s", "dw0"], ["d0"], pads=[1] * 4, group=c),
             helper.make_node("Conv", ["d0", "exp", "b"], ["e"]),
             helper.make_node("Clip", ["e", "lo", "hi"], ["e6"]),
             helper.make_node("Conv", ["e6", "dw1"], ["d1"], pads=[1] * 4, group=e, strides=[stride] * 2),
             helper.make_node("Relu", ["d1"], ["r1"]),
             helper.make_node("Conv", ["r1", "proj"], ["p"]),
             helper.make_node("Conv", ["p", "dw2"], ["d2"], pads=[1] * 4, group=c),
             helper.make_node("GlobalAveragePool", ["d2"], ["y"])]
    x = rng.standard_normal((2, 3, 12, 12)).astype(np.float32)
    return make_model(nodes, {"x": x}, ["y", "p"], inits), {"x": x}


@pytest.mark.parametrize("stride", [1, 2])
def test_channels_last_between_1x1_and_depthwise(stride: int, rng) -> None:
    model, feeds = _inverted_residual(rng, stride)
    graph = _check(model, feeds, [*optimizer.PASSES, optimizer.channels_last])
    flags = {n.name or n.outputs[0]: (n.attrs.get("channels_last_in", 0), n.attrs.get("channels_last_out", 0))
             for n in graph.nodes}
    by_input = {n.inputs[1]: flags[n.name or n.outputs[0]] for n in graph.nodes if len(n.inputs) > 1}
    # stem and expand write for a depthwise; dw0 and dw1 hand to a 1x1; "p" is a graph output, so
    # the project writes N,C,H,W and dw2, read by a pool, stays N,C,H,W on both sides.
    assert by_input == {"stem": (0, 1), "dw0": (1, 1), "exp": (1, 1), "dw1": (1, 1), "proj": (1, 0),
                        "dw2": (0, 0)}
    renamed = {o for n in graph.nodes for o in n.outputs if o.endswith(SUFFIX)}
    assert len(renamed) == 4
    dump = Program(graph).run(feeds, intermediate=True)
    want = Program(ir.from_model(model)).run(feeds, intermediate=True)
    for name in set(dump) & set(want):  # an ONNX value keeps its N,C,H,W shape in a dump
        assert dump[name].shape == want[name].shape, name


def test_opencl_programs_keep_channels_first(rng) -> None:
    model, _ = _inverted_residual(rng, 1)
    graph = optimizer.optimize(ir.from_model(model), device="opencl")
    assert not any(k.startswith("channels_last") for n in graph.nodes for k in n.attrs)


def test_winograd_shaped_producer_stays_channels_first(rng) -> None:
    """A 3x3/1 convolution wide enough for Winograd writes N,C,H,W; the depthwise transposes while padding."""
    c = 64
    inits = {"w": (rng.standard_normal((c, c, 3, 3)) / 24).astype(np.float32),
             "dw": rng.standard_normal((c, 1, 3, 3)).astype(np.float32),
             "pw": (rng.standard_normal((8, c, 1, 1)) / 8).astype(np.float32)}
    nodes = [helper.make_node("Conv", ["x", "w"], ["a"], pads=[1] * 4),
             helper.make_node("Conv", ["a", "dw"], ["d"], pads=[1] * 4, group=c),
             helper.make_node("Conv", ["d", "pw"], ["y"])]
    x = rng.standard_normal((1, c, 16, 16)).astype(np.float32)
    graph = _check(make_model(nodes, {"x": x}, ["y"], inits), {"x": x}, [optimizer.channels_last])
    flags = [(n.attrs.get("channels_last_in", 0), n.attrs.get("channels_last_out", 0)) for n in graph.nodes]
    assert flags == [(0, 0), (0, 1), (1, 0)]


@pytest.mark.parametrize("case", ["fire", "winograd-shaped on 7x7", "short runs", "non-conv reader"])
def test_gemm_convolution_hands_channels_last_to_im2col_readers(case: str, rng) -> None:
    """A squeeze 1x1 read by a 1x1 and a 3x3 expansion: it writes N,H,W,C for both when the 3x3's column
    copy then reads longer runs (kw*C against OW) and every reader is a convolution."""
    c, size, m = {"fire": (16, 9, 8), "winograd-shaped on 7x7": (64, 7, 64), "short runs": (4, 16, 8),
                  "non-conv reader": (16, 9, 8)}[case]
    inits = {"sq": (rng.standard_normal((c, 6, 1, 1)) / 3).astype(np.float32),
             "e1": (rng.standard_normal((m, c, 1, 1)) / 4).astype(np.float32),
             "e3": (rng.standard_normal((m, c, 3, 3)) / (12 * c)).astype(np.float32),
             "b3": rng.standard_normal(m).astype(np.float32) / 10}
    nodes = [helper.make_node("Conv", ["x", "sq"], ["s"]),
             helper.make_node("Conv", ["s", "e1"], ["a"]),
             helper.make_node("Conv", ["s", "e3", "b3"], ["b"], pads=[1] * 4)]
    outputs = ["a", "b"]
    if case == "non-conv reader":
        nodes.append(helper.make_node("Relu", ["s"], ["r"]))
        outputs.append("r")
    x = rng.standard_normal((2, 6, size, size)).astype(np.float32)
    graph = _check(make_model(nodes, {"x": x}, outputs, inits), {"x": x}, [optimizer.channels_last])
    flags = [(n.attrs.get("channels_last_in", 0), n.attrs.get("channels_last_out", 0)) for n in graph.nodes[:3]]
    if case in ("fire", "winograd-shaped on 7x7"):
        assert flags == [(0, 1), (1, 0), (1, 0)]
    else:
        assert flags == [(0, 0), (0, 0), (0, 0)]


@pytest.mark.parametrize("stride", [1, 2])
def test_expansion_and_depthwise_become_one_node(stride: int, monkeypatch, rng) -> None:
    """The inverted residual's expand (+Clip) -> depthwise (+Relu) pair: one PointwiseDepthwise node."""
    monkeypatch.setattr(pointwise_depthwise, "PHASES_MAX_PADDED_RATIO", 10.0)  # its fused path also at test sizes
    model, feeds = _inverted_residual(rng, stride)
    graph = _check(model, feeds, [*optimizer.PASSES, *optimizer.CPU_PASSES])
    fused = [n for n in graph.nodes if n.op_type == "PointwiseDepthwise"]
    assert len(fused) == 1 and fused[0].inputs[1:] == ["exp", "b", "dw1", ""]
    assert [c.attrs.get("activation") for c in fused[0].attrs["convs"]] == ["Clip", "Relu"]
    assert fused[0].outputs == [n.inputs[0] for n in graph.nodes if n.inputs[1:2] == ["proj"]]


@pytest.mark.parametrize("case", ["sigmoid", "strided 1x1"])
def test_expansion_stays_apart_when_its_padding_would_not_be_zero(case: str, rng) -> None:
    """A fused activation with f(0) != 0 would make the GEMM's padding nonzero; a strided 1x1 has no phases."""
    inits = {"e": (rng.standard_normal((8, 4, 1, 1)) / 2).astype(np.float32),
             "dw": rng.standard_normal((8, 1, 3, 3)).astype(np.float32),
             "p": (rng.standard_normal((4, 8, 1, 1)) / 3).astype(np.float32)}
    nodes = [helper.make_node("Conv", ["x", "e"], ["a"], strides=[2, 2] if case == "strided 1x1" else [1, 1]),
             helper.make_node("Sigmoid" if case == "sigmoid" else "Relu", ["a"], ["r"]),
             helper.make_node("Conv", ["r", "dw"], ["d"], pads=[1] * 4, group=8),
             helper.make_node("Conv", ["d", "p"], ["y"])]
    x = rng.standard_normal((1, 4, 8, 8)).astype(np.float32)
    graph = _check(make_model(nodes, {"x": x}, ["y"], inits), {"x": x}, [*optimizer.PASSES, *optimizer.CPU_PASSES])
    assert _ops(graph) == ["FusedConv", "Conv", "Conv"]
    assert graph.nodes[1].attrs.get("channels_last_in") == 1  # the pair was eligible but for the reason tested


def _ops(graph: ir.Graph) -> list[str]:
    return [n.op_type for n in graph.nodes]


def test_activation_moves_after_the_max_pool_it_feeds(rng) -> None:
    inits = {"w": rng.standard_normal((4, 3, 3, 3)).astype(np.float32)}
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("MaxPool", ["r"], ["y"], kernel_shape=[3, 3], strides=[2, 2])]
    x = rng.standard_normal((1, 3, 11, 11)).astype(np.float32)
    graph = _check(make_model(nodes, {"x": x}, ["y"], inits), {"x": x}, [optimizer.sink_activations])
    assert _ops(graph) == ["Conv", "MaxPool", "Relu"]
    assert graph.nodes[-1].outputs == ["y"]
    # Nothing is left for fusion: the convolution now feeds the pool.
    assert _ops(optimizer.fuse_activations(graph)) == ["Conv", "MaxPool", "Relu"]


def test_one_activation_moves_through_a_concat_of_identical_ones(rng) -> None:
    inits = {"w1": rng.standard_normal((4, 3, 1, 1)).astype(np.float32),
             "w3": rng.standard_normal((4, 3, 3, 3)).astype(np.float32)}
    nodes = [helper.make_node("Conv", ["x", "w1"], ["a"]), helper.make_node("Relu", ["a"], ["ra"]),
             helper.make_node("Conv", ["x", "w3"], ["b"], pads=[1] * 4), helper.make_node("Relu", ["b"], ["rb"]),
             helper.make_node("Concat", ["ra", "rb"], ["cat"], axis=1),
             helper.make_node("MaxPool", ["cat"], ["y"], kernel_shape=[2, 2], strides=[2, 2])]
    x = rng.standard_normal((1, 3, 8, 8)).astype(np.float32)
    graph = _check(make_model(nodes, {"x": x}, ["y"], inits), {"x": x}, [optimizer.sink_activations])
    assert _ops(graph) == ["Conv", "Conv", "Concat", "MaxPool", "Relu"]


@pytest.mark.parametrize("case", ["after a conv", "graph output", "pool read twice", "clip"])
def test_a_relu_reading_a_max_pool_goes_into_it(case: str, rng) -> None:
    """fold_relus_into_pools (CPU): after sink_activations, SqueezeNet's stem Relu becomes the pool's
    ``relu`` attribute; a pool read by others than the Relu, or followed by another activation, keeps it."""
    inits = {"w": rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
             "sq": rng.standard_normal((2, 4, 1, 1)).astype(np.float32)}
    pool = dict(kernel_shape=[3, 3], strides=[2, 2])
    if case == "pool read twice":
        nodes = [helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("MaxPool", ["c"], ["p"], **pool),
                 helper.make_node("Relu", ["p"], ["r"]), helper.make_node("Conv", ["p", "sq"], ["y"])]
        outputs = ["r", "y"]
    else:
        act = "Clip" if case == "clip" else "Relu"
        nodes = [helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node(act, ["c"], ["r"]),
                 helper.make_node("MaxPool", ["r"], ["p"], **pool)]
        outputs = ["p"]
        if case != "graph output":
            nodes.append(helper.make_node("Conv", ["p", "sq"], ["y"]))
            outputs = ["y"]
    x = rng.standard_normal((1, 3, 13, 13)).astype(np.float32)
    graph = _check(make_model(nodes, {"x": x}, outputs, inits), {"x": x},
                   [*optimizer.PASSES, optimizer.fold_relus_into_pools])
    folded = case in ("after a conv", "graph output")
    [pool_node] = [n for n in graph.nodes if n.op_type == "MaxPool"]
    assert bool(pool_node.attrs.get("relu")) == folded
    assert ("Relu" in _ops(graph)) == (case == "pool read twice")
    assert graph.outputs == outputs


@pytest.mark.parametrize("case", ["mixed activations", "indices", "negative slope"])
def test_activation_stays_where_moving_it_would_change_a_result(case: str, rng) -> None:
    inits = {"lo": np.array(0, np.float32), "hi": np.array(1, np.float32)}
    pool = dict(kernel_shape=[2, 2], strides=[2, 2])
    if case == "mixed activations":
        nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Clip", ["x", "lo", "hi"], ["b"]),
                 helper.make_node("Concat", ["a", "b"], ["cat"], axis=1),
                 helper.make_node("MaxPool", ["cat"], ["y"], **pool)]
        outputs = ["y"]
    elif case == "indices":  # the argmax of activated values may be another of several zeros
        nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("MaxPool", ["a"], ["y", "i"], **pool)]
        outputs = ["y", "i"]
    else:  # a negative slope reverses the order of negative values
        nodes = [helper.make_node("LeakyRelu", ["x"], ["a"], alpha=-0.5), helper.make_node("MaxPool", ["a"], ["y"], **pool)]
        outputs = ["y"]
    x = rng.standard_normal((1, 2, 4, 4)).astype(np.float32)
    before = _ops(ir.from_model(make_model(nodes, {"x": x}, outputs, inits)))
    graph = _check(make_model(nodes, {"x": x}, outputs, inits), {"x": x}, [optimizer.sink_activations])
    assert _ops(graph) == before


@pytest.mark.parametrize("reader", ["1x1", "3x3"])
def test_pool_between_a_gemm_convolution_and_a_1x1_runs_channels_last(reader: str, rng) -> None:
    """SqueezeNet's stem: conv 3x3/2 -> Relu -> MaxPool -> 1x1; the Relu moves after the pool and carries no flag."""
    k = 1 if reader == "1x1" else 3
    inits = {"stem": (rng.standard_normal((8, 3, 3, 3)) / 5).astype(np.float32),
             "b": rng.standard_normal(8).astype(np.float32),
             "sq": (rng.standard_normal((4, 8, k, k)) / 3).astype(np.float32)}
    nodes = [helper.make_node("Conv", ["x", "stem", "b"], ["s"], strides=[2, 2]),
             helper.make_node("Relu", ["s"], ["r"]),
             helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[3, 3], strides=[2, 2], pads=[0, 0, 1, 1]),
             helper.make_node("Conv", ["p", "sq"], ["y"])]
    x = rng.standard_normal((2, 3, 23, 23)).astype(np.float32)
    model = make_model(nodes, {"x": x}, ["y"], inits)
    graph = _check(model, {"x": x}, [*optimizer.PASSES, optimizer.channels_last])
    flags = [(n.op_type, n.attrs.get("channels_last_in", 0), n.attrs.get("channels_last_out", 0)) for n in graph.nodes]
    if reader == "1x1":
        assert flags == [("Conv", 0, 1), ("MaxPool", 1, 1), ("Relu", 0, 0), ("Conv", 1, 0)]
    else:  # a 3x3 reader needs N,C,H,W, so nothing changes layout
        assert flags == [("Conv", 0, 0), ("MaxPool", 0, 0), ("Relu", 0, 0), ("Conv", 0, 0)]
    dump = Program(graph).run({"x": x}, intermediate=True)
    want = Program(ir.from_model(model)).run({"x": x}, intermediate=True)
    for name in set(dump) & set(want):
        assert dump[name].shape == want[name].shape, name


@pytest.mark.parametrize("second", ["conv", "graph input"])
def test_channel_concat_of_convolutions_before_a_pool_joins_channels_last(second: str, rng) -> None:
    """A fire module: 1x1 and 3x3 expansions -> Concat -> MaxPool -> 1x1. Every Concat input must be a GEMM's."""
    inits = {"e1": (rng.standard_normal((4, 3, 1, 1)) / 2).astype(np.float32),
             "e3": (rng.standard_normal((4, 3, 3, 3)) / 5).astype(np.float32),
             "sq": (rng.standard_normal((2, 8 if second == "conv" else 7, 1, 1)) / 3).astype(np.float32)}
    nodes = [helper.make_node("Conv", ["x", "e1"], ["a"]),
             helper.make_node("Conv", ["x", "e3"], ["b"], pads=[1] * 4) if second == "conv" else None,
             helper.make_node("Concat", ["a", "b" if second == "conv" else "x"], ["cat"], axis=1),
             helper.make_node("MaxPool", ["cat"], ["p"], kernel_shape=[3, 3], strides=[2, 2]),
             helper.make_node("Conv", ["p", "sq"], ["y"])]
    x = rng.standard_normal((2, 3, 9, 9)).astype(np.float32)
    model = make_model([n for n in nodes if n is not None], {"x": x}, ["y"], inits)
    graph = _check(model, {"x": x}, [optimizer.channels_last])
    concat = next(n for n in graph.nodes if n.op_type == "Concat")
    pool = next(n for n in graph.nodes if n.op_type == "MaxPool")
    if second == "conv":
        assert concat.attrs == {"axis": 3}
        assert all(n.attrs.get("channels_last_out") for n in graph.nodes[:2])
        assert (pool.attrs.get("channels_last_in"), graph.nodes[-1].attrs.get("channels_last_in")) == (1, 1)
    else:  # the graph input is N,C,H,W, so the Concat, the pool and the convolutions keep that layout
        assert concat.attrs == {"axis": 1}
        assert not any(k.startswith("channels_last") for n in graph.nodes for k in n.attrs)


@pytest.mark.parametrize("after", ["1x1", "pool then 1x1"])
def test_convolutions_joined_by_a_concat_write_into_it(after: str, rng) -> None:
    """A fire module's expansions become one ConvConcat, channels-last: read by a 1x1 (the next squeeze),
    the joined tensor is a channels-last region's (channels_last_regions), and before a pool a handover's
    (channels_last)."""
    inits = {"e1": (rng.standard_normal((4, 3, 1, 1)) / 2).astype(np.float32),
             "b1": rng.standard_normal(4).astype(np.float32),
             "e3": (rng.standard_normal((5, 3, 3, 3)) / 5).astype(np.float32),
             "sq": (rng.standard_normal((2, 9, 1, 1)) / 3).astype(np.float32)}
    nodes = [helper.make_node("Conv", ["x", "e1", "b1"], ["a"]), helper.make_node("Relu", ["a"], ["ra"]),
             helper.make_node("Conv", ["x", "e3"], ["b"], pads=[1] * 4), helper.make_node("Relu", ["b"], ["rb"]),
             helper.make_node("Concat", ["ra", "rb"], ["cat"], axis=1)]
    if after == "1x1":
        nodes.append(helper.make_node("Conv", ["cat", "sq"], ["y"]))
    else:
        nodes += [helper.make_node("MaxPool", ["cat"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
                  helper.make_node("Conv", ["p", "sq"], ["y"])]
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    graph = _check(make_model(nodes, {"x": x}, ["y"], inits), {"x": x}, optimizer.PASSES + optimizer.CPU_PASSES)
    joined = [n for n in graph.nodes if n.op_type == "ConvConcat"]
    assert len(joined) == 1 and "Concat" not in _ops(graph)
    assert joined[0].inputs == ["x", "e1", "b1", "x", "e3", ""]
    parts = joined[0].attrs["convs"]
    if after == "1x1":
        assert [p.attrs.get("activation") for p in parts] == ["Relu", "Relu"]
        assert all(p.attrs.get("channels_last_out") for p in parts)
    else:  # the Relus moved after the pool, which runs channels-last
        assert [p.attrs.get("activation") for p in parts] == [None, None]
        assert all(p.attrs.get("channels_last_out") for p in parts)


def test_a_concat_with_other_inputs_stays(rng) -> None:
    inits = {"e1": rng.standard_normal((4, 3, 1, 1)).astype(np.float32)}
    nodes = [helper.make_node("Conv", ["x", "e1"], ["a"]), helper.make_node("Concat", ["a", "x"], ["y"], axis=1)]
    x = rng.standard_normal((1, 3, 5, 5)).astype(np.float32)
    graph = _check(make_model(nodes, {"x": x}, ["y"], inits), {"x": x}, [optimizer.concat_convs])
    assert _ops(graph) == ["Conv", "Concat"]
