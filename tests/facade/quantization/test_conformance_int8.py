"""Conformance ``target@int8`` columns with calibration data run each engine's quantized artifact."""

from __future__ import annotations

import json
import shutil

import pytest

from facade.cli import main


@pytest.mark.slow
def test_int8_column_runs_the_quantized_artifact_and_is_judged(capsys, cnn, cnn_data, tmp_path):
    model = tmp_path / "cnn.onnx"
    shutil.copyfile(cnn.path, model)
    out = tmp_path / "report.json"
    assert main(["conformance", "run", str(model), "--targets", "onnxruntime:cpu@int8", "--calibration",
                 str(cnn_data), "--out", str(out), "--no-store", "--no-progress", "--json"]) == 0
    capsys.readouterr()
    (result,) = json.loads(out.read_text())["runs"][0]["results"]
    assert (result["precision"], result["engine_precision"]) == ("int8", "int8")
    assert result["verdict"] in ("pass", "pass-at-lower-precision")
