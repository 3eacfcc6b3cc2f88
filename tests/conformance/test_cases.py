import json

import numpy as np
import onnx
import pytest

from facade.cli import main
from facade.conformance import cases
from facade.errors import InputError
from facade.zoo.conformance import MODELS, several_outputs


def test_light_models_get_realistic_weights():
    case = next(c for c in cases.light_cases() if c.model == "squeezenet")
    built = case.build()
    onnx.checker.check_model(built.proto)
    assert not [n for n in built.proto.graph.node if n.op_type == "ConstantOfShape"]
    conv1 = next(i for i in built.proto.graph.initializer if i.name == "conv1_w_0")
    w = onnx.numpy_helper.to_array(conv1)
    assert w.std() == pytest.approx(np.sqrt(2.0 / np.prod(w.shape[1:])), rel=0.1)


def test_node_suite_ships_inputs_and_expected_outputs():
    skipped = {}
    found = cases.node_cases(skipped)
    assert len(found) > 1000 and skipped and all("not tensors" in v or "tensor" in v for v in skipped.values())
    built = next(c for c in found if c.id == "onnx-node/test_abs").build()
    np.testing.assert_array_equal(built.expected["y"], np.abs(built.feeds["x"]))
    assert not found[0].takes("ncnn:cpu") and found[0].takes("native:opencl")


def test_builtin_set_covers_what_it_says():
    dyn = next(c for c in cases.builtin_cases() if c.model == "dynamic_shapes").build()
    assert dyn.feeds["x"].shape[0] == dyn.feeds["x"].shape[2] > 1
    assert len(several_outputs().graph.output) == 4 and len(MODELS) >= 6


def test_user_files_with_inputs_beside(tmp_path, capsys):
    path = tmp_path / "multi.onnx"
    onnx.save(several_outputs(), path)
    x = np.full((4, 16), 0.5, np.float32)
    np.save(tmp_path / "multi.npy", x)
    built = cases.file_cases([path])[0].build()
    np.testing.assert_array_equal(built.feeds["x"], x)
    np.savez(tmp_path / "multi.npz", y=x)
    with pytest.raises(InputError, match="does not name the model's inputs"):
        cases.file_cases([path])[0].build()
    (tmp_path / "multi.npz").unlink()
    out = tmp_path / "r.json"
    assert main(["conformance", "run", str(path), "--targets", "onnxruntime:cpu", "--out", str(out),
                 "--no-store", "--no-progress", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["passed"] and data["cases"] == 1
    assert main(["conformance", "diff", str(out), str(out)]) == 0
    assert main(["conformance", "run", str(tmp_path / "missing.onnx"), "--out", str(out)]) == 2
    assert "Model file not found" in capsys.readouterr().err
