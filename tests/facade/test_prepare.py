"""Model preparation before converters: models saved with the installed onnx's defaults convert, each
step is checked by ONNX Runtime and recorded, and ``FACADE_PREPARE=0`` turns it off (a separate cache entry)."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import facade
from facade.convert import cache, get_converter, prepare
from facade.convert.prepare import Limits, Step
from facade.devices import devices
from facade.errors import ConversionError
from facade.inputs import seeded_feeds
from facade.model import load_model
from facade.router import target_availability


def default_ir_cnn(batch: int = 1, seed: int = 0) -> onnx.ModelProto:
    """A small CNN saved as a user of the installed onnx would: ``make_model`` with no IR version or opset set."""
    rng = np.random.default_rng(seed)
    w = numpy_helper.from_array(rng.standard_normal((8, 3, 3, 3)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.standard_normal(8).astype(np.float32), "b")
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("GlobalAveragePool", ["r"], ["g"], name="pool"),
             helper.make_node("Flatten", ["g"], ["y"], name="flatten")]
    graph = helper.make_graph(nodes, "default_ir_cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                                      [batch, 3, 16, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 8])], [w, b])
    return helper.make_model(graph)


def _ort(proto: onnx.ModelProto, feeds: dict) -> list[np.ndarray]:
    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)


def test_the_test_model_has_the_installed_onnx_defaults():
    proto = default_ir_cnn()
    assert proto.ir_version == onnx.IR_VERSION
    assert proto.ir_version > get_converter("pnnx").max_ir_version, "the case this file is about"


@pytest.mark.parametrize("target", ["ncnn:cpu", "mnn:cpu", "litert:cpu"])
def test_a_model_saved_with_onnx_defaults_converts_and_agrees(target):
    engine = target.split(":")[0]
    avail, _, _ = target_availability(target, devices())
    if not avail:
        pytest.skip(f"{target}: {avail.reason}")
    proto = default_ir_cnn(seed=1)
    with facade.Session(proto, target=target, allow_fallback=False) as sess:
        feeds = seeded_feeds(sess.inputs, 5)
        got = sess.run(feeds)["y"]
        notes = sess.explain().entry(target).notes
    want = _ort(proto, feeds)[0]
    assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()
    assert any(n.startswith("prepared: ") for n in notes), notes
    if engine == "ncnn":
        assert any(f"ir_version: {onnx.IR_VERSION} -> 13" in n for n in notes), notes


def test_pnnx_limits_bring_ir_and_opset_down_with_the_numbers_kept():
    proto = default_ir_cnn()
    prepared = prepare.prepare(proto, get_converter("pnnx").limits())
    assert prepared.proto.ir_version == 13
    assert prepared.proto.opset_import[0].version <= 26
    applied = {s.name for s in prepared.steps if s.applied}
    assert {"ir_version", "opset", "simplify"} <= applied, prepared.steps
    feeds = seeded_feeds(load_model(proto).inputs)
    np.testing.assert_allclose(_ort(prepared.proto, feeds)[0], _ort(proto, feeds)[0], rtol=1e-6, atol=1e-6)


def test_static_shapes_fix_dynamic_dims_and_keep_a_batch_of_two():
    proto = default_ir_cnn(batch=2)
    proto.graph.input[0].type.tensor_type.shape.dim[2].dim_param = "h"  # one dynamic dim among static ones
    prepared = prepare.prepare(proto, Limits(static_shapes=True))
    dims = [d.dim_value for d in prepared.proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [2, 3, 1, 16]
    assert any(s.name == "static_shapes" and s.applied and "1 dynamic" in s.detail for s in prepared.steps)


def _fp16_weights(proto: onnx.ModelProto, limits: Limits):
    """A real transformation that changes the numbers: weights rounded to float16 and back."""
    out = onnx.ModelProto()
    out.CopyFrom(proto)
    for t in out.graph.initializer:
        arr = numpy_helper.to_array(t)
        t.CopyFrom(numpy_helper.from_array((arr * 1000).astype(np.float16).astype(np.float32), t.name))
    return out, "weights rounded to fp16"


def test_a_step_that_changes_the_numbers_is_dropped_with_the_reason(monkeypatch):
    monkeypatch.setattr(prepare, "STEPS", (("fp16_weights", _fp16_weights), *prepare.STEPS))
    proto = default_ir_cnn()
    prepared = prepare.prepare(proto, Limits())
    dropped = [s for s in prepared.steps if s.name == "fp16_weights"]
    assert dropped and not dropped[0].applied
    assert "changed by" in dropped[0].detail and "tolerance 0.0001" in dropped[0].detail
    w = {t.name: numpy_helper.to_array(t) for t in prepared.proto.graph.initializer}["w"]
    assert np.array_equal(w, numpy_helper.to_array(proto.graph.initializer[0]))


def test_the_switch_turns_preparation_off_and_is_part_of_the_cache_key(monkeypatch):
    limits = get_converter("pnnx").limits()
    on = prepare.stamp(limits)
    monkeypatch.setenv(prepare.ENV, "0")
    assert not prepare.enabled()
    off = prepare.prepare(default_ir_cnn(), limits)
    assert off.enabled is False and off.steps == [] and off.proto.ir_version == onnx.IR_VERSION
    assert prepare.stamp(limits) != on
    assert cache.cache_key("m", "pnnx", "1", {}, prepare.stamp(limits)) != cache.cache_key("m", "pnnx", "1", {}, on)
    monkeypatch.setenv(prepare.ENV, "maybe")
    with pytest.raises(ConversionError, match="FACADE_PREPARE"):
        prepare.enabled()


@pytest.mark.skipif(not get_converter("mnnconvert").available(), reason="MNN's converter is not installed")
def test_toggling_the_switch_never_reuses_the_other_artifact(monkeypatch):
    model = load_model(default_ir_cnn(seed=7))
    conv = get_converter("mnnconvert")
    prepared = cache.obtain(model, conv, {})
    assert prepared.manifest["prepared"] is True
    monkeypatch.setenv(prepare.ENV, "0")
    assert cache.lookup(model, conv, {}) is None
    plain = cache.obtain(model, conv, {})
    assert plain.key != prepared.key and plain.manifest["prepared"] is False
    assert plain.preparation == "prepared: off (FACADE_PREPARE=0)"


def test_steps_read_as_one_line_for_explain():
    record = [{"name": "ir_version", "applied": True, "detail": "14 -> 13"},
              {"name": "simplify", "applied": False, "detail": "failed: boom"}]
    assert prepare.describe(record) == "prepared: ir_version: 14 -> 13; simplify dropped: failed: boom"
    assert str(Step("opset", True, "28 -> 26")) == "opset: 28 -> 26"


def _ids_and_isnan() -> onnx.ModelProto:
    """Token ids (int64) into a table, then the NaN guard transformers' attention masks use (Where(IsNaN(x), 0, x))."""
    rng = np.random.default_rng(2)
    table = numpy_helper.from_array(rng.standard_normal((6, 4)).astype(np.float32), "table")
    zero = numpy_helper.from_array(np.zeros((), np.float32), "zero")
    nodes = [helper.make_node("Gather", ["table", "ids"], ["e"], name="/emb/Gather"),
             helper.make_node("Mul", ["e", "x"], ["m"], name="/mul"),
             helper.make_node("IsNaN", ["m"], ["nan"], name="/mask/IsNaN"),
             helper.make_node("Where", ["nan", "zero", "m"], ["y"], name="/mask/Where")]
    graph = helper.make_graph(nodes, "ids_and_isnan", [helper.make_tensor_value_info("ids", TensorProto.INT64, [2, 8]),
                                                       helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 8, 4])], [table, zero])
    return helper.make_model(graph)


