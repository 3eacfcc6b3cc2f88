"""A policy changes the chosen target as written, on real engines: prefer, deny, a model rule, FACADE_POLICY,
precision floors, per-target options and benchmark selection."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import facade
from facade.zoo import small as models

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(autouse=True)
def _no_ambient_policy(monkeypatch, tmp_path):
    monkeypatch.delenv("FACADE_POLICY", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


# Targets that convert the model (onnx2tf, pnnx, MNN) before their first run: tests that
# deny ONNX Runtime deny these too, so the next candidate is native:cpu without a conversion.
CONVERTING = '["litert:*", "ncnn:*", "mnn:*"]'


def chosen(policy=None, model=None, **kw) -> facade.Session:
    return facade.Session(model or models.conv_relu(), policy=policy, **kw)


def test_default_choice_without_policy():
    with chosen() as s:
        assert s.target == "onnxruntime:cpu"


def test_prefer_moves_a_target_first():
    with chosen({"prefer": ["native:cpu"]}) as s:
        assert s.target == "native:cpu"
        assert "preferred by policy top level" in " ".join(s.explain().entry("native:cpu").notes)


def test_deny_removes_a_target_and_explain_names_the_rule(tmp_path):
    path = tmp_path / "ops.toml"
    # The engines that convert first are denied at top level only to keep the test fast.
    path.write_text(f'deny = {CONVERTING}\n[[rules]]\nname = "no-ort"\nreason = "testing"\nmatch = {{ os = "*" }}\n'
                    'deny = ["onnxruntime:cpu"]\n')
    with chosen(path) as s:
        assert s.target == "native:cpu"
        entry = s.explain().entry("onnxruntime:cpu")
        assert entry.status == "rejected"
        assert f"rules[0] 'no-ort' ({path}:2): deny 'onnxruntime:cpu' (testing)" in entry.reason
        assert "rules that hold: top level, rules[0] 'no-ort'" in str(s.explain())


def test_a_model_rule_applies_only_to_its_model():
    policy = {"rules": [{"match": {"model": "conv_*"}, "prefer": ["native:cpu"]}]}
    with chosen(policy) as s:
        assert s.target == "native:cpu"
    with chosen(policy, models.two_outputs()) as s:
        assert s.target == "onnxruntime:cpu"
        assert "model ['conv_*'] vs ['two_outputs']" in s.explain().policy


def test_facade_policy_environment_variable(tmp_path, monkeypatch):
    path = tmp_path / "env.toml"
    path.write_text(f'deny = ["onnxruntime:*", {CONVERTING[1:-1]}]\n')
    monkeypatch.setenv("FACADE_POLICY", str(path))
    with chosen() as s:
        assert s.target == "native:cpu" and str(path) in s.explain().policy


def test_project_file_is_found_from_the_working_directory(tmp_path):
    (tmp_path / "facade.toml").write_text('prefer = ["native:cpu"]\n')
    with chosen() as s:
        assert s.target == "native:cpu"


def test_preferring_the_qnn_htp_simulator_routes_there_and_precision_never_goes_below_the_floor():
    model = models.conv_relu()
    with chosen({"prefer": ["onnxruntime:qnn-htp"]}, model) as s:
        assert s.target == "onnxruntime:qnn-htp"
        x = np.random.default_rng(0).standard_normal((1, 3, 8, 8)).astype(np.float32)
        y = s.run({"x": x})["y"]
    with facade.Session(model, target="onnxruntime:cpu") as ref:
        np.testing.assert_allclose(y, ref.run({"x": x})["y"], rtol=1e-3, atol=1e-3)
    with chosen({"prefer": ["onnxruntime:qnn-htp"], "precision": "fp32"}, model, precision="fp16") as s:
        assert s.precision == "fp32"  # the caller allowed fp16; the policy's floor holds it at fp32


def test_a_per_target_engine_option_reaches_the_execution_provider():
    """QNN's fp16 mode needs a SoC model: a per-target engine option carries it to the provider.

    In a child process: QNN's HTP backend keeps fp16 mode for the rest of the
    process once a session enables it (tests/adapters/test_onnxruntime.py).
    """
    code = """
import facade
from facade.zoo import small as models
fp16 = {"prefer": ["onnxruntime:qnn-htp"], "precision": "fp16",
        "targets": {"onnxruntime:qnn-htp": {"engine": {"soc_model": "60"}}}}
with facade.Session(models.conv_relu(), policy=fp16, precision="fp16") as s:
    print(s.target, s.precision)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-2:] == ["onnxruntime:qnn-htp", "fp16"]


def test_a_forced_target_still_obeys_deny():
    with pytest.raises(facade.TargetUnavailableError, match="denied by policy"):
        chosen({"deny": ["native:cpu"]}, target="native:cpu")


def test_per_target_options_reach_the_trace_and_the_engine():
    policy = {"targets": {"onnxruntime:cpu": {"threads": 1, "engine": {"unused": 1}}}}
    with chosen(policy) as s:
        assert s.explain().entry("onnxruntime:cpu").options == {"threads": 1, "engine": {"unused": 1}}


def test_benchmark_selection_times_candidates_picks_the_fastest_and_caches():
    with chosen({"select": "benchmark"}) as s:
        trace = s.explain()
    timed = {e.target: float(n.split("p50 ")[1].split(" ms")[0]) for e in trace.entries for n in e.notes
             if n.startswith("benchmark p50")}
    assert {"onnxruntime:cpu", "native:cpu"} <= set(timed)
    assert timed[s.target] == min(timed.values())  # ties (tiny model, rounded p50) may pick either
    assert "not benchmarked: software accelerator" in " ".join(trace.entry("onnxruntime:qnn-htp").notes)
    with chosen({"select": "benchmark"}) as again:
        assert all("cached" in n for e in again.explain().entries for n in e.notes if n.startswith("benchmark p50"))


def test_invalid_policy_fails_the_session():
    with pytest.raises(facade.PolicyError, match="Unknown key 'denny'"):
        chosen({"denny": ["native:cpu"]})


def test_examples_run_and_the_policy_changes_the_choice():
    done = subprocess.run([sys.executable, str(EXAMPLES / "explain_policy.py")], capture_output=True, text=True,
                          timeout=120, check=True)
    assert "without a policy: onnxruntime:cpu" in done.stdout
    assert "with ops_policy.toml: native:cpu" in done.stdout
    assert "small-models-in-house" in done.stdout
    facade.policy.load_policy(EXAMPLES / "ops_policy.toml")
