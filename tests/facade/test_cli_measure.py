"""bench measuring: convert ms is the time spent converting in this run, then 'cached'; '-' for ONNX engines."""

from facade.cli.measure import exit_status, latency_table, measure_in_child
from facade.zoo import small


def test_conversion_time_is_measured_then_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("FACADE_CACHE_DIR", str(tmp_path / "cache"))  # the children convert into an empty cache
    model = tmp_path / "conv_relu.onnx"
    model.write_bytes(small.conv_relu().SerializeToString())
    first = measure_in_child(str(model), "mnn:cpu", 0.05)
    again = measure_in_child(str(model), "mnn:cpu", 0.05)
    assert first["ok"] and first["artifact"] == "converted now" and 0 < first["conversion_s"] < first["load_s"]
    assert again["artifact"] == "cached" and again["conversion_s"] == 0
    onnx = {**again, "target": "onnxruntime:cpu", "artifact": None}  # tests/facade/test_cli_policy.py measures one
    lines = latency_table([first, again, onnx])
    assert lines[1].split()[2] == f"{first['conversion_s'] * 1e3:.1f}"
    assert lines[2].split()[2] == "cached" and lines[3].split()[2] == "-"


def test_a_target_that_fails_in_its_child_is_a_row_in_facades_words_and_exit_1(tmp_path):
    model = tmp_path / "conv_relu.onnx"
    model.write_bytes(small.conv_relu().SerializeToString())
    row = measure_in_child(str(model), "coreml:ane", 0.05)  # bench refuses it before; the child still says why
    assert not row["ok"] and row["error"].startswith("coreml:ane | ") and "macOS" in row["error"]
    assert "Traceback" not in row["error"] and "facade.errors." not in row["error"]
    assert exit_status([row]) == 1 and exit_status([{**row, "refused": True}]) == 0
    assert latency_table([row])[1].endswith(f"failed: {row['error']}")
