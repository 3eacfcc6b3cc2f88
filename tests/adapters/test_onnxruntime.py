"""ONNX Runtime's accelerator units are checked where they really ran and whether their numbers hold."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import facade
from facade.policy import load_policy, resolve_policy
from facade.zoo import small as models

ROOT = Path(__file__).resolve().parents[2]


def test_qnn_htp_placement_is_verified_and_reported():
    with facade.Session(models.conv_relu(), target="onnxruntime:qnn-htp") as s:
        notes = " ".join(s.explain().entry("onnxruntime:qnn-htp").notes)
        x = np.random.default_rng(0).standard_normal((1, 3, 8, 8)).astype(np.float32)
        y = s.run({"x": x})["y"]
    assert "every kernel ran on QNNExecutionProvider" in notes
    assert "outputs verified against the CPU" in notes
    np.testing.assert_allclose(y, facade.Session(models.conv_relu(), target="onnxruntime:cpu").run({"x": x})["y"],
                               rtol=1e-4, atol=1e-4)


def test_a_silent_fallback_to_the_cpu_is_refused():
    """QNN needs static shapes: with a dynamic batch ORT would run every node on the CPU."""
    with pytest.raises(facade.TargetUnavailableError, match="placed no node on QNNExecutionProvider"):
        facade.Session(models.conv_relu(batch="N"), target="onnxruntime:qnn-htp")


def test_qnn_fp16_mode_leaking_into_later_fp32_sessions_is_caught():
    """Measured here: after one fp16 session, QNN HTP computes later "fp32" sessions in fp16 too."""
    code = """
import facade
from facade.zoo import light_model
model = light_model("squeezenet")
facade.Session(model, target="onnxruntime:qnn-htp").close()
policy = {"targets": {"onnxruntime:qnn-htp": {"engine": {"soc_model": "60"}}}}
facade.Session(model, target="onnxruntime:qnn-htp", precision="fp16", policy=policy).close()
try:
    facade.Session(model, target="onnxruntime:qnn-htp")
except facade.TargetUnavailableError as e:
    print("REFUSED", e)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=ROOT,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "REFUSED" in done.stdout and "keeps for the rest of the process" in done.stdout


def htp_fp32_gaps() -> onnx.ModelProto:
    """Conv, Gelu, Conv, HardSigmoid at the installed onnx's defaults (IR version, opset 20).

    Measured on QNN 2.51's simulator: HTP has float32 kernels for Conv but not for
    Gelu or HardSigmoid, whose graphs then fail to finalize with MEM_ALLOC.
    """
    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array((rng.standard_normal((8, 3, 3, 3)) * 0.3).astype(np.float32), "w1")
    w2 = numpy_helper.from_array((rng.standard_normal((8, 8, 1, 1)) * 0.3).astype(np.float32), "w2")
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
             helper.make_node("Gelu", ["c1"], ["g"], name="act"),
             helper.make_node("Conv", ["g", "w2"], ["c2"], name="conv2"),
             helper.make_node("HardSigmoid", ["c2"], ["y"], name="gate")]
    graph = helper.make_graph(nodes, "htp_fp32_gaps", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 8, 8])], [w1, w2])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    onnx.checker.check_model(model)
    return model


def erf_gelu() -> onnx.ModelProto:
    """GELU as torch's legacy exporter writes it below opset 20: x * 0.5 * (1 + erf(x / sqrt(2))), after a Conv.

    Each node has an HTP float32 kernel, but the QNN EP fuses the five into Gelu, which has none.
    """
    w = numpy_helper.from_array((np.random.default_rng(0).standard_normal((4, 3, 3, 3)) * 0.3).astype(np.float32), "w")
    consts = [numpy_helper.from_array(np.array(v, np.float32), n) for n, v in
              (("sqrt2", 1.4142135), ("one", 1.0), ("half", 0.5))]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Div", ["c", "sqrt2"], ["d"], name="gelu/div"),
             helper.make_node("Erf", ["d"], ["e"], name="gelu/erf"),
             helper.make_node("Add", ["e", "one"], ["a"], name="gelu/add"),
             helper.make_node("Mul", ["c", "a"], ["m"], name="gelu/mul"),
             helper.make_node("Mul", ["m", "half"], ["y"], name="gelu/mul_1")]
    graph = helper.make_graph(nodes, "erf_gelu", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])], [w, *consts])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model


