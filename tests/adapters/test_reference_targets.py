"""The same suite on the targets that take ONNX directly: ORT's CPU and QNN HTP (simulator here), native."""

from types import MappingProxyType

import pytest

from facade import native_fallback

from .engine_suite import EngineSuite


class TestOnnxRuntimeCpu(EngineSuite):
    target = "onnxruntime:cpu"


class TestQnnHtp(EngineSuite):
    target = "onnxruntime:qnn-htp"
    known_refusals = MappingProxyType({"cnn_dynamic_batch": "QNN needs static shapes: every node fell back to the CPU"})


@pytest.mark.skipif(not hasattr(native_fallback, "compile"), reason="native engine not merged into this branch yet")
class TestNativeCpu(EngineSuite):
    target = "native:cpu"
