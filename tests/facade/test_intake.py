"""Model intake refuses, before any engine, what the ONNX spec refuses, naming the tensor, node or file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

import facade
from facade import intake
from tests import bad_corpus

bad = bad_corpus.load()


def _save(tmp_path: Path, proto: onnx.ModelProto) -> str:
    path = tmp_path / "model.onnx"
    path.write_bytes(proto.SerializeToString())
    return str(path)


def test_declared_output_shape_contradiction_names_tensor_and_both_shapes(tmp_path):
    with pytest.raises(facade.ModelError, match=r"'y' contradicts.*declared \[1, 7, 2\].*\[1, 4, 8, 8\]"):
        facade.load_model(_save(tmp_path, bad.conv_model(out_dims=(1, 7, 2))))


@pytest.mark.parametrize("opset", [99, 1])
def test_opset_outside_the_range_is_refused_with_the_range(tmp_path, opset):
    low, high = intake.opset_range()
    with pytest.raises(facade.ModelError, match=rf"Received: opset {opset}. Expected: opset {low} to {high}"):
        facade.load_model(_save(tmp_path, bad.unary_model("Relu", [2, 3], [2, 3], opset=opset)))


def test_external_data_outside_the_model_folder_is_refused(tmp_path):
    with pytest.raises(facade.ModelError, match=r"'B' points outside the model's folder.*etc/passwd"):
        facade.load_model(_save(tmp_path, bad._external_model("../../../../etc/passwd")))


def test_missing_external_data_file_is_named(tmp_path):
    with pytest.raises(facade.ModelError, match=r"file of tensor 'B' is missing.*'missing.bin'"):
        facade.load_model(_save(tmp_path, bad._external_model("missing.bin")))


def test_external_data_inside_the_folder_loads(tmp_path):
    bad._write_weights("w.bin")(tmp_path)
    sess = facade.Session(_save(tmp_path, bad._external_model("w.bin")), target="native:cpu")
    out = sess.run({"x": np.zeros((2, 3), np.float32)})["y"]
    assert out.tolist() == np.ones((2, 3)).tolist()


def test_negative_declared_dim_is_refused(tmp_path):
    with pytest.raises(facade.ModelError, match=r"negative dimension for input 'x'.*\[-1, 3\]"):
        facade.load_model(_save(tmp_path, bad.unary_model("Relu", [-1, 3], [-1, 3])))


def test_huge_tensor_is_refused_with_its_size(tmp_path):
    with pytest.raises(facade.ModelError, match=r"'x' \(input\) is too large.*1e\+12 elements, 3725 GiB"):
        facade.load_model(_save(tmp_path, bad.unary_model("Relu", [10**6, 10**6], [10**6, 10**6])))


def test_size_bound_is_overridable(tmp_path, monkeypatch):
    monkeypatch.setenv("FACADE_MAX_TENSOR_BYTES", "100")
    with pytest.raises(facade.ModelError, match=r"at most 9.3\d*e-08 GiB"):
        facade.load_model(_save(tmp_path, bad.unary_model("Relu", [8, 8], [8, 8])))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"kernel": (5, 5), "out_dims": None}, r"Conv node 'conv0': kernel_shape contradicts the weights.*\[5, 5\]"),
    ({"group": 3}, r"Conv node 'conv0': input channels contradict weights and group"),
    ({"w_shape": (4, 2, 3, 3), "out_dims": None}, r"input channels 3, weight shape \[4, 2, 3, 3\]"),
])
def test_conv_contradictions_are_refused_by_node(tmp_path, kwargs, message):
    with pytest.raises(facade.ModelError, match=message):
        facade.load_model(_save(tmp_path, bad.conv_model(**kwargs)))


def test_int64_conv_weights_are_refused_by_type_constraint(tmp_path):
    with pytest.raises(facade.ModelError, match=r"op_type:Conv, node name: conv0.*W.*unsupported type: tensor\(int64\)"):
        facade.load_model(_save(tmp_path, bad.conv_model(w_dtype=np.int64, out_dims=None)))


def test_axis_out_of_range_is_refused(tmp_path):
    with pytest.raises(facade.ModelError, match=r"Flatten|axis"):
        facade.load_model(_save(tmp_path, bad.unary_model("Flatten", [1, 3, 8, 8], axis=10)))


def test_attribute_of_wrong_type_is_refused(tmp_path):
    with pytest.raises(facade.ModelError, match=r"LeakyRelu node 'leakyrelu0': attribute 'alpha' has the wrong type"):
        facade.load_model(_save(tmp_path, bad.unary_model("LeakyRelu", [2, 3], alpha="x")))


def test_a_valid_model_passes_and_the_check_is_cached(tmp_path):
    path = _save(tmp_path, bad.conv_model())
    first = facade.load_model(path)
    assert first.sha256 in intake._checked
    assert facade.load_model(path).sha256 == first.sha256
