import runpy
from pathlib import Path

EXAMPLE = Path(__file__).parents[2] / "examples" / "every_engine.py"


def test_every_engine_example_runs(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("FACADE_CACHE_DIR", str(tmp_path))
    module = runpy.run_path(str(EXAMPLE))
    assert module["main"]() == 0
    out = capsys.readouterr().out
    for target in ("onnxruntime:cpu", "ncnn:cpu", "mnn:cpu", "coreml:cpu"):
        assert target in out
    assert "needs macOS" in out
