import pytest

from facade.convert import get_converter

from .engine_suite import EngineSuite

pytestmark = pytest.mark.skipif(not get_converter("onnx2tf").available(),
                                reason="onnx2tf/TensorFlow not installed (facade-runtime[tflite-convert])")


class TestLiteRtCpu(EngineSuite):
    target = "litert:cpu"