def test_isnan_is_lowered_exactly_for_converters_that_lack_it():
    proto = _ids_and_isnan()
    prepared = prepare.prepare(proto, get_converter("mnnconvert").limits())
    assert "IsNaN" not in {n.op_type for n in prepared.proto.graph.node}
    assert any(s.name == "lower" and s.applied and "1 IsNaN rewritten" in s.detail for s in prepared.steps)
    x = np.random.default_rng(0).standard_normal((2, 8, 4)).astype(np.float32)
    x[0, :3] = np.nan  # the values seeded checks never see
    feeds = {"ids": np.arange(16, dtype=np.int64).reshape(2, 8) % 6, "x": x}
    np.testing.assert_array_equal(_ort(prepared.proto, feeds)[0], _ort(proto, feeds)[0])
    assert prepare.prepare(proto, Limits()).proto.graph.node[2].op_type == "IsNaN"  # only where asked


def test_mnn_takes_int64_ids_and_a_lowered_isnan():
    avail, _, _ = target_availability("mnn:cpu", devices())
    if not avail:
        pytest.skip(f"mnn:cpu: {avail.reason}")
    proto = _ids_and_isnan()
    with facade.Session(proto, target="mnn:cpu", allow_fallback=False) as sess:
        feeds = {"ids": np.array([[0, 1, 2, 3, 4, 5, 0, 1]] * 2, np.int64),
                 "x": np.random.default_rng(1).standard_normal((2, 8, 4)).astype(np.float32)}
        got = sess.run(feeds)["y"]
    np.testing.assert_allclose(got, _ort(proto, feeds)[0], rtol=1e-5, atol=1e-6)


def test_an_opset_20_gelu_is_lowered_to_its_erf_definition_for_mnn():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8])
    nodes = [helper.make_node("Gelu", ["x"], ["y"], name="/exact"),
             helper.make_node("Gelu", ["y"], ["z"], approximate="tanh", name="/tanh")]
    graph = helper.make_graph(nodes, "gelus", [x], [helper.make_tensor_value_info("z", TensorProto.FLOAT, [2, 8])])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    prepared = prepare.prepare(proto, get_converter("mnnconvert").limits())
    ops = [n.op_type for n in prepared.proto.graph.node]
    assert "Erf" in ops and ops.count("Gelu") == 1, ops  # the tanh form is not the Erf definition: kept
    assert any(s.name == "lower" and s.detail == "1 Gelu rewritten" for s in prepared.steps), prepared.steps
    feeds = {"x": np.linspace(-6, 6, 16, dtype=np.float32).reshape(2, 8)}
    np.testing.assert_allclose(_ort(prepared.proto, feeds)[0], _ort(proto, feeds)[0], rtol=1e-6, atol=1e-7)
