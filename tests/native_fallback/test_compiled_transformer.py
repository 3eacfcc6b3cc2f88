"""transformer.c's kernels (Erf, exact GELU, LayerNormalization, Softmax) against the numpy path, ONNX
Runtime and math.erf, and the optimizer passes that feed them (exact-GELU fusion, MatMul + bias).

Every model runs in three programs: float32 with the C kernels, float32 with FACADE_NATIVE_KERNELS=numpy,
and the float64 oracle (which must never take a C kernel)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import make_model, ort_run
from onnx import helper

from facade import native_fallback
from facade.native_fallback import compiled, ir, optimizer
from facade.native_fallback.ops import _util
from facade.native_fallback.ops.elementwise import erf as numpy_erf


@pytest.fixture
def programs(monkeypatch):
    """compile(model, **kw) -> (the program with C kernels, the one with numpy kernels only)."""
    assert _util.transformer_kernels() is not None, "transformer.c did not compile: the C path is untested"

    def build(model, **kw):
        with_c = native_fallback.compile(model, **kw)
        monkeypatch.setenv(compiled.ENV_VAR, "numpy")
        try:
            assert _util.transformer_kernels() is None
            numpy_only = native_fallback.compile(model, **kw)
        finally:
            monkeypatch.delenv(compiled.ENV_VAR)
        return with_c, numpy_only
    return build


def _ulps(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """|got - want| in float32 ulps of ``want`` (want in float64)."""
    spacing = np.spacing(np.abs(want).astype(np.float32)).astype(np.float64)
    return np.abs(got.astype(np.float64) - want) / spacing


SPECIALS = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30, -1e-30, 1e-40, 0.999999, 1.0, 1.000001, 3.9,
                     3.95, 4.0, -7.5, 30.0, 1e30, -1e30], np.float32)


def _one_node(op: str, x: np.ndarray, opset: int = 17, **attrs):
    return make_model([helper.make_node(op, ["x"], ["y"], **attrs)], {"x": x}, ["y"], opset=opset)


# ---- Erf ----------------------------------------------------------------------------------------------


def test_c_erf_within_two_ulp_of_math_erf_on_a_dense_grid(programs) -> None:
    x = np.concatenate([np.linspace(-6, 6, 600_001, dtype=np.float32), SPECIALS,
                        np.float32(1.0) + np.arange(-40, 40, dtype=np.float32) * np.float32(2 ** -23)])
    with_c, numpy_only = programs(_one_node("Erf", x))
    got = with_c.run({"x": x})["y"]
    finite = ~np.isnan(x)
    want = np.array([math.erf(float(v)) for v in x[finite]])
    assert np.isnan(got[~finite]).all()
    ulps = _ulps(got[finite], want)
    assert ulps.max() <= 2.0, f"erf off by {ulps.max():.2f} ulp at x={x[finite][ulps.argmax()]!r}"
    assert np.array_equal(np.signbit(got[x == 0]), np.signbit(x[x == 0]))  # erf(-0) = -0
    # The numpy path (the float64 table) is within half an ulp plus its own rounding: the two agree to 1 ulp.
    assert (_ulps(numpy_only.run({"x": x})["y"][finite], want) <= 1.0).all()


def test_c_erf_on_a_strided_input_and_an_empty_one(programs, rng) -> None:
    x = rng.standard_normal((6, 5, 4)).astype(np.float32) * 2
    model = make_model([helper.make_node("Transpose", ["x"], ["t"], perm=[2, 0, 1]),
                        helper.make_node("Erf", ["t"], ["y"])], {"x": x}, ["y"])
    with_c, numpy_only = programs(model)
    got, ref = with_c.run({"x": x})["y"], numpy_only.run({"x": x})["y"]
    assert got.shape == (4, 6, 5)
    np.testing.assert_allclose(got, ref, rtol=3e-7, atol=1e-7)
    np.testing.assert_allclose(got, ort_run(model, {"x": x})[0], rtol=3e-7, atol=1e-7)
    empty = np.zeros((0, 3), np.float32)
    assert with_c.run({"x": np.zeros((3, 0, 2), np.float32)})["y"].shape == (2, 3, 0)
    assert programs(_one_node("Erf", empty))[0].run({"x": empty})["y"].shape == (0, 3)


def test_float64_oracle_keeps_the_float64_erf(programs) -> None:
    x = np.linspace(-5, 5, 20_001)
    with_c, _ = programs(_one_node("Erf", x.astype(np.float32)), dtype="float64")
    got = with_c.run({"x": x})["y"]
    assert got.dtype == np.float64
    want = np.array([math.erf(v) for v in x])
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-300)
    np.testing.assert_array_equal(got, numpy_erf(x))


# ---- GELU ---------------------------------------------------------------------------------------------

def _exact_gelu(x: np.ndarray) -> np.ndarray:
    return np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x.astype(np.float64).ravel()]).reshape(x.shape)


def _torch_gelu(half_first: bool = False, swapped: bool = False, sqrt2: float = math.sqrt(2), half: float = 0.5,
                one: float = 1.0, scale_by_mul: bool = False) -> tuple[list, dict]:
    """The nodes torch (or, with ``half_first``, Hugging Face's erf GELU) exports for exact GELU."""
    inits = {"sqrt2": np.array(1 / sqrt2 if scale_by_mul else sqrt2, np.float32),
             "one": np.array(one, np.float32), "half": np.array(half, np.float32)}
    scale = helper.make_node("Mul" if scale_by_mul else "Div", ["x", "sqrt2"], ["u"])
    nodes = [scale, helper.make_node("Erf", ["u"], ["e"]),
             helper.make_node("Add", ["one", "e"] if swapped else ["e", "one"], ["a"])]
    if half_first:
        nodes += [helper.make_node("Mul", ["half", "x"] if swapped else ["x", "half"], ["h"]),
                  helper.make_node("Mul", ["a", "h"] if swapped else ["h", "a"], ["y"])]
    else:
        nodes += [helper.make_node("Mul", ["a", "x"] if swapped else ["x", "a"], ["m"]),
                  helper.make_node("Mul", ["half", "m"] if swapped else ["m", "half"], ["y"])]
    return nodes, inits


@pytest.mark.parametrize("form", [dict(), dict(swapped=True), dict(half_first=True),
                                  dict(half_first=True, swapped=True), dict(scale_by_mul=True)],
                         ids=["torch", "torch-swapped", "hf", "hf-swapped", "mul-by-rsqrt2"])
def test_gelu_fusion_fires_on_exported_patterns_and_keeps_the_numbers(programs, rng, form) -> None:
    x = np.concatenate([rng.standard_normal(3000).astype(np.float32) * 4, SPECIALS[np.isfinite(SPECIALS)]])
    nodes, inits = _torch_gelu(**form)
    model = make_model(nodes, {"x": x}, ["y"], inits)
    with_c, numpy_only = programs(model)
    assert [(s.node.op_type, s.node.domain) for s in with_c.steps] == [("Gelu", "ai.facade")]
    want = _exact_gelu(x)
    got = with_c.run({"x": x})["y"]
    np.testing.assert_allclose(got, want, rtol=4e-7, atol=1e-7)
    np.testing.assert_allclose(numpy_only.run({"x": x})["y"], want, rtol=4e-7, atol=1e-7)
    # ORT runs the five float32 nodes: 1 + erf(u) cancels for u < 0, to an error of up to |x| * 3e-8.
    assert (np.abs(got - ort_run(model, {"x": x})[0]) <= 1e-6 * np.abs(want) + 6e-8 * np.abs(x)).all()
    special = np.array([np.nan, -np.inf, np.inf], np.float32)  # GELU(-inf) is NaN as the graph computes it
    np.testing.assert_array_equal(with_c.run({"x": special})["y"], [np.nan, np.nan, np.inf])
    np.testing.assert_array_equal(numpy_only.run({"x": special})["y"], [np.nan, np.nan, np.inf])
    oracle = programs(model, dtype="float64")[0].run({"x": x.astype(np.float64)})["y"]
    # float64 keeps the graph's 1 + erf(u): erf's 2e-15 reaches the result as |x| * 1e-15 where it cancels.
    assert (np.abs(oracle - want) <= 1e-13 * np.abs(want) + 2e-15 * np.abs(x)).all()


@pytest.mark.parametrize("wrong", [dict(sqrt2=1.5), dict(half=0.6), dict(one=2.0), dict(sqrt2=math.sqrt(2) * 1.00001)],
                         ids=["sqrt2", "half", "one", "near-sqrt2"])
def test_gelu_fusion_leaves_a_lookalike_alone(rng, wrong) -> None:
    x = rng.standard_normal(64).astype(np.float32)
    nodes, inits = _torch_gelu(**wrong)
    model = make_model(nodes, {"x": x}, ["y"], inits)
    program = native_fallback.compile(model)
    assert "Erf" in [s.node.op_type for s in program.steps]
    np.testing.assert_allclose(program.run({"x": x})["y"], ort_run(model, {"x": x})[0], rtol=1e-6, atol=1e-7)


def test_gelu_fusion_keeps_an_intermediate_someone_else_reads(rng) -> None:
    x = rng.standard_normal(64).astype(np.float32)
    nodes, inits = _torch_gelu()
    model = make_model(nodes, {"x": x}, ["y", "e"], inits)
    graph = optimizer.fuse_gelu(ir.from_model(model))
    assert "Erf" in [n.op_type for n in graph.nodes]


def test_gelu_fusion_keeps_a_0d_input_0d() -> None:
    """A (1,)-shaped constant broadcasts a 0-d x to shape (1,): unfused, that is the model's answer."""
    nodes, inits = _torch_gelu()
    inits = {k: v.reshape(1) for k, v in inits.items()}
    model = make_model(nodes, {"x": np.float32(0.5).reshape(())}, ["y"], inits)
    graph = ir.from_model(model)
    graph.shapes.pop("x", None)
    assert "Erf" in [n.op_type for n in optimizer.fuse_gelu(graph).nodes]


def test_onnx_gelu_takes_the_c_kernel(programs, rng) -> None:
    x = rng.standard_normal((4, 33)).astype(np.float32) * 3
    with_c, numpy_only = programs(_one_node("Gelu", x, opset=20))
    want = _exact_gelu(x)
    np.testing.assert_allclose(with_c.run({"x": x})["y"], want, rtol=4e-7, atol=1e-7)
    np.testing.assert_allclose(numpy_only.run({"x": x})["y"], want, rtol=4e-7, atol=1e-7)


# ---- LayerNormalization -------------------------------------------------------------------------------

LAYER_NORMS = [  # x shape, axis, scale shape, bias shape (None: no bias), whether C serves it
    ((2, 16, 32), -1, (32,), (32,), True),
    ((2, 16, 32), -2, (16, 32), (16, 32), True),
    ((2, 16, 32), -1, (1, 32), (1, 1, 32), True),
    ((2, 16, 32), -2, (32,), (32,), False),  # scale broadcast within a row
    ((3, 5, 7), 1, (1, 7), (5, 1), False),  # bias broadcast
    ((4, 33), -1, (33,), None, True),
    ((5, 3), 0, (5, 3), (5, 3), True),
]


@pytest.mark.parametrize("case", LAYER_NORMS, ids=[f"{c[0]}ax{c[1]}s{c[2]}b{c[3]}" for c in LAYER_NORMS])
def test_layer_norm_matches_numpy_ort_and_the_oracle(programs, rng, case) -> None:
    shape, axis, sshape, bshape, in_c = case
    x = (rng.standard_normal(shape) * 3 + 100).astype(np.float32)  # a large mean: the variance must not cancel
    inits = {"s": rng.standard_normal(sshape).astype(np.float32)}
    if bshape:
        inits["b"] = rng.standard_normal(bshape).astype(np.float32)
    node = helper.make_node("LayerNormalization", ["x", "s", "b"] if bshape else ["x", "s"], ["y", "mean", "inv"],
                            axis=axis, epsilon=1e-5)
    model = make_model([node], {"x": x}, ["y", "mean", "inv"], inits)
    with_c, numpy_only = programs(model)
    got, ref = with_c.run({"x": x}), numpy_only.run({"x": x})
    oracle = programs(model, dtype="float64")[0].run({"x": x.astype(np.float64)})
    ort = dict(zip(["y", "mean", "inv"], ort_run(model, {"x": x}), strict=True))
    # C normalizes in double; numpy's float32 path takes a float32 mean, off by half an ulp of 100.
    tol = 2e-6 if in_c else 1e-5
    for name in ("y", "mean", "inv"):
        assert got[name].shape == ref[name].shape == ort[name].shape
        np.testing.assert_allclose(got[name], oracle[name], rtol=tol, atol=tol)
        np.testing.assert_allclose(got[name], ref[name], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(got[name], ort[name], rtol=1e-5, atol=1e-5)


def test_layer_norm_on_a_strided_input_with_one_output(programs, rng) -> None:
    x = rng.standard_normal((32, 2, 16)).astype(np.float32)
    inits = {"s": rng.standard_normal(32).astype(np.float32), "b": rng.standard_normal(32).astype(np.float32)}
    model = make_model([helper.make_node("Transpose", ["x"], ["t"], perm=[1, 2, 0]),
                        helper.make_node("LayerNormalization", ["t", "s", "b"], ["y"])], {"x": x}, ["y"], inits)
    with_c, numpy_only = programs(model)
    got = with_c.run({"x": x})["y"]
    np.testing.assert_allclose(got, numpy_only.run({"x": x})["y"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got, ort_run(model, {"x": x})[0], rtol=1e-5, atol=1e-5)
    empty = np.zeros((32, 0, 16), np.float32)
    assert with_c.run({"x": empty})["y"].shape == (0, 16, 32)


def test_layer_norm_nan_stays_in_its_row(programs, rng) -> None:
    x = rng.standard_normal((3, 8)).astype(np.float32)
    x[1, 2] = np.nan
    model = make_model([helper.make_node("LayerNormalization", ["x", "s"], ["y"])], {"x": x}, ["y"],
                       {"s": np.ones(8, np.float32)})
    with_c, numpy_only = programs(model)
    got, ref = with_c.run({"x": x})["y"], numpy_only.run({"x": x})["y"]
    assert np.isnan(got[1]).all() and not np.isnan(got[[0, 2]]).any()
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


# ---- Softmax ------------------------------------------------------------------------------------------

def _masked_scores(rng) -> np.ndarray:
    x = rng.standard_normal((2, 4, 16, 19)).astype(np.float32) * 5
    x[0, 1, :, 3:7] = -np.inf  # padding masked out
    x[1, 2, 5, :] = -np.inf  # a fully masked row: NaN, as the numbers say
    x[1, 3, 2, 4] = np.nan
    x[0, 0, 1, 0] = np.inf
    return x


@pytest.mark.parametrize(("opset", "axis"), [(13, -1), (13, 3), (11, 2), (11, 3), (13, 1)])
def test_softmax_matches_numpy_and_ort_with_masks_and_nan(programs, rng, opset, axis) -> None:
    x = _masked_scores(rng)
    model = _one_node("Softmax", x, opset=opset, axis=axis)
    with_c, numpy_only = programs(model)
    got, ref = with_c.run({"x": x})["y"], numpy_only.run({"x": x})["y"]
    assert np.array_equal(np.isnan(got), np.isnan(ref))
    np.testing.assert_allclose(got, ref, rtol=2e-6, atol=1e-7)
    ort = ort_run(model, {"x": x})[0]
    clean = ~np.isnan(ort) & ~np.isnan(got)
    np.testing.assert_allclose(got[clean], ort[clean], rtol=2e-6, atol=1e-7)
    if (opset, axis) == (13, -1):
        assert np.isnan(got[1, 2, 5]).all() and (got[0, 1, :, 3:7] == 0).all()
        np.testing.assert_allclose(got[0, 1].sum(-1), 1, rtol=1e-6)


def test_softmax_strided_and_empty(programs, rng) -> None:
    x = rng.standard_normal((16, 3, 8)).astype(np.float32)
    model = make_model([helper.make_node("Transpose", ["x"], ["t"], perm=[1, 2, 0]),
                        helper.make_node("Softmax", ["t"], ["y"], axis=-1)], {"x": x}, ["y"], opset=13)
    with_c, numpy_only = programs(model)
    np.testing.assert_allclose(with_c.run({"x": x})["y"], ort_run(model, {"x": x})[0], rtol=2e-6, atol=1e-7)
    np.testing.assert_allclose(with_c.run({"x": x})["y"], numpy_only.run({"x": x})["y"], rtol=2e-6, atol=1e-7)
    assert with_c.run({"x": np.zeros((0, 3, 8), np.float32)})["y"].shape == (3, 8, 0)


# ---- MatMul + bias --------------------------------------------------------------------------------------

def test_matmul_bias_fuses_and_keeps_the_numbers_bit_for_bit(rng) -> None:
    """24 columns go to BLAS (see the small linear tests for C): there the fused node is bit-exact."""
    x = rng.standard_normal((2, 7, 16)).astype(np.float32)
    inits = {"w": rng.standard_normal((16, 24)).astype(np.float32), "b": rng.standard_normal(24).astype(np.float32)}
    model = make_model([helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Add", ["b", "m"], ["y"])],
                       {"x": x}, ["y"], inits)
    fused = native_fallback.compile(model)
    assert [s.node.op_type for s in fused.steps] == ["FusedMatMul"]
    plain = native_fallback.compile(model, optimize=False)
    np.testing.assert_array_equal(fused.run({"x": x})["y"], plain.run({"x": x})["y"])
    np.testing.assert_allclose(fused.run({"x": x})["y"], ort_run(model, {"x": x})[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("bias", ["2-D", "input", "rows", "read-twice"])
def test_matmul_bias_leaves_other_adds_alone(rng, bias) -> None:
    x = rng.standard_normal((3, 16)).astype(np.float32)
    inits = {"w": rng.standard_normal((16, 3)).astype(np.float32)}
    feeds = {"x": x}
    outputs = ["y"]
    if bias == "2-D":
        inits["b"] = rng.standard_normal((1, 3)).astype(np.float32)
    elif bias == "rows":  # as many values as columns, but a (3, 1) column: it broadcasts along rows
        inits["b"] = rng.standard_normal((3, 1)).astype(np.float32)
    elif bias == "input":
        feeds["b"] = rng.standard_normal(3).astype(np.float32)
    else:
        inits["b"] = rng.standard_normal(3).astype(np.float32)
        outputs = ["y", "m"]
    model = make_model([helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Add", ["m", "b"], ["y"])],
                       feeds, outputs, inits)
    program = native_fallback.compile(model)
    assert "FusedMatMul" not in [s.node.op_type for s in program.steps]
    for got, want in zip([program.run(feeds)[o] for o in outputs], ort_run(model, feeds), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


# ---- the exported models ------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "gelus", "linears"), [("transformer_encoder", 2, 6), ("whisper_encoder", 4, 8)])
def test_exported_encoders_fuse_every_gelu_and_bias(programs, name, gelus, linears) -> None:
    """torch's exports of nn.TransformerEncoder and a Whisper encoder: every exact GELU becomes one node
    and every nn.Linear on a 3-D input one FusedMatMul (with the feed-forward's GELU; Whisper's Q, K and V one
    merged layer), and both kernel sets
    still match the oracle."""
    from tests.corpus import registry, store

    failed = store.ensure([registry.lookup(name)])
    if failed:
        pytest.fail(f"corpus model {name} did not build: {failed[name]}")
    built = store.load(name)
    with_c, numpy_only = programs(str(built.path))
    ops = [s.node.op_type for s in with_c.steps]
    in_linear = sum(s.node.attrs.get("activation") == "Gelu" for s in with_c.steps if s.node.op_type == "FusedMatMul")
    assert "Erf" not in ops and ops.count("Gelu") + in_linear == gelus and ops.count("FusedMatMul") == linears
    assert in_linear == 2  # the feed-forward's GELU of each layer joins its first linear layer
    for program in (with_c, numpy_only):
        for out, value in program.run(built.feeds).items():
            np.testing.assert_allclose(value, built.oracle[out], rtol=1e-4, atol=1e-4)


def test_matmul_bias_gelu_is_one_step(programs, rng) -> None:
    x = rng.standard_normal((2, 5, 16)).astype(np.float32)
    nodes, inits = _torch_gelu()
    nodes = [helper.make_node("MatMul", ["h", "w"], ["mm"]), helper.make_node("Add", ["mm", "b"], ["x"]), *nodes]
    inits.update(w=rng.standard_normal((16, 32)).astype(np.float32) * 2, b=rng.standard_normal(32).astype(np.float32))
    model = make_model(nodes, {"h": x}, ["y"], inits)
    with_c, numpy_only = programs(model)
    assert [(s.node.op_type, s.node.attrs.get("activation")) for s in with_c.steps] == [("FusedMatMul", "Gelu")]
    want = ort_run(model, {"h": x})[0]
    for program in (with_c, numpy_only):
        np.testing.assert_allclose(program.run({"h": x})["y"], want, rtol=1e-5, atol=1e-6)


# ---- small linear layers in C -------------------------------------------------------------------------

LINEARS = [((2, 16, 32), (32, 96), True), ((32, 32), (32, 32), True), ((1, 32, 64), (64, 32), True),
           ((2, 7, 16), (16, 24), False),  # 24 columns: not whole vectors, BLAS
           ((4, 128, 64), (64, 64), False)]  # 2M products: BLAS


@pytest.mark.parametrize(("xs", "ws", "in_c"), LINEARS, ids=[f"{x}x{w}" for x, w, _ in LINEARS])
@pytest.mark.parametrize("bias", [True, False])
def test_small_linear_layers_match_blas_and_ort(programs, rng, xs, ws, in_c, bias) -> None:
    x = rng.standard_normal(xs).astype(np.float32)
    inits = {"w": rng.standard_normal(ws).astype(np.float32), "b": rng.standard_normal(ws[1]).astype(np.float32)}
    nodes = [helper.make_node("Transpose", ["x"], ["t"], perm=[1, 0, *range(2, x.ndim)]),  # a strided input
             helper.make_node("MatMul", ["t", "w"], ["m" if bias else "y"])]
    if bias:
        nodes.append(helper.make_node("Add", ["m", "b"], ["y"]))
    else:
        del inits["b"]
    model = make_model(nodes, {"x": x}, ["y"], inits)
    with_c, numpy_only = programs(model)
    linear = [s for s in with_c.steps if s.node.op_type in ("MatMul", "FusedMatMul")]
    assert len(linear) == 1 and linear[0].node.op_type == ("FusedMatMul" if bias else "MatMul")
    assert (_util.transformer_kernels() is not None) and in_c == (ws[1] % 16 == 0 and x.size * ws[1] <= 1 << 17)
    got, want = with_c.run({"x": x})["y"], numpy_only.run({"x": x})["y"]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got, ort_run(model, {"x": x})[0], rtol=1e-5, atol=1e-5)


def test_small_linear_rereads_a_weight_fed_at_run_time(programs, rng) -> None:
    """Addresses are remembered for arrays that come back as the same objects (a node's constants): a fed
    weight changed in place between runs must be read anew, strided (copied) or not."""
    x = rng.standard_normal((8, 32)).astype(np.float32)
    model = make_model([helper.make_node("MatMul", ["x", "w"], ["y"])],
                       {"x": x, "w": np.zeros((32, 16), np.float32)}, ["y"])
    with_c, _ = programs(model)
    for w in (rng.standard_normal((32, 16)).astype(np.float32), rng.standard_normal((16, 32)).astype(np.float32).T):
        for _ in range(2):
            np.testing.assert_allclose(with_c.run({"x": x, "w": w})["y"], x @ w, rtol=1e-5, atol=1e-5)
            w *= 2  # the same object, new values



def _projections(rng, x: np.ndarray, biased: tuple[bool, ...], gelu_last: bool = False):
    """Linear layers that all read x (Whisper's Q, K, V: K without a bias), as exported."""
    nodes, inits, outputs = [], {}, []
    for k, has_bias in enumerate(biased):
        inits[f"w{k}"] = rng.standard_normal((x.shape[-1], 32)).astype(np.float32)
        nodes.append(helper.make_node("MatMul", ["x", f"w{k}"], [f"m{k}" if has_bias else f"y{k}"]))
        if has_bias:
            inits[f"b{k}"] = rng.standard_normal(32).astype(np.float32)
            nodes.append(helper.make_node("Add", [f"m{k}", f"b{k}"], [f"y{k}"]))
        outputs.append(f"y{k}")
    if gelu_last:
        gelu, gelu_inits = _torch_gelu()
        for node in gelu:
            node.input[:] = [f"y{len(biased) - 1}" if i == "x" else i for i in node.input]
            node.output[:] = ["g" if o == "y" else f"g_{o}" for o in node.output]
            node.input[:] = [f"g_{i}" if i in ("u", "e", "a", "m", "h") else i for i in node.input]
        nodes += gelu
        inits.update(gelu_inits)
        outputs[-1] = "g"
    return make_model(nodes, {"x": x}, outputs, inits), outputs


def test_projections_of_one_input_become_one_linear_with_the_same_values(programs, rng) -> None:
    x = rng.standard_normal((1, 32, 32)).astype(np.float32)
    model, outputs = _projections(rng, x, (True, False, True))
    with_c, numpy_only = programs(model)
    assert [s.node.op_type for s in with_c.steps] == ["FusedMatMul", "SplitColumns"]
    separate = native_fallback.compile(model, optimize=False).run({"x": x})
    ort = ort_run(model, {"x": x})
    for k, name in enumerate(outputs):
        got = with_c.run({"x": x})[name]
        assert got.shape == (1, 32, 32)
        np.testing.assert_allclose(got, separate[name], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(got, ort[k], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(numpy_only.run({"x": x})[name], ort[k], rtol=1e-5, atol=1e-5)


def test_a_linear_with_its_gelu_is_not_merged(programs, rng) -> None:
    x = rng.standard_normal((2, 5, 16)).astype(np.float32)
    model, outputs = _projections(rng, x, (True, True), gelu_last=True)
    with_c, _ = programs(model)
    steps = [(s.node.op_type, s.node.attrs.get("activation")) for s in with_c.steps]
    assert sorted(steps, key=str) == sorted([("FusedMatMul", None), ("FusedMatMul", "Gelu")], key=str)
    for got, want in zip([with_c.run({"x": x})[n] for n in outputs], ort_run(model, {"x": x}), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
