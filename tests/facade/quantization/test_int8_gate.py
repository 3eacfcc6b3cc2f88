"""int8 on real engines: kept when its held-out accuracy on the target is within the bounds, else fp32."""

from __future__ import annotations

import pytest

import facade
from facade.adapters import registry
from facade.adapters.base import LoadOptions
from facade.model import load_model
from facade.quantization import gate


def test_session_runs_int8_on_onnxruntime_cpu_and_explain_gives_figure_and_bound(cnn, cnn_data):
    with facade.Session(str(cnn.path), target="onnxruntime:cpu", precision="int8", calibration=cnn_data) as sess:
        assert sess.precision == "int8"
        out = sess.run(cnn.feeds)["logits"]
        text = str(sess.explain())
    assert out.shape == (1, 10)
    assert "chosen: onnxruntime:cpu (int8)" in text
    assert "precision int8 (QDQ by onnxruntime.quantization" in text and "within min_cosine 0.99" in text


def test_drop_beyond_the_bound_keeps_fp32(cnn, cnn_data):
    model = load_model(str(cnn.path))
    strict = gate.Bounds(min_cosine=1.0, max_top1_drop=0.0, source="test bound")
    options = LoadOptions(precision="int8", calibration=gate.request(model, "int8", cnn_data, strict))
    runner = registry.get_adapter("onnxruntime").load(model, "cpu", options)
    try:
        assert runner.precision == "fp32"
        assert "not used" in runner.notes[0] and "< min_cosine 1 (test bound)" in runner.notes[0]
        assert runner.model is model  # the float model, not the QDQ one
    finally:
        runner.close()


def test_int8_without_calibration_data_is_refused_by_name(cnn):
    with pytest.raises(facade.InputError, match="int8 needs calibration data"):
        facade.Session(str(cnn.path), precision="int8")


def test_qnn_htp_runs_the_cnn_at_int8_with_qnn_config(cnn, cnn_data):
    try:
        sess = facade.Session(str(cnn.path), target="onnxruntime:qnn-htp", precision="int8", calibration=cnn_data,
                              allow_fallback=False)
    except facade.TargetUnavailableError as e:
        if "not installed" in str(e) or "ships no" in str(e):
            pytest.skip(f"QNN HTP is not here: {e}")
        raise
    with sess:
        assert sess.precision == "int8"
        assert "qnn config" in str(sess.explain())
        assert sess.run(cnn.feeds)["logits"].shape == (1, 10)


@pytest.mark.slow
def test_qnn_htp_cannot_finalize_the_int8_encoder_and_says_why(encoder, encoder_data):
    """Measured: HTP has no float kernels for the encoder's Where/Gather, so its QDQ model does not finalize."""
    with facade.Session(str(encoder.path), target="onnxruntime:qnn-htp", precision="int8",
                        calibration=encoder_data, allow_fallback=False) as sess:
        notes = " ".join(sess.explain().entries[0].notes)
        assert sess.precision != "int8" and "precision int8 (artifact) not used: unavailable" in notes


@pytest.mark.slow
def test_litert_runs_onnx2tf_full_integer_tflite_calibrated_on_the_callers_data(cnn, cnn_data):
    with facade.Session(str(cnn.path), target="litert:cpu", precision="int8", calibration=cnn_data,
                        allow_fallback=False) as sess:
        assert sess.precision == "int8"
        notes = " ".join(sess.explain().entries[0].notes)
        assert "precision int8 (onnx2tf full-integer TFLite)" in notes and "within min_cosine" in notes
        assert sess.run(cnn.feeds)["logits"].shape == (1, 10)


@pytest.mark.slow
def test_litert_int8_refuses_integer_inputs_before_tensorflow_and_runs_float(encoder, encoder_data):
    with facade.Session(str(encoder.path), target="litert:cpu", precision="int8", calibration=encoder_data,
                        allow_fallback=False) as sess:
        notes = " ".join(sess.explain().entries[0].notes)
        assert sess.precision != "int8" and "takes float inputs only" in notes


def _policy(tmp_path, cnn_data, min_cosine: float):
    path = tmp_path / "ops.toml"
    path.write_text(f'prefer = ["onnxruntime:cpu"]\n[targets."onnxruntime:*"]\nmin_cosine = {min_cosine}\n'
                    f'max_top1_drop = 0.0\ncalibration = "{cnn_data}"\n')
    return path


@pytest.mark.parametrize(("min_cosine", "precision", "says"), [
    (0.99, "int8", "within min_cosine 0.99, max_top1_drop 0 (policy)"),
    (1.0, "fp32", "not used: cosine"),
])
def test_router_picks_int8_within_the_policys_bound_and_fp32_beyond_it(cnn, cnn_data, tmp_path, min_cosine,
                                                                       precision, says):
    policy = _policy(tmp_path, cnn_data, min_cosine)
    with facade.Session(str(cnn.path), policy=str(policy), precision="int8") as sess:
        assert (sess.target, sess.precision) == ("onnxruntime:cpu", precision)
        text = str(sess.explain())
    assert says in text and f"chosen: onnxruntime:cpu ({precision})" in text


def test_policy_bounds_and_calibration_are_validated(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[targets."onnxruntime:*"]\nmin_cosine = 1.5\ncalibration = "nowhere.npz"\n')
    with pytest.raises(facade.PolicyError) as info:
        facade.policy.load_policy(bad)
    assert "Invalid accuracy bound" in str(info.value) and "Calibration data not found" in str(info.value)


@pytest.mark.parametrize("target", ["mnn:cpu", "ncnn:cpu"])
def test_engines_without_an_int8_tool_here_say_why_and_run_fp16(cnn, cnn_data, target):
    with facade.Session(str(cnn.path), target=target, precision="int8", calibration=cnn_data,
                        allow_fallback=False) as sess:
        assert sess.precision == "fp16"
        assert "precision int8 not used: unavailable:" in " ".join(sess.explain().entries[0].notes)


@pytest.mark.parametrize(("min_cosine", "precision", "says"), [
    (0.99, "fp16", "precision fp16: cosine"),
    (1.0, "fp32", "precision fp16 not used: cosine"),
])
def test_fp16_with_calibration_data_is_gated_like_int8(cnn, cnn_data, tmp_path, min_cosine, precision, says):
    policy = tmp_path / "ops.toml"
    policy.write_text(f'[targets."ncnn:*"]\nmin_cosine = {min_cosine}\n')
    with facade.Session(str(cnn.path), target="ncnn:cpu", policy=str(policy), precision="fp16",
                        calibration=cnn_data, allow_fallback=False) as sess:
        assert sess.precision == precision
        assert says in " ".join(sess.explain().entries[0].notes)


@pytest.mark.slow
def test_qnn_htp_runs_a_16_bit_activation_qdq_model_from_qnns_own_config(cnn, cnn_data):
    q = facade.quantize(str(cnn.path), cnn_data, config="qnn", activations="uint16")
    assert q.accuracy.cosine > 0.999
    with facade.Session(str(q.path), target="onnxruntime:qnn-htp", allow_fallback=False) as sess:
        notes = " ".join(sess.explain().entries[0].notes)
        assert "kernel(s) on QNNExecutionProvider" in notes and "judged at int8" in notes
        assert sess.run(cnn.feeds)["logits"].shape == (1, 10)
