"""CONTRACT TESTS for the ``snpe:*`` targets: SNPE itself never runs here.

No Qualcomm SDK exists on this machine. These tests point ``SNPE_ROOT`` at a test
double of the SDK (tests/adapters/snpe_sdk_double: executables that check flags,
input lists and raw files as the SDK documents them and compute with ONNX Runtime)
and prove that facade writes and reads SNPE's command and file contract: the input
list, float32 little-endian raw files, NHWC for 4-D tensors, ``Result_0/<name>.raw``
read back into the ONNX contract, errors, and the runtime flag per unit. They say
nothing about SNPE's numerics and never count as the engine having run.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

import facade
from adapters.snpe import result_file
from facade.cli import main
from facade.devices import devices
from facade.errors import FacadeError
from facade.inputs import seeded_feeds
from facade.metrics import relative_max_error
from facade.router import target_availability
from facade.zoo import small as models
from tests.adapters.snpe_sdk_double import ARCH_DIR, LOG_ENV, RUNTIMES_ENV, install


@pytest.fixture
def sdk(tmp_path, monkeypatch) -> Path:
    """SNPE_ROOT -> a fresh double SDK; its own artifact cache; each snpe-net-run call logged."""
    root = install(tmp_path / "qairt-2.39.0-test-double")
    monkeypatch.setenv("SNPE_ROOT", str(root))
    monkeypatch.setenv("FACADE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv(LOG_ENV, str(tmp_path / "net-run.log"))
    devices.cache_clear()  # the SDK is a device fact (accelerator "snpe"): detect it again, and again after
    yield root
    devices.cache_clear()


def calls(sdk: Path) -> list[dict]:
    log = sdk.parent / "net-run.log"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def reference(proto, feeds):
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in proto.graph.output], sess.run(None, feeds), strict=True))


def odd_names_model():
    """A 4-D input and two outputs whose names hold ``:`` and ``/`` (as TF- and torch-exported graphs do)."""
    return helper.make_model(helper.make_graph(
        [helper.make_node("Relu", ["image:0"], ["/head/relu:0"]),
         helper.make_node("ReduceMean", ["image:0"], ["pooled"], axes=[2, 3], keepdims=0)],
        "odd_names", [helper.make_tensor_value_info("image:0", TensorProto.FLOAT, [1, 3, 4, 5])],
        [helper.make_tensor_value_info("/head/relu:0", TensorProto.FLOAT, [1, 3, 4, 5]),
         helper.make_tensor_value_info("pooled", TensorProto.FLOAT, [1, 3])]),
        opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def test_contract_input_list_and_raw_files_are_written_as_documented(sdk):
    proto = models.cnn(seed=41)
    sess = facade.Session(proto, target="snpe:cpu")
    feeds = seeded_feeds(sess.inputs, seed=3)
    sess.run(feeds)
    call = calls(sdk)[-1]
    listing = call["input_list"]
    assert len(listing) == 1, "one line per inference"
    name, sep, path = listing[0].partition(":=")
    assert (name, sep) == ("x", ":=") and " " not in path
    raw = bytes.fromhex(call["inputs"][path])
    assert len(raw) == feeds["x"].size * 4
    nhwc = np.frombuffer(raw, dtype="<f4").reshape(1, 16, 16, 3)  # float32 little-endian, channels last
    np.testing.assert_array_equal(nhwc, feeds["x"].transpose(0, 2, 3, 1))


def test_contract_two_inputs_are_one_line_of_name_path_pairs(sdk):
    proto = models.two_inputs()
    sess = facade.Session(proto, target="snpe:cpu")
    feeds = seeded_feeds(sess.inputs, seed=5)
    got = sess.run(feeds)
    pairs = calls(sdk)[-1]["input_list"][0].split(" ")
    assert [p.partition(":=")[0] for p in pairs] == [i.name for i in proto.graph.input]
    for k, v in reference(proto, feeds).items():
        assert relative_max_error(got[k], v) <= 1e-4


def test_contract_outputs_are_read_back_from_result_0_into_the_onnx_contract(sdk):
    proto = models.cnn(batch="N", seed=42)
    sess = facade.Session(proto, target="snpe:cpu")
    feeds = seeded_feeds(sess.inputs, seed=9, dynamic=2)
    got = sess.run(feeds)
    assert list(got) == ["logits", "features"]  # ONNX order and names
    want = reference(proto, feeds)
    assert got["features"].shape == (2, 6, 8, 8)  # NCHW again, batch of two run as two inferences
    for k, v in want.items():
        assert got[k].dtype == v.dtype and relative_max_error(got[k], v) <= 1e-4


def test_contract_output_names_with_colon_and_slash(sdk):
    proto = odd_names_model()
    sess = facade.Session(proto, target="snpe:cpu")
    feeds = seeded_feeds(sess.inputs, seed=1)
    got = sess.run(feeds)
    assert list(got) == ["/head/relu:0", "pooled"]
    for k, v in reference(proto, feeds).items():
        assert got[k].shape == v.shape and relative_max_error(got[k], v) <= 1e-4


def test_contract_result_file_accepts_the_sanitized_spelling(tmp_path):
    (tmp_path / "head").mkdir()
    (tmp_path / "head" / "relu:0.raw").write_bytes(b"")
    (tmp_path / "_tail_out_0.raw").write_bytes(b"")
    assert result_file(tmp_path, "/head/relu:0") == tmp_path / "head" / "relu:0.raw"
    assert result_file(tmp_path, "/tail/out:0") == tmp_path / "_tail_out_0.raw"
    assert result_file(tmp_path, "missing") is None


def test_contract_nonzero_exit_is_a_facade_error_with_the_stderr_tail(sdk, monkeypatch):
    monkeypatch.setenv(RUNTIMES_ENV, "cpu")
    with pytest.raises(FacadeError) as err:
        facade.Session(models.cnn(seed=43), target="snpe:gpu")
    message = str(err.value)
    assert "snpe:gpu" in message and "snpe-net-run exited with 1" in message
    assert "the GPU runtime is not present on this device" in message  # the double's stderr, quoted
    sess = facade.Session(models.cnn(seed=43), target="snpe:cpu")
    verdicts = facade.convert.cache.lookup(sess.model, facade.convert.get_converter("snpe-onnx-to-dlc"), {}).verdicts
    assert list(verdicts) == ["snpe:cpu@fp32"], "a runtime the device lacks is no verdict on the artifact"


@pytest.mark.parametrize(("unit", "flags"), [("cpu", []), ("gpu", ["--use_gpu"]), ("dsp", ["--use_dsp"])])
def test_contract_runtime_flag_per_unit(sdk, unit, flags):
    sess = facade.Session(models.cnn(seed=44), target=f"snpe:{unit}")
    sess.run(seeded_feeds(sess.inputs, seed=0))
    argv = calls(sdk)[-1]["argv"]
    assert [a for a in argv if a.startswith("--use_")] == flags
    assert argv[argv.index("--container") + 1].endswith(".dlc")
    assert {"--input_list", "--output_dir"} <= set(argv)


def test_contract_missing_sdk_is_unavailable_with_the_reason(monkeypatch, capsys):
    monkeypatch.delenv("SNPE_ROOT", raising=False)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    devices.cache_clear()
    try:
        for unit in ("cpu", "gpu", "dsp"):
            avail, _, _ = target_availability(f"snpe:{unit}", devices())
            assert not avail and "SNPE SDK is not installed (SNPE_ROOT is not set" in avail.reason
        assert main(["targets", "--json"]) == 0
        rows = {r["target"]: r for r in json.loads(capsys.readouterr().out)}
        assert not rows["snpe:cpu"]["available"] and "SNPE_ROOT is not set" in rows["snpe:cpu"]["reason"]
        sess = facade.Session(models.cnn(seed=45))  # routing never picks snpe without the SDK
        assert not sess.target.startswith("snpe")
        assert "SNPE SDK is not installed" in sess.explain().entry("snpe:cpu").reason
        with pytest.raises(FacadeError, match="SNPE SDK is not installed"):
            facade.Session(models.cnn(seed=45), target="snpe:cpu")
    finally:
        devices.cache_clear()


def test_contract_sdk_root_without_the_tool_names_the_missing_path(tmp_path, monkeypatch):
    monkeypatch.setenv("SNPE_ROOT", str(tmp_path))
    avail, _, _ = target_availability("snpe:cpu", devices())
    assert not avail and f"bin/{ARCH_DIR}/snpe-net-run" in avail.reason


def _net_run(sdk: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(sdk / "bin" / ARCH_DIR / "snpe-net-run"), *args], capture_output=True, text=True)


def test_contract_the_double_rejects_what_the_sdk_rejects(sdk, tmp_path):
    """The double must be strict, or the contract tests above could not fail."""
    dlc = tmp_path / "m.dlc"
    src = tmp_path / "m.onnx"
    src.write_bytes(models.conv_relu().SerializeToString())
    assert subprocess.run([str(sdk / "bin" / ARCH_DIR / "snpe-onnx-to-dlc"), "-i", str(src), "-o", str(dlc)],
                          capture_output=True).returncode == 0
    good = tmp_path / "x.raw"
    np.zeros((1, 8, 8, 3), "<f4").tofile(good)
    short = tmp_path / "short.raw"
    np.zeros(10, "<f4").tofile(short)
    cases = {
        "missing required argument --input_list": ["--container", str(dlc)],
        "unknown option '--use_gpu_fp16'": ["--container", str(dlc), "--input_list", "L", "--use_gpu_fp16"],
        "is not <input name>:=<path>": f"x:={good} {good}",
        "do not match the network's": f"y:={good}",
        "has 40 bytes; float32 [1, 8, 8, 3] needs 768": f"x:={short}",
        "names outputs the network lacks": f"%nope\nx:={good}",
    }
    for expected, case in cases.items():
        argv = case
        if isinstance(case, str):
            (tmp_path / "list.txt").write_text(case + "\n")
            argv = ["--container", str(dlc), "--input_list", str(tmp_path / "list.txt")]
        done = _net_run(sdk, *argv)
        assert done.returncode != 0 and expected in done.stderr, (expected, done.stderr)
    (tmp_path / "list.txt").write_text(f"x:={good}\n")
    ok = _net_run(sdk, "--container", str(dlc), "--input_list", str(tmp_path / "list.txt"),
                  "--output_dir", str(tmp_path / "out"))
    assert ok.returncode == 0 and (tmp_path / "out" / "Result_0" / "y.raw").stat().st_size == 4 * 8 * 8 * 4
