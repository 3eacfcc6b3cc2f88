"""The target catalogue is derived from the adapters' declared units, read-only, and names what is wrong in a bad name."""

import pytest
from onnx import TensorProto, helper

import facade
from facade.adapters import catalogue, registry
from facade.adapters.base import Adapter
from facade.errors import UnknownTargetError
from facade.targets import HardwareClass, Unit


@pytest.fixture
def isolated_registry(monkeypatch):
    monkeypatch.setattr(registry, "_paths", dict(registry._paths))
    monkeypatch.setattr(registry, "_loaded", dict(registry._loaded))
    monkeypatch.setattr(registry, "_broken", dict(registry._broken))
    monkeypatch.setattr(catalogue, "_built", None)
    return registry


class _Declared(Adapter):
    engine = "declared"
    units = {"dsp": Unit(HardwareClass.NPU, api="dsp", extra="declared-sdk")}  # noqa: RUF012


def _relu() -> bytes:
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "relu",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    return helper.make_model(graph).SerializeToString()


def test_every_declared_unit_is_a_target_with_its_class_api_and_extra():
    known = catalogue.catalogue()
    for engine, adapter in registry.adapters().items():
        for unit in adapter.units:
            info = known[f"{engine}:{unit}"]
            assert (info.hardware, info.api) == (adapter.unit(unit).hardware, adapter.unit(unit).api)
    assert known["onnxruntime:qnn-htp"].extra == "qnn" and known["onnxruntime:cpu"].extra == "onnxruntime"
    assert known["native:cpu"].extra == "" and known["native:opencl"].extra == "opencl"
    assert list(known)[:2] == ["onnxruntime:cpu", "onnxruntime:xnnpack"] and list(known)[-1] == "native:cpu"
    assert facade.all_targets() == list(known)


def test_the_catalogue_is_read_only_and_follows_the_registry(isolated_registry):
    known = catalogue.catalogue()
    with pytest.raises(TypeError):
        known["x:y"] = known["onnxruntime:cpu"]  # type: ignore[index]
    registry.register_adapter(_Declared())
    assert "declared:dsp" not in known  # the old view is not mutated; a new one is derived
    info = catalogue.lookup("declared:dsp")
    assert (info.hardware, info.api, info.extra) == (HardwareClass.NPU, "dsp", "declared-sdk")
    assert catalogue.catalogue() is catalogue.catalogue()  # rebuilt once per registry change, not per lookup


@pytest.mark.parametrize(("name", "hint"), [
    ("tensorrt:gpu", "Unknown engine 'tensorrt'; engines: onnxruntime, litert, ncnn"),
    ("ncnn:gpu", "ncnn has no unit 'gpu'; its units: cpu, vulkan. Did you mean 'ncnn:vulkan'?"),
    ("onnxruntim:cpu", "Unknown engine 'onnxruntim'. Did you mean 'onnxruntime:cpu'?"),
])
def test_an_unknown_target_is_answered_by_engine_and_unit(name, hint):
    with pytest.raises(UnknownTargetError) as info:
        facade.Session(_relu(), target=name)
    assert hint in str(info.value)
    assert "Did you mean 'litert:gpu'" not in str(info.value)  # raw spelling distance said this for tensorrt:gpu


def test_a_target_of_an_adapter_that_fails_to_import_says_why(isolated_registry):
    registry.register_adapter("facade_no_such_module:Adapter", engine="gone")
    registry.get_adapter("gone")
    with pytest.raises(facade.TargetUnavailableError, match=r"gone:x .*failed to import: ModuleNotFoundError"):
        catalogue.lookup("gone:x")
