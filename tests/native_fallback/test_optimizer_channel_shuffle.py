"""The channel-shuffle pass: a ShuffleNet unit's shuffle (Reshape, Transpose, Reshape) read by a depthwise
convolution that writes channels-last is done by that convolution, with ORT's values, on every kernel path;
any other shuffle or reader keeps its Relayout."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from conftest import ort_run
from onnx import helper, numpy_helper

from facade import native_fallback
from facade.native_fallback import compiled, ir, threads
from facade.native_fallback.optimizer import optimize
from facade.native_fallback.optimizer.channel_shuffle import shuffle_groups


def _unit(rng, *, c: int = 48, hw: int = 10, groups: int = 4, batch: int = 1, stride: int = 1,
          perm: tuple[int, ...] = (0, 2, 1, 3, 4), dw_group: int | None = None, shuffled_out: bool = False,
          dw_out: bool = False) -> tuple[onnx.ModelProto, dict]:
    """Grouped 1x1 + Relu, the channel shuffle, a 3x3 depthwise convolution, a grouped 1x1: ShuffleNet's
    unit, at the installed onnx's default IR version. ``dw_group`` makes the 3x3 another grouped one;
    ``shuffled_out`` / ``dw_out`` make the shuffle's / the 3x3's output a graph output too."""
    x = rng.standard_normal((batch, c, hw, hw)).astype(np.float32)
    group3 = c if dw_group is None else dw_group
    inits = {"w0": rng.standard_normal((c, c // groups, 1, 1)).astype(np.float32) * 0.3,
             "split": np.array([batch, groups, c // groups, hw, hw], np.int64),
             "joined": np.array([batch, c, hw, hw], np.int64),
             "w": rng.standard_normal((c, c // group3, 3, 3)).astype(np.float32) * 0.3,
             "b": rng.standard_normal(c).astype(np.float32),
             "w2": rng.standard_normal((c, c // groups, 1, 1)).astype(np.float32) * 0.3}
    nodes = [helper.make_node("Conv", ["x", "w0"], ["a"], group=groups), helper.make_node("Relu", ["a"], ["ar"]),
             helper.make_node("Reshape", ["ar", "split"], ["r1"]),
             helper.make_node("Transpose", ["r1"], ["t"], perm=list(perm)),
             helper.make_node("Reshape", ["t", "joined"], ["shuffled"]),
             helper.make_node("Conv", ["shuffled", "w", "b"], ["d"], group=group3, pads=[1] * 4, strides=[stride] * 2),
             helper.make_node("Conv", ["d", "w2"], ["y"], group=groups)]
    outputs = ["y"] + (["shuffled"] if shuffled_out else []) + (["d"] if dw_out else [])
    graph = helper.make_graph(nodes, "unit", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, x.shape)],
                              [helper.make_empty_tensor_value_info(o) for o in outputs],
                              [numpy_helper.from_array(v, k) for k, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), {"x": x}


def _optimized(model: onnx.ModelProto):
    return optimize(ir.from_model(ir.load(model)), "cpu")


@pytest.mark.parametrize(("batch", "stride", "hw"), [(1, 1, 10), (2, 2, 11), (1, 1, 40)])
@pytest.mark.parametrize("kernels", ["c", "no-c-pool", "numpy"])
def test_the_depthwise_convolution_reads_the_shuffle_with_ort_s_values(batch, stride, hw, kernels, rng,
                                                                         monkeypatch) -> None:
    """Folded on every path: conv.c's job (split or whole), conv.c without its C pool (numpy copies the
    input shuffled and channels-last), numpy's kernels, and the float64 oracle. The 40x40 map splits the
    depthwise job at two threads."""
    if kernels == "numpy":
        monkeypatch.setenv(compiled.ENV_VAR, "numpy")
    if kernels == "no-c-pool":
        monkeypatch.setattr(threads.Pool, "c_handle", lambda self: None)
    model, feeds = _unit(rng, batch=batch, stride=stride, hw=hw)
    graph = _optimized(model)
    assert "Relayout" not in [n.op_type for n in graph.nodes]
    [dw] = [n for n in graph.nodes if n.attrs.get("shuffle_groups")]
    assert dw.attrs["shuffle_groups"] == 4 and dw.attrs.get("channels_last_out")
    expected = ort_run(model, feeds)[0]
    for count in (1, 2):
        got = native_fallback.compile(model, threads=count).run(feeds)["y"]
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4, err_msg=f"{count} threads")
    oracle = native_fallback.compile(model, dtype="float64").run(feeds)["y"]
    np.testing.assert_allclose(oracle, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("case", [{"perm": (0, 1, 2, 4, 3)}, {"dw_group": 4}, {"shuffled_out": True},
                                  {"dw_out": True}],
                         ids=["not-a-shuffle", "grouped-reader", "shuffle-is-an-output", "depthwise-writes-nchw"])
def test_any_other_shuffle_or_reader_keeps_its_relayout(case, rng) -> None:
    model, feeds = _unit(rng, **case)
    graph = _optimized(model)
    assert "Relayout" in [n.op_type for n in graph.nodes]
    assert not any(n.attrs.get("shuffle_groups") for n in graph.nodes)
    expected = ort_run(model, feeds)
    got = native_fallback.compile(model, threads=2).run(feeds)
    for name, want in zip([o.name for o in model.graph.output], expected, strict=True):
        np.testing.assert_allclose(got[name], want, rtol=1e-4, atol=1e-4)


def test_only_an_explicit_reshape_pair_around_the_middle_swap_is_a_shuffle() -> None:
    from facade.native_fallback.ir import Node
    from facade.native_fallback.registry import FACADE_DOMAIN

    def relayout(*chain) -> Node:
        return Node("Relayout", ["x"], ["y"], domain=FACADE_DOMAIN, attrs={"chain": list(chain)})
    swap = ("Transpose", (0, 2, 1, 3, 4))
    assert shuffle_groups(relayout(("Reshape", (1, 4, 6, 5, 5), False), swap, ("Reshape", (1, 24, 5, 5), False))) == 4
    assert shuffle_groups(relayout(("Reshape", (1, 4, 6, 5, 5), False), swap, ("Reshape", (1, -1, 5, 5), False))) is None
    assert shuffle_groups(relayout(("Reshape", (1, 4, 6, 5, 5), False), swap, ("Reshape", (1, 24, 25), False))) is None
    assert shuffle_groups(relayout(("Reshape", (1, 1, 24, 5, 5), False), swap, ("Reshape", (1, 24, 5, 5), False))) is None
    assert shuffle_groups(relayout(("Reshape", (1, 4, 6, 5, 5), False), swap)) is None


def test_an_input_of_another_shape_gets_the_relayout_s_copy(rng) -> None:
    """The folded kernel given an input of the shuffle's size but not its output's shape (dynamic sizes
    against constant Reshapes) computes what the Relayout then the convolution did: the shuffle's reshape
    reinterprets it, and the C kernel's in-place reading does not apply."""
    from facade.native_fallback import registry

    model, _ = _unit(rng)
    [dw] = [n for n in _optimized(model).nodes if n.attrs.get("shuffle_groups")]
    plain = dw.__class__(dw.op_type, dw.inputs, dw.outputs, domain=dw.domain,
                         attrs={k: v for k, v in dw.attrs.items() if not k.startswith("shuffle_")})
    w, b = (np.asarray(numpy_helper.to_array(t)) for t in model.graph.initializer if t.name in ("w", "b"))
    x = rng.standard_normal((1, 48, 5, 20)).astype(np.float32)  # 48 x 10 x 10 values, another shape
    relaid = x.reshape(1, 4, 12, 10, 10).transpose(0, 2, 1, 3, 4).reshape(1, 48, 10, 10)

    def kernel(node):
        return registry.lookup(node.domain, node.op_type, 17).builder(node, 17)
    got = kernel(dw)(x, w, b)[0]
    np.testing.assert_array_equal(got, kernel(plain)(np.ascontiguousarray(relaid), w, b)[0])
    with pytest.raises(ValueError):
        kernel(dw)(x[:, :, :4], w, b)  # a size the shuffle's Reshape refuses
