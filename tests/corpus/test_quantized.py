"""Quantized corpus models are judged at the int8 class, by a Session's verification and by the table.

QNN's HTP runs a QDQ MobileNetV3 with integer kernels and rounds some outputs one
output-quantization step away from ONNX Runtime's CPU (6e-3 of the output's range): an
fp32 bound would call that wrong, and an fp32 verification passed it on its seeded
input only by chance. Both now judge the model at int8, and say so.
"""

from __future__ import annotations

import pytest

import facade
from facade.convert.verify import TOLERANCE
from tests.corpus import registry
from tests.corpus.compare import agreement

QUANTIZED = [e.name for e in registry.ENTRIES if {"qdq", "int8-dynamic"} & set(e.tags)]


@pytest.mark.parametrize("name", QUANTIZED)
def test_native_cpu_judges_quantized_model_at_int8(name, corpus_model):
    with facade.Session(str(corpus_model.path), target="native:cpu", allow_fallback=False) as sess:
        outputs = sess.run(corpus_model.feeds)
    assert agreement(outputs, corpus_model.oracle), name  # native rounds as ORT's CPU does: within fp32


@pytest.mark.parametrize("name", ["qdq_mobilenet_v3"])
def test_qnn_htp_quantized_model_within_int8_and_says_so(name, corpus_model):
    try:
        sess = facade.Session(str(corpus_model.path), target="onnxruntime:qnn-htp", allow_fallback=False)
    except facade.TargetUnavailableError as e:
        if "not installed" in str(e) or "ships no" in str(e):
            pytest.skip(f"QNN HTP is not here: {e}")
        raise
    with sess:
        outputs = sess.run(corpus_model.feeds)
        explained = str(sess.explain())
    assert "judged at int8: the model is quantized (DequantizeLinear, QuantizeLinear)" in explained
    assert agreement(outputs, corpus_model.oracle, tol=TOLERANCE["int8"]), name
