from types import MappingProxyType

from .engine_suite import EngineSuite

_PNNX_TWO_INPUTS = "pnnx writes a graph whose MatMul output has the wrong size (96 values for [1, 4, 3])"


class TestNcnnCpu(EngineSuite):
    target = "ncnn:cpu"
    known_refusals = MappingProxyType({"two_inputs": _PNNX_TWO_INPUTS})


class TestNcnnVulkan(EngineSuite):
    """Runs on Mesa's llvmpipe here: a real Vulkan device in software, forced (routing ranks it last)."""

    target = "ncnn:vulkan"
    known_refusals = MappingProxyType({"two_inputs": _PNNX_TWO_INPUTS})


def test_fp16_only_when_allowed():
    import facade
    from facade.errors import ConversionError
    from tests import models

    assert facade.Session(models.cnn(), target="ncnn:cpu").precision == "fp32"
    try:  # fp16 is verified like any artifact: it runs within the fp16 tolerance, or it is refused
        assert facade.Session(models.cnn(), target="ncnn:cpu", precision="fp16").precision == "fp16"
    except ConversionError as e:
        assert "at fp16" in str(e)
