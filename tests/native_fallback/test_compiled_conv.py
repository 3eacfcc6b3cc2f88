"""conv.c's kernels against the numpy path and ONNX Runtime: depthwise convolutions in every layout, the
GEMM epilogue, global average pooling, over a grid of geometries and every fused activation, serial and
split across the engine's threads."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_model, ort_run
from onnx import helper

from facade import native_fallback
from facade.native_fallback import compiled, threads
from facade.native_fallback.ir import Node
from facade.native_fallback.ops.conv import WeightCache
from facade.native_fallback.ops.conv.forward import conv
from facade.native_fallback.ops.conv.kernels import activation_of

# (ONNX activation, its attributes): every one conv.c computes, and Tanh, which runs in numpy after C.
ACTIVATIONS = [(None, {}), ("Relu", {}), ("Clip", {"min": 0.0, "max": 6.0}), ("Clip", {"min": -0.5}),
               ("LeakyRelu", {"alpha": 0.2}), ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}), ("HardSwish", {}),
               ("Sigmoid", {}), ("Tanh", {})]
ACT_IDS = [f"{a}{''.join(map(str, v.values()))}" for a, v in ACTIVATIONS]

# Depthwise geometries: channels, size (h, w), kernel, strides, pads (t, l, b, r), dilations, batch.
DEPTHWISE = [dict(c=13, hw=(11, 9), k=3, s=(1, 1), p=(1, 1, 1, 1), d=(1, 1), n=2),
             dict(c=5, hw=(12, 13), k=3, s=(2, 2), p=(0, 1, 1, 0), d=(1, 1), n=1),
             dict(c=24, hw=(9, 10), k=5, s=(2, 1), p=(2, 2, 2, 2), d=(1, 1), n=2),
             dict(c=17, hw=(15, 15), k=7, s=(1, 2), p=(3, 1, 2, 3), d=(1, 1), n=1),
             dict(c=9, hw=(13, 11), k=3, s=(1, 1), p=(2, 2, 2, 2), d=(2, 2), n=2),
             dict(c=8, hw=(9, 12), k=5, s=(2, 2), p=(0, 0, 0, 0), d=(1, 2), n=1),
             dict(c=33, hw=(6, 5), k=3, s=(2, 2), p=(1, 1, 1, 1), d=(1, 1), n=1),
             # 3x3 and 5x5 over 16+ channels: windows wholly inside take conv.c's dw_inside (16 channels a
             # block, the rest by dw_pixel), the border pixels dw_pixel
             dict(c=32, hw=(10, 11), k=3, s=(1, 1), p=(1, 1, 1, 1), d=(1, 1), n=2),
             dict(c=24, hw=(13, 12), k=5, s=(2, 2), p=(2, 2, 2, 2), d=(1, 1), n=1),
             dict(c=40, hw=(14, 13), k=3, s=(2, 1), p=(2, 0, 1, 2), d=(2, 2), n=1),
             dict(c=16, hw=(7, 9), k=3, s=(1, 2), p=(0, 0, 0, 0), d=(1, 1), n=1)]
GEO_IDS = ["c{c}k{k}s{s[0]}{s[1]}d{d[0]}{d[1]}n{n}".format(**g) for g in DEPTHWISE]
LAYOUTS = [(False, False), (True, True), (True, False), (False, True)]


def _fused(op: str, attrs: dict, act: str | None, act_attrs: dict, layout: tuple[bool, bool]) -> Node:
    """The FusedConv (or Conv) node the optimizer would make, with the layout pass's flags."""
    attrs = {**attrs, "channels_last_in": int(layout[0]), "channels_last_out": int(layout[1])}
    if act is None:
        return Node("Conv", ["x", "w", "b"], ["y"], attrs=attrs)
    return Node("FusedConv", ["x", "w", "b"], ["y"], domain="ai.facade",
                attrs={**attrs, "activation": act, "activation_attrs": act_attrs})


def _ort_reference(x, w, b, attrs: dict, act: str | None, act_attrs: dict) -> np.ndarray:
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["h" if act else "y"], **attrs)]
    inits = {"w": w, "b": b}
    if act == "Clip":
        bounds = []
        for k in ("min", "max"):
            if k in act_attrs:
                inits[f"clip_{k}"] = np.float32(act_attrs[k])
            bounds.append(f"clip_{k}" if k in act_attrs else "")
        nodes.append(helper.make_node("Clip", ["h", *bounds], ["y"]))
    elif act:
        nodes.append(helper.make_node(act, ["h"], ["y"], **act_attrs))
    return ort_run(make_model(nodes, {"x": x}, ["y"], inits), {"x": x})[0]


