"""Models the tests did not build agree across native:cpu, onnxruntime:cpu and onnxruntime:qnn-htp.

The light models are the onnx wheel's real architectures with seeded weights
(:mod:`facade.zoo.weights`); the demo model is facade's MobileNetV2-shaped builder.
Agreement is max abs error over max abs value, against ONNX Runtime on the CPU.
"""

import functools

import pytest

import facade
from facade.inputs import seeded_feeds
from facade.metrics import relative_max_error
from facade.model import onnx_specs
from facade.reference import reference_outputs
from facade.zoo import light_model, mobilenet_v2

TOLERANCE = 1e-4

MODELS = {
    "light_squeezenet": lambda: light_model("squeezenet"),
    "light_resnet50": lambda: light_model("resnet50"),
    "mobilenet_v2": mobilenet_v2,
}


@functools.cache
def reference(name: str):
    model = MODELS[name]()
    feeds = seeded_feeds(onnx_specs(model)[0], seed=7)
    return model, feeds, reference_outputs(model, feeds)


CASES = [(m, t) for m in MODELS for t in ("native:cpu", "onnxruntime:qnn-htp")]
SLOW = {("light_resnet50", "onnxruntime:qnn-htp")}  # the simulator takes about a minute


@pytest.mark.parametrize(("name", "target"), [
    pytest.param(m, t, marks=pytest.mark.slow) if (m, t) in SLOW else (m, t) for m, t in CASES])
def test_targets_agree_with_onnxruntime_cpu(name, target):
    model, feeds, expected = reference(name)
    with facade.Session(model, target=target) as sess:
        actual = sess.run(feeds)
        assert sess.target == target
    assert list(actual) == list(expected)
    for out in expected:
        assert actual[out].shape == expected[out].shape
        assert relative_max_error(actual[out], expected[out]) <= TOLERANCE, out
