"""optimizer/residual_add.py: a convolution's residual Add (and the Relu after it) folded into the
convolution, the numbers unchanged against the unoptimized graph and ORT, in C and numpy."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_model, ort_run
from onnx import helper

from facade import native_fallback
from facade.native_fallback import compiled, ir, optimizer
from facade.native_fallback.program import Program


def _block(rng, add: str = "Add", relu: bool = True, shortcut_after: bool = False, residual_shape=None,
           kernel: int = 1):
    """x -> Conv(kernel) -> Add(shortcut) -> [Relu], the shortcut a 1x1 Conv of x listed before or after
    the main Conv (the order a ResNet export gives either way), or an input of ``residual_shape``."""
    x = rng.standard_normal((2, 8, 9, 10)).astype(np.float32)
    inits = {"w": rng.standard_normal((16, 8, kernel, kernel)).astype(np.float32),
             "b": rng.standard_normal(16).astype(np.float32),
             "ws": rng.standard_normal((16, 8, 1, 1)).astype(np.float32)}
    main = helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[kernel // 2] * 4)
    feeds = {"x": x}
    if residual_shape is None:
        short = [helper.make_node("Conv", ["x", "ws"], ["s"])]
    else:
        short, feeds["s"] = [], rng.standard_normal(residual_shape).astype(np.float32)
    nodes = [main, *short] if shortcut_after else [*short, main]
    nodes.append(helper.make_node(add, ["s", "c"] if shortcut_after else ["c", "s"], ["a"]))
    if relu:
        nodes.append(helper.make_node("Relu", ["a"], ["y"]))
    return make_model(nodes, feeds, ["y" if relu else "a"], inits), feeds


def _fused(graph: ir.Graph) -> list[ir.Node]:
    return [n for n in graph.nodes if n.attrs.get("residual")]


@pytest.mark.parametrize("add", ["Add", "Sum"])
@pytest.mark.parametrize("relu", [True, False])
@pytest.mark.parametrize("shortcut_after", [False, True])
@pytest.mark.parametrize("kernel", [1, 3])
def test_the_add_and_relu_fold_into_the_convolution(add, relu, shortcut_after, kernel, rng) -> None:
    model, feeds = _block(rng, add, relu, shortcut_after, kernel=kernel)
    graph = optimizer.fuse_residual_adds(ir.from_model(model))
    [node] = _fused(graph)
    assert [n.op_type for n in graph.nodes] == ["Conv", "FusedConv"]  # after the shortcut it reads
    assert node.attrs.get("activation") == ("Relu" if relu else None)
    expected = ort_run(model, feeds)[0]
    got = Program(graph).run(feeds)
    np.testing.assert_allclose(next(iter(got.values())), expected, rtol=1e-5, atol=1e-5)
    for threads in (1, 2):
        whole = native_fallback.compile(model, threads=threads).run(feeds)
        np.testing.assert_allclose(next(iter(whole.values())), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape", [(1, 16, 1, 1), (2, 16, 9, 10)])
def test_a_broadcast_residual_and_the_numpy_kernels_match_ort(shape, monkeypatch, rng) -> None:
    model, feeds = _block(rng, residual_shape=shape)
    graph = optimizer.fuse_residual_adds(ir.from_model(model))
    assert len(_fused(graph)) == 1
    expected = ort_run(model, feeds)[0]
    for kernels in ("c", "numpy"):
        if kernels == "numpy":
            monkeypatch.setenv(compiled.ENV_VAR, "numpy")
        got = native_fallback.compile(model, threads=2).run(feeds)
        np.testing.assert_allclose(next(iter(got.values())), expected, rtol=1e-5, atol=1e-5, err_msg=kernels)
    got64 = native_fallback.compile(model, dtype="float64").run(feeds)
    np.testing.assert_allclose(next(iter(got64.values())), expected, rtol=1e-5, atol=1e-5)


def test_an_add_with_another_reader_of_the_convolution_stays(rng) -> None:
    model, _ = _block(rng)
    for name in ("c", "s"):  # both addends read elsewhere too: neither convolution may absorb the Add
        model.graph.node.append(helper.make_node("Neg", [name], [f"neg_{name}"]))
        model.graph.output.append(helper.make_tensor_value_info(f"neg_{name}", 1, None))
    graph = optimizer.fuse_residual_adds(ir.from_model(model))
    assert not _fused(graph)
    assert any(n.op_type == "Add" for n in graph.nodes)


def test_a_convolution_with_its_own_activation_keeps_the_add(rng) -> None:
    model, feeds = _block(rng, relu=True)
    graph = ir.from_model(model)
    graph.nodes.insert(len(graph.nodes) - 2, ir.Node("Relu", ["c"], ["c_act"]))
    for n in graph.nodes:
        if n.op_type == "Add":
            n.inputs = ["c_act" if i == "c" else i for i in n.inputs]
    expected = Program(graph).run(feeds)["y"]
    graph = optimizer.fuse_activations(graph)  # Conv + Relu -> FusedConv with an activation
    graph = optimizer.fuse_residual_adds(graph)
    # the activated main convolution keeps its own output; the plain shortcut convolution takes the Add
    assert [n.inputs[1] for n in _fused(graph)] == ["ws"]
    assert [n.inputs[3] for n in _fused(graph)] == ["c_act"]
    np.testing.assert_allclose(Program(graph).run(feeds)["y"], expected, rtol=1e-5, atol=1e-5)