def _run(node: Node, x, w, b, layout, cache: WeightCache, split: bool) -> np.ndarray:
    """The kernel's answer in N,C,H,W, the input given (and the output read) in ``layout``."""
    xin = np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if layout[0] else x
    previous = threads.running(threads.pool(2) if split else None)
    try:
        y = conv(xin, w, b, node, activation_of(node), cache, in_last=layout[0], out_last=layout[1])
    finally:
        threads.running(previous)
    return y.transpose(0, 3, 1, 2) if layout[1] else y


def _caches(monkeypatch) -> tuple[WeightCache, WeightCache]:
    """A kernel cache holding conv.c, and one built with FACADE_NATIVE_KERNELS=numpy (no C)."""
    with_c = WeightCache()
    monkeypatch.setenv(compiled.ENV_VAR, "numpy")
    numpy_only = WeightCache()
    monkeypatch.delenv(compiled.ENV_VAR)
    assert with_c.lib is not None, "conv.c did not compile: the C path is untested"
    assert numpy_only.lib is None
    return with_c, numpy_only


@pytest.fixture
def split_everything(monkeypatch):
    monkeypatch.setattr(threads, "MIN_PIECE", dict.fromkeys(threads.MIN_PIECE, 1))


@pytest.mark.parametrize(("act", "act_attrs"), ACTIVATIONS, ids=ACT_IDS)
@pytest.mark.parametrize("geo", DEPTHWISE, ids=GEO_IDS)
def test_depthwise_equals_numpy_and_ort_in_every_layout_and_split(geo, act, act_attrs, monkeypatch, rng,
                                                                  split_everything):
    c, (h, wd) = geo["c"], geo["hw"]
    x = rng.standard_normal((geo["n"], c, h, wd)).astype(np.float32)
    w = rng.standard_normal((c, 1, geo["k"], geo["k"])).astype(np.float32)
    b = rng.standard_normal(c).astype(np.float32)
    attrs = dict(group=c, kernel_shape=[geo["k"]] * 2, strides=list(geo["s"]),
                 pads=[geo["p"][0], geo["p"][1], geo["p"][2], geo["p"][3]], dilations=list(geo["d"]))
    expected = _ort_reference(x, w, b, attrs, act, act_attrs)
    for layout in LAYOUTS:
        node = _fused("Conv", attrs, act, act_attrs, layout)
        with_c, numpy_only = _caches(monkeypatch)
        serial = _run(node, x, w, b, layout, with_c, split=False)
        split = _run(node, x, w, b, layout, WeightCache(), split=True)
        np.testing.assert_allclose(serial, expected, rtol=1e-5, atol=1e-5, err_msg=f"C vs ORT, layout {layout}")
        np.testing.assert_array_equal(split, serial, err_msg=f"C split in pieces, layout {layout}")
        np.testing.assert_allclose(_run(node, x, w, b, layout, numpy_only, split=False), serial, rtol=1e-5,
                                   atol=1e-5, err_msg=f"numpy vs C, layout {layout}")


# GEMM convolutions: a 1x1 (bias folded into an expansion or not), strided and grouped 1x1s, im2col
# (pads t, l, b, r; dilation d): im2col from the unpadded input in C, asymmetric pads and dilation included.
GEMM_CONVS = [dict(c=16, m=24, k=1, s=1, p=0, g=1), dict(c=5, m=40, k=1, s=1, p=0, g=1),
              dict(c=16, m=24, k=1, s=2, p=0, g=4), dict(c=7, m=11, k=3, s=2, p=1, g=1),
              dict(c=6, m=9, k=5, s=1, p=2, g=3), dict(c=3, m=10, k=7, s=2, p=3, g=1),
              dict(c=4, m=6, k=3, s=1, p=(0, 2, 1, 1), d=2, g=1), dict(c=5, m=7, k=3, s=(2, 1), p=(2, 0, 0, 1), g=1)]


def _pairs(v) -> list:
    return list(v) if isinstance(v, tuple) else [v] * 2


