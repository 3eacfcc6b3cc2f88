"""The layout-chain pass: runs of constant-parameter shape nodes become one Relayout step whose values
are bit for bit those of the nodes (and ORT's)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_model, ort_run
from onnx import helper

from facade import native_fallback
from facade.native_fallback import ir
from facade.native_fallback.optimizer import fuse_layout_chains


def _qkv_split(opset: int) -> tuple[list, dict]:
    """torch's nn.MultiheadAttention in-projection split: (L, N, 3E) -> Q, K, V of (N, heads, L, d)."""
    axes = {"axes": [0]} if opset < 13 else {}
    squeeze_axes = {"axes": [3]} if opset < 13 else {}
    nodes = [helper.make_node("Reshape", ["x", "s4"], ["r"]),
             helper.make_node("Unsqueeze", ["r"] + (["zero"] if opset >= 13 else []), ["u"], **axes),
             helper.make_node("Transpose", ["u"], ["t"], perm=[3, 1, 2, 0, 4]),
             helper.make_node("Squeeze", ["t"] + (["three"] if opset >= 13 else []), ["q3"], **squeeze_axes)]
    for k, index in enumerate(["i0", "i1", "im1"]):
        nodes += [helper.make_node("Gather", ["q3", index], [f"g{k}"], axis=0),
                  helper.make_node("Reshape", [f"g{k}", "heads"], [f"h{k}"]),
                  helper.make_node("Transpose", [f"h{k}"], [f"p{k}"], perm=[1, 0, 2]),
                  helper.make_node("Reshape", [f"p{k}", "split"], [f"y{k}"])]
    inits = {"s4": np.array([0, 2, 3, 8], np.int64), "zero": np.array([0], np.int64),
             "three": np.array([3], np.int64), "i0": np.array(0, np.int64), "i1": np.array(1, np.int64),
             "im1": np.array(-1, np.int64), "heads": np.array([5, 4, 4], np.int64),
             "split": np.array([2, 2, -1, 4], np.int64)}
    return nodes, inits


@pytest.mark.parametrize("opset", [11, 17])
def test_qkv_split_becomes_four_steps_with_the_same_values(rng, opset) -> None:
    x = rng.standard_normal((5, 2, 24)).astype(np.float32)
    nodes, inits = _qkv_split(opset)
    model = make_model(nodes, {"x": x}, ["y0", "y1", "y2"], inits, opset=opset)
    fused = native_fallback.compile(model)
    assert [s.node.op_type for s in fused.steps] == ["Relayout"] * 4
    plain = native_fallback.compile(model, optimize=False).run({"x": x})
    ort = ort_run(model, {"x": x})
    for k, name in enumerate(["y0", "y1", "y2"]):
        got = fused.run({"x": x})[name]
        assert got.shape == (2, 2, 5, 4)
        np.testing.assert_array_equal(got, plain[name])
        np.testing.assert_array_equal(got, ort[k])


def test_a_runtime_shape_or_a_second_reader_ends_the_chain(rng) -> None:
    x = rng.standard_normal((4, 6)).astype(np.float32)
    shape = np.array([6, 4], np.int64)
    nodes = [helper.make_node("Transpose", ["x"], ["t"], perm=[1, 0]),
             helper.make_node("Reshape", ["t", "shape"], ["r"]),  # shape fed at run time
             helper.make_node("Flatten", ["r"], ["f"], axis=0),
             helper.make_node("Squeeze", ["f"], ["s"]),  # no axes: every 1 goes
             helper.make_node("Unsqueeze", ["s", "ax"], ["u"]),
             helper.make_node("Transpose", ["u"], ["y"])]
    model = make_model(nodes, {"x": x, "shape": shape}, ["y", "f"], {"ax": np.array([-1, 0], np.int64)})
    graph = fuse_layout_chains(ir.from_model(model))
    ops = [(n.op_type, len(n.attrs.get("chain", ()))) for n in graph.nodes]
    # Reshape's shape is an input and f an output: only Squeeze, Unsqueeze and Transpose chain.
    assert ops == [("Transpose", 0), ("Reshape", 0), ("Flatten", 0), ("Relayout", 3)]
    program = native_fallback.compile(model)
    for got, want in zip([program.run({"x": x, "shape": shape})[n] for n in ("y", "f")],
                         ort_run(model, {"x": x, "shape": shape}), strict=True):
        assert got.shape == want.shape
        np.testing.assert_array_equal(got, want)
