"""ONNX Runtime's accelerator units are checked where they really ran and whether their numbers hold."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import facade
from tests import models

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
from facade.weights import light_model
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