@pytest.mark.parametrize(("act", "act_attrs"), ACTIVATIONS, ids=ACT_IDS)
@pytest.mark.parametrize("p", GEMM_CONVS, ids=lambda p: "c{c}m{m}k{k}s{s}g{g}".format(**p).replace(" ", ""))
def test_gemm_convolution_equals_numpy_and_ort(p, act, act_attrs, monkeypatch, rng, split_everything):
    x = rng.standard_normal((2, p["c"], 9, 11)).astype(np.float32)
    w = rng.standard_normal((p["m"], p["c"] // p["g"], p["k"], p["k"])).astype(np.float32)
    b = rng.standard_normal(p["m"]).astype(np.float32)
    pads = list(p["p"]) if isinstance(p["p"], tuple) else [p["p"]] * 4
    attrs = dict(group=p["g"], kernel_shape=[p["k"]] * 2, strides=_pairs(p["s"]), pads=pads,
                 dilations=_pairs(p.get("d", 1)))
    expected = _ort_reference(x, w, b, attrs, act, act_attrs)
    layouts = LAYOUTS if p["k"] == 1 else [(False, False), (True, True)]
    for layout in layouts:
        node = _fused("Conv", attrs, act, act_attrs, layout)
        with_c, numpy_only = _caches(monkeypatch)
        serial = _run(node, x, w, b, layout, with_c, split=False)
        np.testing.assert_allclose(serial, expected, rtol=1e-5, atol=1e-5, err_msg=f"C vs ORT, layout {layout}")
        np.testing.assert_allclose(_run(node, x, w, b, layout, WeightCache(), split=True), serial, rtol=1e-5,
                                   atol=1e-5, err_msg=f"C split in pieces, layout {layout}")
        np.testing.assert_allclose(_run(node, x, w, b, layout, numpy_only, split=False), serial, rtol=1e-5,
                                   atol=1e-5, err_msg=f"numpy vs C, layout {layout}")
        np.testing.assert_allclose(_run(node, x, w, None, layout, WeightCache(), split=False),
                                   _run(node, x, w, None, layout, numpy_only, split=False), rtol=1e-5, atol=1e-5,
                                   err_msg=f"no bias, numpy vs C, layout {layout}")


@pytest.mark.parametrize("act", ["Relu", "Clip"])
def test_nan_passes_through_the_c_activations_as_through_numpy(act, monkeypatch, rng):
    x = rng.standard_normal((1, 4, 5, 5)).astype(np.float32)
    x[0, :, 2, 2] = np.nan
    w = rng.standard_normal((4, 1, 3, 3)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    attrs = dict(group=4, kernel_shape=[3, 3], pads=[1] * 4)
    node = _fused("Conv", attrs, act, {"min": 0.0, "max": 6.0} if act == "Clip" else {}, (True, True))
    with_c, numpy_only = _caches(monkeypatch)
    got = _run(node, x, w, b, (True, True), with_c, split=False)
    assert np.isnan(got).sum() == 4 * 9
    np.testing.assert_allclose(got, _run(node, x, w, b, (True, True), numpy_only, split=False), rtol=1e-5)


def test_c_kernels_follow_a_weight_fed_at_run_time(monkeypatch, rng):
    """A weight that changes between runs (an input, not an initializer) must not reuse a stale closure."""
    x = rng.standard_normal((1, 6, 7, 7)).astype(np.float32)
    node = _fused("Conv", dict(group=6, kernel_shape=[3, 3], pads=[1] * 4), "Relu", {}, (True, True))
    cache, numpy_only = _caches(monkeypatch)
    pairs = [(rng.standard_normal((6, 1, 3, 3)).astype(np.float32), rng.standard_normal(6).astype(np.float32))
             for _ in range(2)]
    pairs.append((pairs[0][0], rng.standard_normal(6).astype(np.float32)))  # the first weight, another bias
    for w, b in pairs * 3:  # each comes back: nothing may point into an entry built for another
        np.testing.assert_allclose(_run(node, x, w, b, (True, True), cache, split=False),
                                   _run(node, x, w, b, (True, True), numpy_only, split=False), rtol=1e-5, atol=1e-6)


def _block(rng, act: str | None, act_attrs: dict, stride: int):
    """An inverted-residual block (1x1 expansion, depthwise, 1x1 projection): the CPU passes make
    the depthwise channels-last and fuse it with its expansion (PointwiseDepthwise)."""
    x = rng.standard_normal((2, 8, 15, 15)).astype(np.float32)
    inits = {"w1": rng.standard_normal((36, 8, 1, 1)).astype(np.float32), "b1": rng.standard_normal(36).astype(np.float32),
             "w2": rng.standard_normal((36, 1, 3, 3)).astype(np.float32), "b2": rng.standard_normal(36).astype(np.float32),
             "w3": rng.standard_normal((12, 36, 1, 1)).astype(np.float32), "b3": rng.standard_normal(12).astype(np.float32)}

    def activation(src: str, dst: str) -> list:
        if act is None:
            return [helper.make_node("Identity", [src], [dst])]
        if act == "Clip":
            inits["lo"], inits["hi"] = np.float32(0), np.float32(6)
            return [helper.make_node("Clip", [src, "lo", "hi"], [dst])]
        return [helper.make_node(act, [src], [dst], **act_attrs)]
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["e"]), *activation("e", "ea"),
             helper.make_node("Conv", ["ea", "w2", "b2"], ["d"], group=36, pads=[1] * 4, strides=[stride] * 2),
             *activation("d", "da"), helper.make_node("Conv", ["da", "w3", "b3"], ["y"])]
    return make_model(nodes, {"x": x}, ["y"], inits), x


def _each_program(model, monkeypatch):
    """(mode, threads, program) with the C kernels and with numpy only, at 1 and 2 threads; each
    program is closed after its turn."""
    for mode in ("c", "numpy"):
        if mode == "numpy":
            monkeypatch.setenv(compiled.ENV_VAR, "numpy")
        for n_threads in (1, 2):
            prog = native_fallback.compile(model, threads=n_threads)
            yield mode, n_threads, prog
            prog.close()
    monkeypatch.delenv(compiled.ENV_VAR, raising=False)


@pytest.mark.parametrize(("act", "act_attrs"), [(None, {}), ("Relu", {}), ("Clip", {}), ("HardSwish", {})],
                         ids=["none", "Relu", "Relu6", "HardSwish"])
@pytest.mark.parametrize("stride", [1, 2])
def test_programs_with_and_without_c_kernels_match_ort(act, act_attrs, stride, monkeypatch, rng):
    model, x = _block(rng, act, act_attrs, stride)
    expected = ort_run(model, {"x": x})[0]
    answers = {(mode, n): prog.run({"x": x})["y"] for mode, n, prog in _each_program(model, monkeypatch)}
    for key, got in answers.items():
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4, err_msg=str(key))


