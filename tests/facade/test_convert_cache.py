"""The conversion cache: content addressing, no second conversion, corruption, failures, verdicts, CLI."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

import facade
from facade.cli import main
from facade.convert import cache, get_converter
from facade.convert.child import run_child
from facade.errors import ConversionError, FacadeError
from facade.model import load_model

sys.path.insert(0, str(Path(__file__).parents[1]))
from facade.zoo import small as models


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FACADE_CACHE_DIR", str(tmp_path / "cache"))


def _builds(monkeypatch) -> list[str]:
    """Record every real conversion (cache miss) while the test runs."""
    calls: list[str] = []
    real = cache._build

    def counting(key, *args):
        calls.append(key)
        return real(key, *args)

    monkeypatch.setattr(cache, "_build", counting)
    return calls


def test_second_session_does_not_convert(monkeypatch):
    calls = _builds(monkeypatch)
    proto = models.cnn(seed=21)
    first = facade.Session(proto, target="ncnn:cpu")
    second = facade.Session(proto, target="ncnn:cpu")
    assert len(calls) == 1
    assert any("cached verdict" in n for n in second.explain().entry("ncnn:cpu").notes)
    feeds = {"x": np.ones((1, 3, 16, 16), np.float32)}
    np.testing.assert_array_equal(first.run(feeds)["logits"], second.run(feeds)["logits"])


def test_key_changes_with_model_and_options():
    a = cache.cache_key("m1", "pnnx", "1", {})
    assert a != cache.cache_key("m2", "pnnx", "1", {})
    assert a != cache.cache_key("m1", "pnnx", "2", {})
    assert a != cache.cache_key("m1", "pnnx", "1", {"precision": "fp16"})
    assert a == cache.cache_key("m1", "pnnx", "1", {})


def test_corrupt_entry_is_rebuilt(monkeypatch):
    model = load_model(models.cnn(seed=22))
    conv = get_converter("pnnx")
    artifact = cache.obtain(model, conv, {})
    artifact.main.write_text("garbage")
    calls = _builds(monkeypatch)
    rebuilt = cache.obtain(model, conv, {})
    assert calls == [artifact.key]
    assert "Input" in rebuilt.main.read_text()
    assert not [p for p in cache.root().iterdir() if p.name.endswith(".tmp")]


def test_tampered_artifact_is_refused_with_its_divergence():
    """Verification, not trust: weights changed after conversion give a refusal quoting the error."""
    proto = models.cnn(seed=23)
    model = load_model(proto)
    artifact = cache.obtain(model, get_converter("pnnx"), {})
    weights = artifact.main.with_suffix(".bin")
    data = np.frombuffer(weights.read_bytes(), dtype=np.float32).copy()
    data[len(data) // 2:] *= 1.5
    weights.write_bytes(data.tobytes())
    manifest = artifact.path / cache.MANIFEST
    content = json.loads(manifest.read_text())
    content["files"] = cache._file_digests(artifact.path)
    manifest.write_text(json.dumps(content))
    with pytest.raises(ConversionError, match=r"diverged.*max relative error"):
        facade.Session(proto, target="ncnn:cpu")
    with pytest.raises(FacadeError, match=r"diverged"):  # the cached verdict: refused before loading
        facade.Session(proto, target="ncnn:cpu")
    routed = facade.Session(proto)  # routing moves on to another target and says why
    assert routed.target != "ncnn:cpu"
    assert "diverged" in routed.explain().entry("ncnn:cpu").reason


def test_converter_rejection_is_cached_and_routing_moves_on(monkeypatch):
    calls = _builds(monkeypatch)
    proto = models.cnn(seed=24)
    monkeypatch.setattr(get_converter("mnnconvert"), "command",
                        lambda *a: [sys.executable, "-c", "import sys; print('unsupported op Foo'); sys.exit(5)"])
    for _ in range(2):
        with pytest.raises(FacadeError, match="unsupported op Foo"):
            facade.Session(proto, target="mnn:cpu")
    assert len(calls) == 1


def test_hung_converter_is_stopped(tmp_path):
    with pytest.raises(ConversionError, match="hung"):
        run_child([sys.executable, "-c", "import time; time.sleep(30)"], cwd=tmp_path, timeout_s=1, where="t")


def test_crashing_converter_is_reported(tmp_path):
    with pytest.raises(ConversionError, match="signal"):
        run_child([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"],
                  cwd=tmp_path, timeout_s=10, where="t")


def test_cli_convert_and_cache(tmp_path, capsys):
    path = tmp_path / "cnn.onnx"
    path.write_bytes(models.cnn(seed=25).SerializeToString())
    assert main(["convert", str(path), "--to", "mnn", "--out", str(tmp_path / "out"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["cached"] is False and (tmp_path / "out" / "model.mnn").stat().st_size > 0
    assert main(["convert", str(path), "--to", "mnn", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["cached"] is True
    assert main(["cache", "ls", "--json"]) == 0
    assert [e["converter"] for e in json.loads(capsys.readouterr().out)["entries"]] == ["mnnconvert"]
    assert main(["cache", "clear"]) == 0
    assert not list(cache.entries())


def test_cli_convert_reports_a_missing_converter(tmp_path, capsys):
    path = tmp_path / "cnn.onnx"
    path.write_bytes(models.cnn(seed=26).SerializeToString())
    if get_converter("snpe-onnx-to-dlc").available():
        pytest.skip("SNPE SDK installed")
    assert main(["convert", str(path), "--to", "dlc"]) == 2
    assert "SNPE" in capsys.readouterr().err
