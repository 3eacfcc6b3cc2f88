from .engine_suite import EngineSuite


class TestNcnnCpu(EngineSuite):
    target = "ncnn:cpu"


class TestNcnnVulkan(EngineSuite):
    """Runs on Mesa's llvmpipe here: a real Vulkan device in software, forced (routing ranks it last)."""

    target = "ncnn:vulkan"


def test_fp16_only_when_allowed():
    import facade
    from facade.errors import ConversionError
    from tests import models

    assert facade.Session(models.cnn(), target="ncnn:cpu").precision == "fp32"
    try:  # fp16 is verified like any artifact: it runs within the fp16 tolerance, or it is refused
        assert facade.Session(models.cnn(), target="ncnn:cpu", precision="fp16").precision == "fp16"
    except ConversionError as e:
        assert "at fp16" in str(e)


def test_a_model_ncnn_cannot_load_is_refused_with_ncnns_own_reason():
    import pytest

    import facade
    from facade.conformance import builtin

    with pytest.raises(facade.FacadeError, match="ncnn: layer ArgMax not exists or registered"):
        facade.Session(builtin.several_outputs(), target="ncnn:cpu")
