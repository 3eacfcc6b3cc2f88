"""The CLI calls only the public library; each command has a human and a --json form."""

import json

import pytest

from facade.cli import main
from facade.zoo import model_path
from facade.zoo import small as models

DESIGN_TARGETS = {
    "onnxruntime:cpu", "onnxruntime:qnn-htp", "onnxruntime:qnn-gpu", "onnxruntime:nnapi", "onnxruntime:coreml",
    "litert:cpu", "litert:gpu", "litert:nnapi", "ncnn:cpu", "ncnn:vulkan", "mnn:cpu", "mnn:opencl", "mnn:vulkan",
    "mnn:metal", "coreml:cpu", "coreml:all", "coreml:ane", "snpe:cpu", "snpe:gpu", "snpe:dsp", "native:cpu",
    "native:opencl",
}


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "conv_relu.onnx"
    path.write_bytes(models.conv_relu().SerializeToString())
    return path


def run_json(capsys, *argv):
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_targets_json_lists_every_design_target_with_a_reason(capsys):
    rows = {r["target"]: r for r in run_json(capsys, "targets")}
    assert set(rows) >= DESIGN_TARGETS
    assert all(isinstance(r["available"], bool) and r["reason"] for r in rows.values())
    assert rows["onnxruntime:cpu"]["available"] and rows["native:cpu"]["available"]
    assert not rows["coreml:ane"]["available"] and "macOS" in rows["coreml:ane"]["reason"]
    assert rows["ncnn:vulkan"]["hardware"] == "software"


def test_targets_table(capsys):
    assert main(["targets"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["target", "available", "class", "probe", "reason"]


def test_devices(capsys):
    data = run_json(capsys, "devices")
    assert data["fingerprint"] and data["cores"] >= 1
    assert main(["devices"]) == 0 and "fingerprint" in capsys.readouterr().out


def test_run_with_input_file_and_save(capsys, tmp_path, model_file):
    import numpy as np

    x = np.ones((1, 3, 8, 8), np.float32)
    np.save(tmp_path / "x.npy", x)
    data = run_json(capsys, "run", str(model_file), "--input", f"x={tmp_path / 'x.npy'}",
                    "--target", "onnxruntime:cpu", "--save", str(tmp_path / "out"))
    assert data["target"] == "onnxruntime:cpu" and data["outputs"]["y"]["shape"] == [1, 4, 8, 8]
    assert np.load(tmp_path / "out" / "y.npy").shape == (1, 4, 8, 8)
    assert data["inputs"] == {"given": {"x": str(tmp_path / "x.npy")}, "random": []}


def test_run_says_which_inputs_it_made_up(capsys, model_file):
    assert main(["run", str(model_file), "--target", "onnxruntime:cpu"]) == 0
    out = capsys.readouterr().out
    assert "inputs x: seeded random values (seed 0); pass --input x=FILE.npy" in out


def test_explain(capsys, model_file):
    data = run_json(capsys, "explain", str(model_file))
    assert data["chosen"] == "onnxruntime:cpu"
    assert main(["explain", str(model_file)]) == 0 and "chosen: onnxruntime:cpu" in capsys.readouterr().out


def test_user_errors_exit_2_with_one_line(capsys, tmp_path, model_file):
    assert main(["run", str(tmp_path / "missing.onnx")]) == 2
    assert "facade: error:" in capsys.readouterr().err
    assert main(["run", str(model_file), "--target", "ncnn:vulcan", "--json"]) == 2
    err = json.loads(capsys.readouterr().out)["error"]
    assert err["type"] == "UnknownTargetError" and "ncnn:vulkan" in err["message"]
    assert main(["run", str(model_file), "--input", "x"]) == 2
    assert "NAME=FILE.npy" in capsys.readouterr().err


def test_demo_routes_runs_and_agrees_with_native(capsys):
    data = run_json(capsys, "demo", "--repeat", "2")
    assert data["target"] == "onnxruntime:cpu" and data["latency_ms_median"] > 0
    assert data["agreement_with_native"]["output"] < 1e-4
    assert model_path("mobilenet_v2").exists()


def test_run_input_errors_say_what_the_user_passed_and_what_was_filled(capsys, tmp_path):
    import numpy as np

    model = tmp_path / "two_inputs.onnx"
    model.write_bytes(models.two_inputs().SerializeToString())
    np.save(tmp_path / "x.npy", np.ones((1, 4, 8), np.float32))
    np.save(tmp_path / "small.npy", np.ones((1, 4, 2), np.float32))
    run = ["run", str(model), "--target", "onnxruntime:cpu"]

    assert main([*run, "--input", f"z={tmp_path / 'x.npy'}"]) == 2
    err = capsys.readouterr().err
    assert f"--input z={tmp_path / 'x.npy'} | The model has no input named 'z'" in err
    assert "Received: --input for ['z']" in err and "['a', 'b']" in err  # never the auto-filled names as received

    assert main([*run, "--input", f"a={tmp_path / 'small.npy'}"]) == 2
    err = capsys.readouterr().err
    assert "Input 'a'" in err
    assert f"Passed with --input: a from {tmp_path / 'small.npy'}; filled with seeded random values: b." in err


@pytest.mark.parametrize("target,chatter", [("mnn:cpu", "The device supports"), ("ncnn:vulkan", "llvmpipe")])
def test_engine_chatter_is_logged_not_printed_and_shown_by_verbose(model_file, target, chatter):
    """Engines print once per process (device dumps, CPU features), so each run is a fresh process."""
    import subprocess
    import sys

    def facade(*argv: str) -> subprocess.CompletedProcess:
        code = "import sys; from facade.cli import main; sys.exit(main(sys.argv[1:]))"
        return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120,
                              check=False)

    quiet = facade("run", str(model_file), "--target", target, "--json")
    assert quiet.returncode == 0, quiet.stderr
    assert json.loads(quiet.stdout)["target"] == target
    assert chatter not in quiet.stderr and not quiet.stderr.strip(), quiet.stderr
    verbose = facade("-v", "run", str(model_file), "--target", target)
    assert verbose.returncode == 0 and chatter in verbose.stderr, verbose.stderr