@pytest.mark.parametrize("shape", [(2, 13, 7, 7), (1, 5, 1, 1), (1, 3, 57, 55), (2, 9, 3, 5, 2)])
def test_global_average_pool_equals_numpy_and_ort(shape, monkeypatch, rng, split_everything):
    x = (rng.standard_normal(shape) + 3).astype(np.float32)
    model = make_model([helper.make_node("GlobalAveragePool", ["x"], ["y"])], {"x": x}, ["y"])
    expected = ort_run(model, {"x": x})[0]
    answers = []
    for env in (None, "numpy"):
        if env:
            monkeypatch.setenv(compiled.ENV_VAR, env)
        for n_threads in (1, 2):
            prog = native_fallback.compile(model, threads=n_threads)
            answers.append(prog.run({"x": x})["y"])
            prog.close()
    for got in answers:
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def _fire(rng, size: int):
    """SqueezeNet's fire module: a 1x1 squeeze, then a 1x1 and a 3x3 expansion joined by a channel
    Concat (the CPU pass ``concat_convs`` makes them one ConvConcat writing channel slices), then a
    max pool and a 1x1 as in the network, which make the joined output channels-last."""
    x = rng.standard_normal((1, 12, size, size)).astype(np.float32)
    inits = {"ws": rng.standard_normal((6, 12, 1, 1)).astype(np.float32), "bs": rng.standard_normal(6).astype(np.float32),
             "w1": rng.standard_normal((10, 6, 1, 1)).astype(np.float32), "b1": rng.standard_normal(10).astype(np.float32),
             "w3": rng.standard_normal((14, 6, 3, 3)).astype(np.float32), "b3": rng.standard_normal(14).astype(np.float32)}
    nodes = [helper.make_node("Conv", ["x", "ws", "bs"], ["s"]), helper.make_node("Relu", ["s"], ["sr"]),
             helper.make_node("Conv", ["sr", "w1", "b1"], ["e1"]), helper.make_node("Relu", ["e1"], ["r1"]),
             helper.make_node("Conv", ["sr", "w3", "b3"], ["e3"], pads=[1] * 4), helper.make_node("Relu", ["e3"], ["r3"]),
             helper.make_node("Concat", ["r1", "r3"], ["c"], axis=1),
             helper.make_node("MaxPool", ["c"], ["p"], kernel_shape=[3, 3], strides=[2, 2]),
             helper.make_node("Conv", ["p", "ws2"], ["y"])]
    inits["ws2"] = rng.standard_normal((5, 24, 1, 1)).astype(np.float32)
    return make_model(nodes, {"x": x}, ["y"], inits), x


