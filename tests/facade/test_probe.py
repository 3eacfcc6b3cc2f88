"""Crash-isolated probing with a real child process: a driver that aborts or hangs never takes the app down.

The crashing adapter lives in ``probe_adapter/`` and is registered through the
``facade.adapters`` entry-point group; it is put on PYTHONPATH only for the child
"app" processes these tests start, so it never reaches this pytest process.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from facade.zoo import small as models

ADAPTER_DIR = Path(__file__).with_name("probe_adapter")
APP = """
import json, sys
import facade
with facade.Session(sys.argv[1]) as s:
    trace = s.explain()
    print(json.dumps({"target": s.target, "entries": {e.target: [e.status, e.reason] for e in trace.entries}}))
"""
CLI = "import sys; from facade.cli import main; sys.exit(main(sys.argv[1:]))"


@pytest.fixture
def app_env(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ADAPTER_DIR), os.environ.get("PYTHONPATH", "")]),
               FACADE_CACHE_DIR=str(tmp_path / "cache"), FACADE_TEST_PROBE_LOG=str(tmp_path / "probes.log"),
               FACADE_PROBE_TIMEOUT_S="3")
    env.pop("FACADE_POLICY", None)
    model = tmp_path / "conv_relu.onnx"
    model.write_bytes(models.conv_relu().SerializeToString())
    return env, model, tmp_path / "probes.log"


def _app(env, model) -> dict:
    done = subprocess.run([sys.executable, "-c", APP, str(model)], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr  # the app itself survived the abort and the hang
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_crashing_and_hanging_drivers_are_isolated_then_skipped_without_probing_again(app_env):
    env, model, log = app_env
    first = _app(env, model)
    assert first["target"] == "onnxruntime:cpu"
    status, reason = first["entries"]["probetest:abort"]
    assert status == "failed" and "SIGABRT" in reason
    status, reason = first["entries"]["probetest:hang"]
    assert status == "failed" and "hung" in reason
    assert sorted(_loads(log, "abort", "hang")) == ["abort", "hang"]

    second = _app(env, model)
    assert second["target"] == "onnxruntime:cpu"
    for target in ("probetest:abort", "probetest:hang"):
        status, reason = second["entries"][target]
        assert status == "rejected" and "(cached)" in reason and "not probed again" in reason
    assert len(_loads(log, "abort", "hang")) == 2  # no new probe child loaded the adapter


def _loads(log: Path, *units: str) -> list[str]:
    return [line.split()[0] for line in log.read_text().splitlines() if line.split()[0] in units]


def test_an_ordinary_error_fails_the_target_but_is_no_device_fact_kept_on_disk(app_env):
    env, model, log = app_env
    for _ in range(2):
        status, reason = _app(env, model)["entries"]["probetest:raise"]
        assert status == "failed" and "the test driver refuses this device" in reason
        assert not list(Path(env["FACADE_CACHE_DIR"]).rglob("probetest__raise.json"))
    assert len(_loads(log, "raise")) == 4  # each process probes again, then tries in-process and fails cleanly


def test_facade_targets_shows_the_verdict(app_env):
    env, model, _ = app_env
    _app(env, model)
    done = subprocess.run([sys.executable, "-c", CLI, "targets", "--json"], env=env,
                          capture_output=True, text=True, timeout=60, check=True)
    rows = {r["target"]: r for r in json.loads(done.stdout)}
    assert rows["probetest:abort"]["probe"] == "broken" and "SIGABRT" in rows["probetest:abort"]["probe_reason"]
    assert rows["probetest:hang"]["probe"] == "broken"
    assert rows["onnxruntime:cpu"]["probe"] == "-"  # a plain CPU engine needs no probe


def test_test_adapter_is_not_a_product_target():
    import facade

    assert not any(t.startswith("probetest:") for t in facade.all_targets())


def test_a_new_engine_version_invalidates_the_verdict(tmp_path, monkeypatch):
    from facade import probe
    from facade.devices import devices

    monkeypatch.setenv("FACADE_CACHE_DIR", str(tmp_path))
    facts = devices()
    verdict = probe.probe("onnxruntime:qnn-htp", facts)
    assert verdict.status == probe.OK, verdict.reason
    assert probe.cached("onnxruntime:qnn-htp", facts).cached
    path = next((tmp_path / "probes").rglob("*.json"))
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "engine_version": "onnxruntime==0.0.1"}))
    assert probe.cached("onnxruntime:qnn-htp", facts) is None
