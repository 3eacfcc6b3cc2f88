"""The same suite on the targets that take ONNX directly: ORT's CPU and QNN HTP (simulator here), native."""

from types import MappingProxyType

from .engine_suite import EngineSuite


class TestOnnxRuntimeCpu(EngineSuite):
    target = "onnxruntime:cpu"


class TestQnnHtp(EngineSuite):
    target = "onnxruntime:qnn-htp"
    known_refusals = MappingProxyType({"cnn_dynamic_batch": "QNN needs static shapes: every node fell back to the CPU"})


class TestNativeCpu(EngineSuite):
    target = "native:cpu"