@pytest.mark.parametrize("size", [13, 27])
def test_joined_convolutions_write_their_channel_slices_through_c(size, monkeypatch, rng, split_everything):
    model, x = _fire(rng, size)
    expected = ort_run(model, {"x": x})[0]
    for mode, n_threads, prog in _each_program(model, monkeypatch):
        joined = [s.node for s in prog.steps if s.node.op_type == "ConvConcat"]
        assert joined and joined[0].attrs["convs"][0].attrs.get("channels_last_out")
        np.testing.assert_allclose(prog.run({"x": x})["y"], expected, rtol=1e-4, atol=1e-4,
                                   err_msg=f"{mode}, {n_threads} threads")


def _excite(rng, act1: str | None, act2: str | None, swap: bool, extra_reader: bool = False):
    """x * act2(conv2(act1(conv1(GlobalAveragePool(x))))), as MobileNetV3 and EfficientNet spell it."""
    x = rng.standard_normal((2, 13, 5, 7)).astype(np.float32)
    inits = {"w1": rng.standard_normal((4, 13, 1, 1)).astype(np.float32), "b1": rng.standard_normal(4).astype(np.float32),
             "w2": rng.standard_normal((13, 4, 1, 1)).astype(np.float32), "b2": rng.standard_normal(13).astype(np.float32)}
    nodes = [helper.make_node("GlobalAveragePool", ["x"], ["g"]), helper.make_node("Conv", ["g", "w1", "b1"], ["h"])]
    nodes.append(helper.make_node(act1, ["h"], ["ha"]) if act1 else helper.make_node("Identity", ["h"], ["ha"]))
    nodes.append(helper.make_node("Conv", ["ha", "w2", "b2"], ["s"]))
    nodes.append(helper.make_node(act2, ["s"], ["sa"]) if act2 else helper.make_node("Identity", ["s"], ["sa"]))
    nodes.append(helper.make_node("Mul", ["sa", "x"] if swap else ["x", "sa"], ["y"]))
    outputs = ["y", "g"] if extra_reader else ["y"]
    return make_model(nodes, {"x": x}, outputs, inits), x


@pytest.mark.parametrize(("act1", "act2"), [("Relu", "HardSigmoid"), ("Relu", "Sigmoid"), (None, None),
                                            ("HardSwish", "Tanh")])
@pytest.mark.parametrize("swap", [False, True])
def test_squeeze_excite_is_one_step_equal_to_numpy_and_ort(act1, act2, swap, monkeypatch, rng):
    model, x = _excite(rng, act1, act2, swap)
    expected = ort_run(model, {"x": x})[0]
    for mode, n_threads, prog in _each_program(model, monkeypatch):
        assert [s.node.op_type for s in prog.steps] == ["SqueezeExcite"]
        np.testing.assert_allclose(prog.run({"x": x})["y"], expected, rtol=1e-5, atol=1e-6,
                                   err_msg=f"{mode}, {n_threads} threads")


def test_squeeze_excite_is_not_folded_when_the_pooled_mean_has_another_reader(rng):
    model, x = _excite(rng, "Relu", "HardSigmoid", False, extra_reader=True)
    prog = native_fallback.compile(model)
    assert "SqueezeExcite" not in [s.node.op_type for s in prog.steps]
    got, expected = prog.run({"x": x}), ort_run(model, {"x": x})
    np.testing.assert_allclose(got["y"], expected[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["g"], expected[1], rtol=1e-5, atol=1e-6)
