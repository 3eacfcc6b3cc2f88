"""``facade.quantize`` and ``facade quantize``: a QDQ model, cached by content, measured on held-out data."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

import facade
from facade.cli import main
from facade.quantization.qdq import ort_cpu


def test_cnn_quantized_to_qdq_close_to_fp32_on_held_out_data_and_cached(cnn, cnn_data):
    q = facade.quantize(str(cnn.path), cnn_data)
    ops = {n.op_type for n in onnx.load(q.path).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert q.accuracy.samples == 2 and q.accuracy.top1_agreement is not None
    assert 0.99 < q.accuracy.cosine <= 1.0 and 0 < q.accuracy.max_rel_error < 0.1  # quantized: not exact
    again = facade.quantize(str(cnn.path), cnn_data)
    assert again.cached and again.artifact.key == q.artifact.key
    # The figure is recomputable: the QDQ model against fp32 on the held-out samples.
    held = np.load(cnn_data)["image"][-1]
    got, want = ort_cpu(onnx.load(q.path))({"image": held}), ort_cpu(onnx.load(cnn.path))({"image": held})
    cos = float(np.dot(got["logits"].ravel(), want["logits"].ravel())
                / np.linalg.norm(got["logits"]) / np.linalg.norm(want["logits"]))
    assert cos >= q.accuracy.cosine - 1e-6


def test_options_change_the_key_and_unknown_options_are_refused(cnn, cnn_data):
    a = facade.quantize(str(cnn.path), cnn_data)
    b = facade.quantize(str(cnn.path), cnn_data, per_channel=True)
    assert a.artifact.key != b.artifact.key and b.options["per_channel"]
    with pytest.raises(facade.InputError, match="Unknown quantization activations"):
        facade.quantize(str(cnn.path), cnn_data, activations="int4")


def test_transformer_encoder_with_integer_inputs(encoder, encoder_data):
    q = facade.quantize(str(encoder.path), encoder_data)
    assert q.accuracy.top1_agreement is None  # hidden states, not class scores
    assert q.accuracy.cosine > 0.99


def test_cli_prints_the_cosine_and_copies_the_model(capsys, cnn, cnn_data, tmp_path):
    out = tmp_path / "q.onnx"
    assert main(["quantize", str(cnn.path), "--calibration", str(cnn_data), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    cosine = float(text.split("accuracy: cosine ", 1)[1].split(",", 1)[0])
    assert 0.99 < cosine <= 1.0 and "held-out" in text and out.is_file()
    assert main(["quantize", str(cnn.path), "--calibration", str(cnn_data), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["cached"] and data["accuracy"]["cosine"] > 0.99 and data["calibration"]["held_out"] == 2


def test_cli_bad_data_is_one_error_line(capsys, cnn, tmp_path):
    np.savez(tmp_path / "bad.npz", x=np.zeros((6, 3), np.float32))
    assert main(["quantize", str(cnn.path), "--calibration", str(tmp_path / "bad.npz")]) == 2
    assert "facade: error:" in capsys.readouterr().err


def test_an_already_quantized_model_is_refused_by_name(cnn, cnn_data):
    q = facade.quantize(str(cnn.path), cnn_data)
    with pytest.raises(facade.InputError, match="already quantized"):
        facade.quantize(str(q.path), cnn_data)
