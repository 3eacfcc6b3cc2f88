import json
import subprocess
import sys

import facade

devices_mod = sys.modules["facade.devices"]  # the module, not the facade.devices() function


def test_facts_describe_this_machine():
    facts = facade.devices()
    assert facts.os == "linux" and facts.arch in ("x86_64", "arm64")
    assert facts.cores >= 1 and sum(len(c) for c in facts.clusters) == facts.cores
    assert facts.big_cores <= facts.cores
    assert len(facts.fingerprint) == 16
    assert facade.devices() is facts  # cached for the process


def test_vulkan_and_opencl_devices_are_classed_as_software_here():
    """CI installs Mesa (llvmpipe) and PoCL: both are the CPU, and must be seen as such."""
    facts = facade.devices()
    vulkan, opencl = facts.gpu_devices("vulkan"), facts.gpu_devices("opencl")
    assert vulkan and all(g.software for g in vulkan), facts.probe_errors
    assert opencl and all(g.software for g in opencl), facts.probe_errors


def test_qnn_htp_on_x86_is_a_simulator():
    acc = facade.devices().accelerator("qnn-htp")
    assert acc is not None and acc.simulated == (facade.devices().arch != "arm64")


def test_fingerprint_is_stable_across_processes():
    code = "import facade; print(facade.devices().fingerprint)"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert other == facade.devices().fingerprint


def test_a_probe_that_hangs_or_fails_is_recorded_not_raised(monkeypatch):
    monkeypatch.setenv("FACADE_DEVICE_TIMEOUT_S", "0.001")
    found, error = devices_mod._probe_gpus("vulkan")
    assert found == [] and "hung" in error
    monkeypatch.setenv("FACADE_DEVICE_TIMEOUT_S", "10")
    found, error = devices_mod._probe_gpus("no-such-api")
    assert found == [] and "KeyError" in error


def test_facts_serialize_to_json():
    data = json.loads(json.dumps(facade.devices().to_dict()))
    assert data["fingerprint"] == facade.devices().fingerprint
