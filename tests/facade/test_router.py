"""Routing order, demotion of software "accelerators", fallback, and failures kept in the trace.

The do-nothing adapters here exist only to steer the router; they never appear as
product targets (they are registered for one test and removed after it).
"""

from typing import ClassVar

import numpy as np
import onnx
import pytest

import facade
from facade.adapters import catalogue, registry
from facade.adapters.base import Adapter, Availability
from facade.targets import HardwareClass
from facade.zoo import small as models


@pytest.fixture
def isolated_registry(monkeypatch):
    monkeypatch.setattr(registry, "_paths", dict(registry._paths))
    monkeypatch.setattr(registry, "_loaded", dict(registry._loaded))
    monkeypatch.setattr(registry, "_broken", dict(registry._broken))
    monkeypatch.setattr(catalogue, "_built", None)  # derived from the registry: rebuilt from the restored one
    return registry


class _NpuThatFailsToLoad(Adapter):
    engine = "flaky"
    units = ("npu",)
    unit_classes: ClassVar = {"npu": HardwareClass.NPU}

    def available(self, unit, facts):
        return Availability.yes("test double")

    def load(self, model, unit, options):
        raise self.unavailable(unit, "driver refused the graph (test double)")


class _CheckThatRaises(Adapter):
    engine = "broken"
    units = ("cpu",)

    def available(self, unit, facts):
        raise RuntimeError("boom")


def test_default_order_puts_software_accelerators_after_real_cpu_engines():
    with facade.Session(models.conv_relu()) as s:
        ranked = [e["target"] for e in s.explain().to_dict()["candidates"]]
    assert ranked[0] == "onnxruntime:cpu"
    assert ranked.index("onnxruntime:qnn-htp") > ranked.index("onnxruntime:cpu")
    entry = s.explain().entry("onnxruntime:qnn-htp")
    assert entry.hardware is HardwareClass.SOFTWARE and "simulator" in " ".join(entry.notes)


def test_a_failed_load_falls_back_to_the_next_candidate_and_is_recorded(isolated_registry, caplog):
    registry.register_adapter(_NpuThatFailsToLoad())
    with facade.Session(models.conv_relu()) as s:
        trace = s.explain()
        assert s.target == "onnxruntime:cpu"
    first = trace.ranked()[0]
    assert (first.target, first.status) == ("flaky:npu", "failed")
    assert "driver refused the graph" in first.reason
    assert "flaky:npu" in caplog.text


def test_fallback_can_be_switched_off(isolated_registry):
    registry.register_adapter(_NpuThatFailsToLoad())
    with pytest.raises(facade.TargetUnavailableError, match="driver refused"):
        facade.Session(models.conv_relu(), allow_fallback=False)


def test_an_adapter_whose_check_raises_is_rejected_not_fatal(isolated_registry):
    registry.register_adapter(_CheckThatRaises())
    with facade.Session(models.conv_relu()) as s:
        entry = s.explain().entry("broken:cpu")
    assert entry.status == "rejected" and "RuntimeError: boom" in entry.reason


def test_registry_refuses_silent_clashes(isolated_registry):
    with pytest.raises(facade.FacadeError, match="already has an adapter"):
        registry.register_adapter(_NpuThatFailsToLoad(), engine="onnxruntime")
    registry.register_adapter(_NpuThatFailsToLoad())
    with pytest.raises(facade.FacadeError, match="already has an adapter"):
        registry.register_adapter(_NpuThatFailsToLoad())


def test_registry_view_is_read_only():
    with pytest.raises(TypeError):
        registry.adapters()["x"] = None


def test_no_target_error_lists_every_reason():
    with pytest.raises(facade.NoTargetError) as err:
        facade.Session(models.custom_op("Frobnicate", "com.example"))
    text = str(err.value)
    assert "onnxruntime:cpu: load failed" in text and "Frobnicate" in text
    assert "onnxruntime:coreml: unavailable" in text
    assert err.value.trace.chosen is None


def test_forced_target_skips_routing():
    with facade.Session(models.conv_relu(), target="native:cpu") as s:
        assert s.target == "native:cpu"
        assert [e.target for e in s.explain().entries] == ["native:cpu"]
        np.testing.assert_allclose(
            s.run({"x": np.ones((1, 3, 8, 8), np.float32)})["y"],
            facade.Session(models.conv_relu(), target="onnxruntime:cpu").run(
                {"x": np.ones((1, 3, 8, 8), np.float32)})["y"], rtol=1e-5, atol=1e-5)


def test_model_proto_is_not_modified_by_routing():
    proto = models.conv_relu()
    before = proto.SerializeToString()
    facade.Session(proto).close()
    assert proto.SerializeToString() == before
    assert isinstance(proto, onnx.ModelProto)