def batch_broadcast_layer_norm(batch: int = 2) -> onnx.ModelProto:
    """BERT's embeddings in small: ``x[batch, 16, 32] + position[1, 16, 32]``, then LayerNormalization.

    Measured: as it stands HTP computes it wrong in fp16 at batch 2 (right at batch 1)
    and fails to finalize it in float32 (see adapters/qnn_rewrites.py).
    """
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array((rng.standard_normal((1, 16, 32)) * 0.1).astype(np.float32), "position"),
             numpy_helper.from_array(np.ones(32, np.float32), "scale"),
             numpy_helper.from_array(np.zeros(32, np.float32), "bias")]
    nodes = [helper.make_node("Add", ["x", "position"], ["a"], name="embed/add"),
             helper.make_node("LayerNormalization", ["a", "scale", "bias"], ["y"], axis=-1, epsilon=1e-12,
                              name="embed/norm")]
    graph = helper.make_graph(nodes, "batch_broadcast_layer_norm",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 16, 32])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 16, 32])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model


def _child(code: str) -> str:
    """Run ``code`` in a fresh interpreter (QNN's fp16 mode outlives sessions); return its stdout."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=ROOT,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_htp_names_the_operators_it_has_no_float32_kernel_for():
    """QNN_COMMON_ERROR_MEM_ALLOC at finalization is a missing fp32 kernel: the refusal names the nodes,
    single ones, else the run of nodes the EP fused."""
    out = _child("""
import facade
from tests.adapters.test_onnxruntime import erf_gelu, htp_fp32_gaps
for model in (htp_fp32_gaps(), erf_gelu()):
    try:
        facade.Session(model, target="onnxruntime:qnn-htp", allow_fallback=False)
    except facade.UnsupportedModelError as e:
        print("REFUSED", e)
""")
    single, fused = [line for line in out.splitlines() if line.startswith("REFUSED")]
    assert single.startswith("REFUSED onnxruntime:qnn-htp | QNN HTP cannot finalize Gelu (node 'act'), "
                             "HardSigmoid (node 'gate') in float32: each fails alone")
    assert "Conv" not in single.split("Received")[0]  # Conv has an fp32 kernel: not blamed
    assert "Expected: precision='fp16'" in single and "ONNX Runtime said:" in single
    assert fused.startswith("REFUSED onnxruntime:qnn-htp | QNN HTP cannot finalize Div -> Erf -> Add -> Mul -> Mul "
                            "(nodes 'gelu/div' to 'gelu/mul_1', the erf form of GELU) in float32: each of these "
                            "nodes finalizes alone, but the QNN EP fuses them")


def test_htp_fp16_gets_a_default_soc_model_that_a_policy_overrides():
    """On the simulator fp16 needs a soc_model; the same model then runs and agrees with the CPU."""
    out = _child("""
import json
import numpy as np
import facade
from tests.adapters.test_onnxruntime import htp_fp32_gaps
model = htp_fp32_gaps()
x = np.random.default_rng(1).standard_normal((1, 3, 8, 8)).astype(np.float32)
ref = facade.Session(model, target="onnxruntime:cpu").run({"x": x})["y"]
with facade.Session(model, target="onnxruntime:qnn-htp", precision="fp16", allow_fallback=False) as s:
    y = s.run({"x": x})["y"]
    default = {"precision": s.precision, "notes": s.explain().entry("onnxruntime:qnn-htp").notes,
               "error": float(np.abs(y - ref).max() / np.abs(ref).max())}
policy = {"targets": {"onnxruntime:qnn-htp": {"engine": {"soc_model": 57}}}}
with facade.Session(model, target="onnxruntime:qnn-htp", precision="fp16", policy=policy) as s:
    y = s.run({"x": x})["y"]
    chosen = {"notes": s.explain().entry("onnxruntime:qnn-htp").notes,
              "error": float(np.abs(y - ref).max() / np.abs(ref).max())}
