"""Models the tests did not build agree across native:cpu, onnxruntime:cpu and onnxruntime:qnn-htp.

The light models are the onnx wheel's real architectures with seeded weights
(:mod:`facade.weights`); the demo model is facade's MobileNetV2-shaped builder.
Agreement is max abs error over max abs value, against ONNX Runtime on the CPU.
"""

import functools

import pytest

import facade
from facade.builtin_models import mobilenet_v2
from facade.inputs import seeded_feeds
from facade.metrics import relative_max_error
from facade.weights import light_model

TOLERANCE = 1e-4

MODELS = {
    "light_squeezenet": lambda: light_model("squeezenet"),
    "light_resnet50": lambda: light_model("resnet50"),
    "mobilenet_v2": mobilenet_v2,
}


@functools.cache
def reference(name: str):
    model = MODELS[name]()
    with facade.Session(model, target="onnxruntime:cpu") as sess:
        feeds = seeded_feeds(sess.inputs, seed=7)
        return model, feeds, sess.run(feeds)


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
