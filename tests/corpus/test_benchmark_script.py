"""benchmarks/corpus.py: its cells come from real child runs, and its reasons are the cause, short."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "corpus.py"


def _script():
    spec = importlib.util.spec_from_file_location("corpus_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_short_reason_keeps_the_cause():
    short = _script().short_reason
    conversion = ("ConversionError: mnn:cpu | Forced target cannot run this model: cannot take this model: "
                  "mnnconvert rejected this model: mnnconvert (model) | MNN has no operator for IsNaN. "
                  "Received: mnnconvert exited with 1; raw log: /tmp/x.log. Expected: a model MNN can take.")
    assert short(conversion) == "MNN has no operator for IsNaN"
    kernel = ("ModelError: native | node '/model/encoder/layers.0/blocks.0/Pad' (Pad) | the kernel failed: "
              "IndexError: list index out of range. Received: input shapes (1, 16, 16, 16), (0,), None.")
    assert short(kernel) == "Pad: the kernel failed: IndexError: list index out of range"
    long = "word " * 60
    cut = short(long, limit=42)
    assert cut.endswith(" …") and len(cut) <= 44 and cut[:-2].split(" ") == ["word"] * 8


def test_refusals_and_errors_are_told_apart():
    script = _script()
    assert script.is_refusal("ConversionError: ncnn:cpu | pnnx failed")
    assert script.is_refusal("UnsupportedModelError: litert:cpu | no Flex ops")
    assert script.is_refusal("InputError: litert:cpu | Input 'ids' does not fit this target's model")
    assert not script.is_refusal("ModelError: native | node 'x' (Pad) | the kernel failed")
    assert not script.is_refusal("RuntimeError: boom")


def test_table_runs_each_target_in_a_child(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), "--models", "helper_mlp", "helper_nms",
                           "--targets", "onnxruntime:cpu,native:cpu,coreml:cpu", "--json",
                           "--save", str(tmp_path / "partial.json")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    cells = {(c["model"], c["target"]): c for c in json.loads(done.stdout)["cells"]}
    assert len(cells) == 6
    for model in ("helper_mlp", "helper_nms"):
        for target in ("onnxruntime:cpu", "native:cpu"):
            assert cells[model, target]["status"] == "ok" and cells[model, target]["err"] < 1e-4
        assert cells[model, "coreml:cpu"]["status"] == "unavailable"
        assert "macOS" in cells[model, "coreml:cpu"]["reason"]
    saved = tmp_path / "run.json"
    saved.write_text(done.stdout)
    assert json.loads((tmp_path / "partial.json").read_text()) == json.loads(done.stdout)
    shown = subprocess.run([sys.executable, str(SCRIPT), "--load", str(saved), str(saved), "--markdown"], cwd=ROOT,
                           capture_output=True, text=True, timeout=60, check=True).stdout
    assert shown.splitlines()[0] == "| model | onnxruntime:cpu | native:cpu | coreml:cpu |"
    assert "| total | 2/2 ok | 2/2 ok | 0/2 ok |" in shown
    assert "unavailable [1]" in shown and "\n1. " in shown


def test_prepare_summary_counts_what_changed():
    script = _script()
    cell = script.Cell
    before = [cell("a", "ncnn:cpu", "refused", reason="x"), cell("b", "ncnn:cpu", "ok", err=1e-7),
              cell("a", "mnn:cpu", "ok", err=1e-7)]
    after = [cell("a", "ncnn:cpu", "ok", err=1e-7), cell("b", "ncnn:cpu", "WRONG", err=0.5),
             cell("a", "mnn:cpu", "ok", err=1e-7), cell("c", "mnn:cpu", "ok", err=1e-7)]
    rows = script.prepare_summary(before, after).splitlines()
    assert rows[2] == "| ncnn:cpu | 1/2 | 1/2 | a | b |"
    assert rows[3] == "| mnn:cpu | 1/1 | 1/1 | - | - |"  # c was not measured before: left out
