"""``facade policy check``, ``facade explain --policy`` and ``facade bench`` through the real CLI."""

import json
import re

import pytest

from facade.cli import main
from facade.zoo import small as models


@pytest.fixture
def model_path(tmp_path, monkeypatch):
    monkeypatch.delenv("FACADE_POLICY", raising=False)
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "conv_relu.onnx"
    path.write_bytes(models.conv_relu().SerializeToString())
    return path


def test_policy_check_accepts_a_valid_file_and_shows_which_rules_hold(tmp_path, capsys):
    path = tmp_path / "ok.toml"
    path.write_text('prefer = ["native:cpu"]\n[[rules]]\nname = "droid"\nmatch = { os = "android" }\n'
                    'deny = ["*:opencl"]\n')
    assert main(["policy", "check", str(path), "--json"]) == 0
    rows = {r["rule"]: r for r in json.loads(capsys.readouterr().out)["rules"]}
    assert rows["top level"]["holds_here"] and rows["top level"]["prefer"] == ["native:cpu"]
    assert not rows["rules[0] 'droid'"]["holds_here"] and rows["rules[0] 'droid'"]["line"] == 2


def test_policy_check_rejects_a_typo_with_its_line(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text('deny = ["native:opencl"]\nselcet = "benchmark"\n')
    assert main(["policy", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:2 |" in err and "'selcet'" in err and "Did you mean 'select'" in err


def test_explain_with_policy_shows_the_rule_that_decided(model_path, tmp_path, capsys):
    path = tmp_path / "ops.toml"
    path.write_text('deny = ["onnxruntime:cpu", "litert:*", "ncnn:*", "mnn:*"]\n')  # no conversion: fast
    assert main(["explain", str(model_path), "--policy", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["chosen"] == "native:cpu"
    denied = next(e for e in data["rejected"] if e["target"] == "onnxruntime:cpu")
    assert "denied by policy top level" in denied["reason"]


def test_bench_prints_a_row_per_target_and_plots_svg(model_path, tmp_path, capsys):
    out = tmp_path / "bench.svg"
    assert main(["bench", str(model_path), "--targets", "onnxruntime:cpu", "--targets", "native:cpu", "--budget", "0.1",
                 "--json", "--plot", str(out)]) == 0
    captured = capsys.readouterr()
    rows = {r["target"]: r for r in json.loads(captured.out)["results"]}
    assert set(rows) == {"onnxruntime:cpu", "native:cpu"}
    for r in rows.values():
        assert r["ok"] and r["runs"] >= 3 and 0 < r["p50_ms"] <= r["p90_ms"]
        assert r["load_s"] > 0 and r["conversion_s"] == 0 and r["peak_mem_mib"] >= 0
    assert rows["onnxruntime:cpu"]["peak_mem_mib"] > 0, rows  # importing the engine alone grows the resident set
    # Not a terminal: one plain line per step, no carriage-return frames.
    assert "[1/2] onnxruntime:cpu: p50 " in captured.err and "[2/2] native:cpu: p50 " in captured.err
    assert "\r" not in captured.err
    svg = out.read_text()
    assert "<svg" in svg and "onnxruntime:cpu" in svg and "native:cpu" in svg  # matplotlib writes an XML prolog first


@pytest.mark.parametrize("argv,says", [
    (["--targets", "onnxruntime:cpu,tensorrt:gpu"], "--targets tensorrt:gpu | Unknown target name"),
    (["--targets", "onnxruntime:cpu", "--targets", "ncnn:gpu"], "Did you mean 'ncnn:vulkan'?"),
    (["--plot", "out.gif"], "Unsupported plot file type"),
    (["--plot", "no/such/folder/out.svg"], "The output folder does not exist"),
    (["--targets", "onnxruntime:coreml,native:cpu"], "onnxruntime:coreml (Core ML exists only on macOS"),
])
def test_bench_checks_its_options_before_measuring_anything(model_path, capsys, argv, says):
    assert main(["bench", str(model_path), "--budget", "0.05", *argv, "--json"]) == 2
    captured = capsys.readouterr()
    assert says in json.loads(captured.out)["error"]["message"]
    assert not re.search(r"\] \d+/\d+", captured.err)  # no progress line: no target was measured


def test_bench_png_without_matplotlib_says_how_to_get_it(model_path, tmp_path, capsys):
    import importlib.util

    if importlib.util.find_spec("matplotlib") is not None:
        pytest.skip("matplotlib is installed: PNG plots work")
    assert main(["bench", str(model_path), "--targets", "native:cpu", "--budget", "0.05",
                 "--plot", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert "pip install 'facade-runtime[plot]'" in err
    assert not re.search(r"\] \d+/\d+", err)  # refused before the benchmark, not after it


def test_conformance_checks_targets_and_out_folder_before_running(model_path, tmp_path, capsys):
    run = ["conformance", "run", str(model_path), "--no-store", "--no-progress"]
    assert main([*run, "--targets", "onnxruntime:cpu", "--targets", "tensorrt:gpu@fp16",
                 "--out", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err
    assert "--targets tensorrt:gpu | Unknown target name" in err and "Unknown engine 'tensorrt'; engines:" in err
    assert main([*run, "--targets", "onnxruntime:cpu", "--out", str(tmp_path / "missing" / "r.json")]) == 2
    assert "The output folder does not exist" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()


def test_conformance_takes_repeated_and_comma_separated_targets(model_path, tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["conformance", "run", str(model_path), "--targets", "onnxruntime:cpu", "--targets",
                 "native:cpu,onnxruntime:cpu@fp16", "--out", str(out), "--no-store", "--no-progress", "--json"]) == 0
    capsys.readouterr()
    results = json.loads(out.read_text())["runs"][0]["results"]
    assert {(r["target"], r["precision"]) for r in results} == {
        ("onnxruntime:cpu", "fp32"), ("native:cpu", "fp32"), ("onnxruntime:cpu", "fp16")}


def test_policy_check_json_lists_every_problem(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text('selcet = "benchmark"\nprecision = "fp8"\ndeny = ["tensorrt:gpu"]\n')
    assert main(["policy", "check", str(path), "--json"]) == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["type"] == "PolicyProblems" and len(error["problems"]) == 3
    assert [p.split(" |")[0] for p in error["problems"]] == [f"{path}:{n}" for n in (1, 2, 3)]


@pytest.mark.parametrize("policy,says", [
    (None, "first in the default order (NPU > GPU > CPU engines"),
    ('prefer = ["native:cpu"]\n', "preferred by policy top level"),
    ('select = "benchmark"\ndeny = ["litert:*", "ncnn:*", "mnn:*"]\n', "fastest measured: "),
])
def test_explain_says_why_the_winner_won(model_path, tmp_path, capsys, policy, says):
    argv = ["explain", str(model_path), "--json"]
    if policy:
        (tmp_path / "ops.toml").write_text(policy)
        argv += ["--policy", str(tmp_path / "ops.toml")]
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    winner = next(e for e in data["candidates"] if e["status"] == "chosen")
    assert winner["reason"].startswith(says), winner
    losers = {e["reason"] for e in data["candidates"] if e["status"] == "candidate"}
    assert winner["reason"] not in losers and winner["notes"]  # what made it available is kept, in its notes
    if "fastest" in says:
        rival = min((e for e in data["candidates"] if e["p50_ms"] is not None and e is not winner),
                    key=lambda e: e["p50_ms"])
        assert f"vs {rival['p50_ms']:.2f} ms ({rival['target']})" in winner["reason"]


def test_explain_of_a_forced_target_says_it_was_forced(model_path, capsys):
    assert main(["explain", str(model_path), "--target", "native:cpu", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["candidates"][0]["reason"] == "forced by the caller (target='native:cpu')"
