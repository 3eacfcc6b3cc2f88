"""Core ML: prediction needs macOS; conversion needs onnx2torch, which cannot import on this machine.

coremltools 9 converts torch 2.13 traced models on Linux, but every onnx2torch
release imports torchvision, and the only torchvision wheel for torch 2.13 here
is a CUDA build that does not load against the CPU torch wheel (see
facade/convert/coreml.py). These tests hold facade to saying exactly that, and
to never calling an unverifiable artifact verified.
"""

from __future__ import annotations

import platform

import pytest

from facade.cli import main
from facade.convert import coreml, get_converter
from facade.devices import devices
from facade.router import target_availability
from facade.zoo import small as models

pytestmark = pytest.mark.skipif(platform.system() == "Darwin", reason="these tests cover a machine without Core ML")


def test_targets_say_the_core_ml_runtime_needs_macos():
    for unit in ("cpu", "all", "ane"):
        avail, _, _ = target_availability(f"coreml:{unit}", devices())
        assert not avail and "the Core ML runtime needs macOS" in avail.reason


def test_import_problem_quotes_the_child_process_error():
    assert coreml.import_problem(("json",)) is None
    problem = coreml.import_problem(("facade_test_no_such_module",))
    assert problem == "ModuleNotFoundError: No module named 'facade_test_no_such_module'"


@pytest.mark.parametrize("missing", ["torch", "torchvision", "onnx2torch"])
def test_converter_names_the_missing_frontend_package(monkeypatch, tmp_path, missing):
    real = coreml.package_dir  # the other frontend packages count as present, whatever this venv holds
    monkeypatch.setattr(coreml, "package_dir",
                        lambda m: None if m == missing else real(m) if m not in coreml.FRONTEND else tmp_path)
    avail = coreml.CoreMlConverter().available()
    assert not avail and f"{missing} is not installed" in avail.reason and "no ONNX frontend" in avail.reason


def test_convert_cli_refuses_with_the_reason(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FACADE_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "cnn.onnx"
    path.write_bytes(models.cnn(seed=51).SerializeToString())
    reason = get_converter("coremltools").available().reason
    assert main(["convert", str(path), "--to", "coreml"]) == 2
    err = capsys.readouterr().err
    assert "onnx2torch" in reason and reason in err.replace("\n", " ")


def test_an_artifact_core_ml_cannot_run_is_never_called_verified():
    assert coreml.CoreMlConverter().unverified_reason() == "not verified: no Core ML runtime on this OS"
    assert get_converter("mnnconvert").unverified_reason().startswith("not verified yet")