print(json.dumps({"default": default, "chosen": chosen}))
""")
    result = json.loads(out.strip().splitlines()[-1])
    default, chosen = result["default"], result["chosen"]
    assert default["precision"] == "fp16"
    assert any(n.startswith("soc_model 60 (SC8380XP, HTP v73) by default") for n in default["notes"])
    assert any("every kernel ran on QNNExecutionProvider" in n for n in default["notes"])
    assert 0 < default["error"] < 1e-2  # fp16, not a CPU run: measured 1e-3
    assert "QNN provider options from engine options: soc_model=57" in chosen["notes"]
    assert not any("by default" in n for n in chosen["notes"]) and 0 < chosen["error"] < 1e-2


def test_a_policy_with_a_misspelt_qnn_option_is_refused_with_its_line(tmp_path):
    path = tmp_path / "facade.toml"
    path.write_text('[targets."onnxruntime:qnn-*"]\nthreads = 1\nengine = { soc_modle = "57" }\n')
    with pytest.raises(facade.PolicyError, match=r"facade.toml:3 \| Unknown QNN provider option 'soc_modle'.*"
                                                 r"Did you mean 'soc_model'"):
        load_policy(path)


@pytest.mark.parametrize(("engine", "message"), [
    ({"soc_model": "SM8650"}, "needs a non-negative integer"),
    ({"enable_htp_fp16_precision": True}, "is set by facade"),
    ({"htp_graph_finalization_optimization_mode": 5}, "Invalid value"),
])
def test_qnn_options_are_checked_by_kind(engine, message):
    with pytest.raises(facade.PolicyError, match=message):
        resolve_policy({"targets": {"onnxruntime:*": {"engine": engine}}})


def test_options_of_units_that_ignore_them_are_not_checked():
    resolve_policy({"targets": {"onnxruntime:cpu": {"engine": {"anything": 1}}}})


def _one_node(op: str, in_type: int, out_type: int, shape: list[int], opset: int = 23, **attrs) -> onnx.ModelProto:
    """One node from ``x`` to ``y`` at the installed onnx's default IR version (opset 23: float4/int4 types;
    float8e8m0 needs 24, where Cast first takes it: facade's intake refuses a type the schema does not allow)."""
    graph = helper.make_graph([helper.make_node(op, ["x"], ["y"], **attrs)], f"{op.lower()}_{in_type}",
                              [helper.make_tensor_value_info("x", in_type, shape)],
                              [helper.make_tensor_value_info("y", out_type, shape)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    return model


# ml_dtypes types ONNX Runtime has tensors of, with values each represents exactly.
ML_DTYPES = {
    TensorProto.BFLOAT16: [0.5, -1.25, 3.0e38, 1.0e-38, 7.0],
    TensorProto.FLOAT8E4M3FN: [0.5, -1.25, 448.0, -0.015625, 7.0],
    TensorProto.FLOAT8E4M3FNUZ: [0.5, -1.25, 240.0, -0.0078125, 7.0],
    TensorProto.FLOAT8E5M2: [0.5, -1.25, 57344.0, -0.0000152587890625, 7.0],
    TensorProto.FLOAT8E5M2FNUZ: [0.5, -1.25, 57344.0, -0.0000076293945, 7.0],
    TensorProto.INT4: [1, -2, 7, -8, 0],
    TensorProto.UINT4: [1, 2, 15, 0, 9],
}


@pytest.mark.parametrize("onnx_type", list(ML_DTYPES), ids=lambda t: TensorProto.DataType.Name(t))
def test_ml_dtypes_feeds_reach_onnx_runtime_and_cast_exactly(onnx_type):
    dtype = helper.tensor_dtype_to_np_dtype(onnx_type)
    x = np.array(ML_DTYPES[onnx_type], dtype=np.float32).astype(dtype).reshape(1, 5)  # odd size: packed int4 pads
    with facade.Session(_one_node("Cast", onnx_type, TensorProto.FLOAT, [1, 5], to=TensorProto.FLOAT),
                        target="onnxruntime:cpu") as s:
        y = s.run({"x": x})["y"]
    np.testing.assert_array_equal(y, x.astype(np.float32))


@pytest.mark.parametrize("onnx_type", [t for t in ML_DTYPES if t not in (TensorProto.INT4, TensorProto.UINT4)],
                         ids=lambda t: TensorProto.DataType.Name(t))
def test_ml_dtypes_outputs_come_back_as_their_type(onnx_type):
    """Identity keeps the type: the output is read back as ml_dtypes bits, not numpy's nearest dtype."""
    dtype = helper.tensor_dtype_to_np_dtype(onnx_type)
    x = np.array(ML_DTYPES[onnx_type], dtype=np.float32).astype(dtype).reshape(5, 1)
    with facade.Session(_one_node("Identity", onnx_type, onnx_type, [5, 1]), target="onnxruntime:cpu") as s:
        y = s.run({"x": x})["y"]
    assert y.dtype == dtype and y.shape == (5, 1)
    np.testing.assert_array_equal(y.view(np.uint8), x.view(np.uint8))


def test_a_float_output_cast_to_bfloat16_is_rounded_by_onnx_runtime():
    x = np.array([[1.0, 1.00390625, -3.3, 65504.0]], np.float32)
    with facade.Session(_one_node("Cast", TensorProto.FLOAT, TensorProto.BFLOAT16, [1, 4], to=TensorProto.BFLOAT16),
                        target="onnxruntime:cpu") as s:
        y = s.run({"x": x})["y"]
    import ml_dtypes

    assert y.dtype == ml_dtypes.bfloat16
    np.testing.assert_array_equal(y.astype(np.float32), x.astype(ml_dtypes.bfloat16).astype(np.float32))


@pytest.mark.parametrize(("onnx_type", "name"), [(TensorProto.FLOAT4E2M1, "float4_e2m1fn"),
                                                 (TensorProto.FLOAT8E8M0, "float8_e8m0fnu")])
def test_types_onnx_runtime_has_no_tensor_of_are_refused_by_name(onnx_type, name):
    model = _one_node("Cast", onnx_type, TensorProto.FLOAT, [4], opset=24 if onnx_type == TensorProto.FLOAT8E8M0 else 23,
                      to=TensorProto.FLOAT)
    with pytest.raises(facade.UnsupportedModelError,
                       match=rf"onnxruntime:cpu \| input 'x' is {name}; ONNX Runtime has no tensor type for it"):
        facade.Session(model, target="onnxruntime:cpu", allow_fallback=False)


def test_htp_gets_a_batch_broadcast_add_before_layer_norm_right_once_expanded():
    """Measured: HTP computes ``x[2,16,32] + p[1,16,32] -> LayerNorm`` wrong; with ``p`` expanded it is right."""
    out = _child("""
import json
import numpy as np
import facade
from tests.adapters.test_onnxruntime import batch_broadcast_layer_norm
result = {}
for batch in (1, 2):
    model = batch_broadcast_layer_norm(batch)
    x = np.random.default_rng(batch).standard_normal((batch, 16, 32)).astype(np.float32)
    ref = facade.Session(model, target="onnxruntime:cpu").run({"x": x})["y"]
    with facade.Session(model, target="onnxruntime:qnn-htp", precision="fp16", allow_fallback=False) as s:
        y = s.run({"x": x})["y"]
        result[batch] = {"notes": s.explain().entry("onnxruntime:qnn-htp").notes,
                         "error": float(np.abs(y - ref).max() / np.abs(ref).max())}
print(json.dumps(result))
""")
    result = json.loads(out.strip().splitlines()[-1])
    assert not any("expanded" in n for n in result["1"]["notes"])
    assert any(n.startswith("expanded the batch-broadcast operand of 1 Add(s) feeding LayerNormalization (embed/add)")
               for n in result["2"]["notes"])
    assert 0 < result["1"]["error"] < 1e-2 and 0 < result["2"]["error"] < 1e-2  # unexpanded batch 2: 0.14


def test_the_node_search_keeps_only_the_nodes_a_failure_needs():
    """Graph order interleaves branches: a failure of nodes 3 and 5 is reported without node 4 between them."""
    from facade.adapters.qnn_finalize import smallest_bad

    assert smallest_bad(10, lambda kept: {3, 5} <= set(kept)) == [3, 5]
    assert smallest_bad(10, lambda kept: 7 in kept) == [7]
    assert smallest_bad(10, lambda kept: False) is None


def test_a_diverging_run_that_holds_a_value_beyond_fp16_says_so():
    """transformers' masks use float32's minimum; the refusal names the tensor that fp16 cannot hold."""
    out = _child("""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
import facade
fill = numpy_helper.from_array(np.array(-3.4e38, np.float32), "fill")
nodes = [helper.make_node("Less", ["x", "zero"], ["masked"], name="mask"),
         helper.make_node("Where", ["masked", "fill", "x"], ["y"], name="where")]
graph = helper.make_graph(nodes, "mask_fill", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8])],
                          [fill, numpy_helper.from_array(np.array(0.0, np.float32), "zero")])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
try:
    facade.Session(model, target="onnxruntime:qnn-htp", precision="fp16", allow_fallback=False)
    print("RAN")
except facade.TargetUnavailableError as e:
    print("REFUSED", e)
""")
    line = next(line for line in out.splitlines() if line.startswith(("RAN", "REFUSED")))
    assert line.startswith("REFUSED onnxruntime:qnn-htp | outputs diverge from ONNX Runtime on the CPU")
    assert "'fill' holds -3.4e+38, beyond fp16's range" in line


def test_the_batch_broadcast_rewrite_keeps_the_model_s_answer():
    """The Expand facade inserts for HTP changes nothing on the CPU; batch 1 models are left alone."""
    import onnxruntime as ort

    from facade.adapters.qnn_rewrites import expand_batch_broadcasts

    model = batch_broadcast_layer_norm(2)
    rewritten, names = expand_batch_broadcasts(model)
    assert names == ["embed/add"] and [n.op_type for n in rewritten.graph.node] == ["Expand", "Add",
                                                                                   "LayerNormalization"]
    x = np.random.default_rng(0).standard_normal((2, 16, 32)).astype(np.float32)
    before, after = (ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
                     for m in (model, rewritten))
    np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-5)  # ORT's CPU fuses the two forms differently
    assert expand_batch_broadcasts(batch_broadcast_layer_norm(1))[1] == []
