from .engine_suite import EngineSuite


class TestNcnnCpu(EngineSuite):
    target = "ncnn:cpu"


class TestNcnnVulkan(EngineSuite):
    """Runs on Mesa's llvmpipe here: a real Vulkan device in software, forced (routing ranks it last)."""

    target = "ncnn:vulkan"


def test_fp16_only_when_allowed():
    import facade
    from facade.errors import ConversionError
    from facade.zoo import small as models

    assert facade.Session(models.cnn(), target="ncnn:cpu").precision == "fp32"
    try:  # fp16 is verified like any artifact: it runs within the fp16 tolerance, or it is refused
        assert facade.Session(models.cnn(), target="ncnn:cpu", precision="fp16").precision == "fp16"
    except ConversionError as e:
        assert "at fp16" in str(e)


def test_a_model_ncnn_cannot_load_is_refused_with_ncnns_own_reason():
    import pytest

    import facade
    from facade.zoo import conformance as builtin

    with pytest.raises(facade.FacadeError, match="ncnn: layer ArgMax not exists or registered"):
        facade.Session(builtin.several_outputs(), target="ncnn:cpu")


def test_a_static_batch_of_two_runs_one_sample_at_a_time_and_agrees():
    """pnnx strips the batch axis of a model exported at batch 2; ncnn then gives one sample per run."""
    import numpy as np
    import onnxruntime as ort

    import facade
    from facade.inputs import seeded_feeds
    from facade.zoo import small as models

    proto = models.cnn(batch=2, seed=4)
    with facade.Session(proto, target="ncnn:cpu", allow_fallback=False) as sess:
        feeds = seeded_feeds(sess.inputs, 3)
        got = sess.run(feeds)
    want = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)
    for (name, arr), ref in zip(got.items(), want, strict=True):
        assert arr.shape == ref.shape and arr.shape[0] == 2, name
        assert np.abs(arr - ref).max() <= 1e-4 * np.abs(ref).max(), name
