"""Converter failures told by their cause (never by a signal first), with the raw log kept, and a cached
refusal still listed, with its reason, by explain and bench."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from facade.cli import main
from facade.convert import cache, causes, get_converter, prepare
from facade.devices import devices
from facade.errors import ConversionError
from facade.model import load_model
from facade.router import plan, target_availability
from facade.trace import FAILED
from tests.facade.test_prepare import default_ir_cnn

pnnx = pytest.mark.skipif(not get_converter("pnnx").available(), reason="pnnx not installed")


def _raw_log(message: str) -> Path:
    path = Path(re.search(r"raw log: (\S+?)\.?(?:\s|$)", message).group(1))
    assert path.is_file(), message
    return path


def _int_mask_model() -> onnx.ModelProto:
    """Token ids and an int64 attention mask made float, as BERT exports do: a Cast pnnx cannot lower for ncnn."""
    rng = np.random.default_rng(0)
    table = numpy_helper.from_array(rng.standard_normal((10, 16)).astype(np.float32), "table")
    axis = numpy_helper.from_array(np.array([-1], np.int64), "axis")
    nodes = [helper.make_node("Gather", ["table", "ids"], ["emb"], name="/embeddings/Gather"),
             helper.make_node("Cast", ["mask"], ["maskf"], to=TensorProto.FLOAT, name="/m/Cast_3"),
             helper.make_node("Unsqueeze", ["maskf", "axis"], ["masku"], name="/m/Unsqueeze"),
             helper.make_node("Mul", ["emb", "masku"], ["y"], name="/m/Mul")]
    graph = helper.make_graph(nodes, "int_mask", [helper.make_tensor_value_info("ids", TensorProto.INT64, [1, 8]),
                                                   helper.make_tensor_value_info("mask", TensorProto.INT64, [1, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 16])], [table, axis])
    return helper.make_model(graph)


@pnnx
def test_pnnx_on_ir_14_is_refused_by_its_cause_not_its_signal(monkeypatch):
    monkeypatch.setenv(prepare.ENV, "0")  # no preparation: pnnx gets the IR 14 model and crashes
    with pytest.raises(ConversionError) as info:
        cache.obtain(load_model(default_ir_cnn(seed=3)), get_converter("pnnx"), {})
    message = str(info.value)
    head = message.split(". Received:")[0]
    assert head.startswith("pnnx (default_ir_cnn) | The model's ONNX IR version 14 is newer than the converter "
                           "for ncnn reads (at most 13)"), message
    assert "signal" not in head and "\x1b" not in message
    assert "killed by signal 11" in message  # how it ended comes after the cause
    assert "Unsupported model IR version: 14" in _raw_log(message).read_text()


@pnnx
def test_an_ncnn_layer_that_does_not_exist_is_named_with_the_onnx_node():
    with pytest.raises(ConversionError) as info:
        cache.obtain(load_model(_int_mask_model()), get_converter("pnnx"), {})
    message = str(info.value)
    assert message.startswith("pnnx (int_mask) | ncnn has no operator or layer for Tensor.to"), message
    assert "the model's ONNX Cast node(s) /m/Cast_3" in message
    assert causes.known_limit("ncnn", "Tensor.to").reason in message
    _raw_log(message)


def test_log_patterns_strip_colour_and_name_the_operator():
    log = "\x1b[0;93m2026 [W] warning\x1b[m\n[06:15:36] :220: These Op Not Support: ONNX::IsNaN ONNX::Foo \nFailed!\n"
    found = causes.cause(log, "MNN", get_converter("mnnconvert").log_causes)
    assert found.text == "MNN has no operator for IsNaN, Foo" and found.ops == ("IsNaN", "Foo")
    onnx2tf_log = ('File "/x/onnx2tf/ops/Expand.py", line 162, in make_node\nValueError: Output tensors bad\n\n'
                   "\x1b[31mERROR:\x1b[0m input_onnx_file_path: /t/model.onnx\n"
                   "\x1b[31mERROR:\x1b[0m onnx_op_name: wa/m/embeddings/Expand\n")
    found = causes.cause(onnx2tf_log, "LiteRT", get_converter("onnx2tf").log_causes)
    assert found.text == ("onnx2tf cannot convert ONNX Expand node wa/m/embeddings/Expand for LiteRT: "
                          "ValueError: Output tensors bad"), found
    assert causes.cause("nothing useful\n", "ncnn") is None
    assert causes.last_error_line("a\nRuntimeError: it broke\nbye\n") == "RuntimeError: it broke"
    assert causes.last_error_line("Start to Optimize the MNN Net...\n") is None
    assert causes.last_line("a\n\x1b[0mStart to Optimize the MNN Net...\n\n") == "Start to Optimize the MNN Net..."


def test_every_known_limit_names_its_onnx_operator_and_a_reason():
    for engine in ("ncnn", "mnn", "tflite"):
        for name, limit in causes.known_limits(engine).items():
            assert limit.onnx_op and onnx.defs.has(limit.onnx_op), (engine, name)
            assert len(limit.reason) > 20, (engine, name)


@pnnx
def test_a_cached_refusal_stays_listed_by_explain_and_bench(tmp_path, capsys, monkeypatch):
    proto = _int_mask_model()
    proto.graph.name = "int_mask_cached"
    path = tmp_path / "int_mask.onnx"
    onnx.save(proto, path)
    with pytest.raises(ConversionError):  # the first conversion fails and is cached
        cache.obtain(load_model(path), get_converter("pnnx"), {})
    trace = plan(load_model(path), devices())  # what Session.explain() shows, without loading anything
    refusable = [t for t in ("ncnn:cpu", "ncnn:vulkan") if target_availability(t, devices())[0]]
    assert "ncnn:cpu" in refusable
    for target in refusable:
        entry = trace.entry(target)
        assert entry.status == FAILED and "ncnn has no operator or layer for Tensor.to" in entry.reason, entry
        assert entry.rank is None and target in str(trace)
    policy = tmp_path / "policy.toml"
    policy.write_text('deny = ["onnxruntime:*", "litert:*", "mnn:*", "native:opencl", "coreml:*", "snpe:*"]\n')
    monkeypatch.setenv("FACADE_POLICY", str(policy))
    assert main(["bench", str(path), "--budget", "0.05", "--json"]) == 0
    rows = {r["target"]: r for r in json.loads(capsys.readouterr().out)["results"]}
    for target in refusable:
        assert rows[target]["refused"] and "Tensor.to" in rows[target]["error"], rows
    assert rows["native:cpu"]["ok"], rows
