"""Nothing facade runs opens a network socket: every conversion and every target's load and run.

Each case runs in a child process under ``strace -f -e trace=connect`` (all threads and
grandchildren: the converters run as children of the child), and any ``connect()`` to a
socket family other than AF_UNIX fails the test with the line strace printed. DNS
lookups show up here too: the resolver connects a UDP socket before it sends. This is how
ONNX Runtime's OneDS telemetry inside onnx2tf was found (:mod:`facade.offline`).

That telemetry uploads in batches, so one run may send nothing while still recording: each
case also runs with its own ``HOME`` and fails if ONNX Runtime created its telemetry store
there (``~/.cache/Microsoft/DeveloperTools/.onnxruntime``), which it does whenever it is on.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import onnx
import pytest

from facade.zoo.small import conv_relu

STRACE = shutil.which("strace")
pytestmark = pytest.mark.skipif(STRACE is None, reason="strace is not installed (scripts/setup installs it)")

UNAVAILABLE = 3  # the child's exit status when the target cannot run here
CONNECT = re.compile(r"connect\(\d+, \{sa_family=(\w+)")

SESSION_CHILD = """
import sys
import numpy as np
import facade
from facade.errors import TargetError
try:
    sess = facade.Session(sys.argv[1], target=sys.argv[2], allow_fallback=False)
except TargetError as e:
    print(e)
    sys.exit(3)
x = np.random.default_rng(0).standard_normal((1, 3, 8, 8)).astype(np.float32)
print(sess.run({"x": x})["y"].shape)
"""


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A model no cache has seen (its own seed) and a fresh cache, so conversions really run."""
    root = tmp_path_factory.mktemp("network")
    onnx.save(conv_relu(seed=4242), root / "m.onnx")
    return root


TELEMETRY_STORE = Path(".cache", "Microsoft")


def traced(argv: list[str], workdir: Path, name: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    """Run ``argv`` under strace; return the run and every connect() line outside AF_UNIX (and, as one
    more line, any telemetry store an engine created in the run's own home folder)."""
    log = workdir / f"{name}.strace"
    home = workdir / f"{name}.home"
    home.mkdir()
    env = {**_env(), "FACADE_CACHE_DIR": str(workdir / "cache"), "HOME": str(home)}
    done = subprocess.run([STRACE, "-f", "-qq", "-e", "trace=connect", "-o", str(log), *argv], cwd=workdir,
                          env=env, capture_output=True, text=True, timeout=540)
    lines = log.read_text().splitlines()
    calls = [ln for ln in lines if CONNECT.search(ln)]
    found = [ln for ln in calls if CONNECT.search(ln).group(1) != "AF_UNIX"]
    store = home / TELEMETRY_STORE
    if store.exists():
        found.append(f"telemetry store created: {sorted(str(p.relative_to(home)) for p in store.rglob('*'))}")
    return done, found


def _env() -> dict[str, str]:
    import os

    # The user's environment as it is: no telemetry switch set here, facade must set its own.
    return {k: v for k, v in os.environ.items() if "TELEMETRY" not in k and k != "DO_NOT_TRACK"}


@pytest.mark.parametrize("fmt", ["mnn", "ncnn", "tflite"])
def test_a_conversion_connects_nowhere(workdir, fmt):
    facade_cli = [sys.executable, "-c", "import sys; from facade.cli import main; sys.exit(main(sys.argv[1:]))"]
    done, network = traced([*facade_cli, "convert", "m.onnx", "--to", fmt, "--out", f"out.{fmt}"], workdir,
                           f"convert-{fmt}")
    if done.returncode != 0 and ("not installed" in done.stdout + done.stderr):
        pytest.skip(f"the {fmt} converter is not installed here: {done.stderr.strip()[-200:]}")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert not network, f"facade convert --to {fmt} connected to the network:\n" + "\n".join(network)


TARGETS = ["onnxruntime:cpu", "onnxruntime:qnn-htp", "native:cpu", "native:opencl", "ncnn:cpu", "ncnn:vulkan",
           "mnn:cpu", "litert:cpu"]


@pytest.mark.parametrize("target", TARGETS)
def test_a_session_load_and_run_connects_nowhere(workdir, target):
    done, network = traced([sys.executable, "-c", SESSION_CHILD, str(workdir / "m.onnx"), target], workdir,
                           f"session-{target.replace(':', '-')}")
    if done.returncode == UNAVAILABLE:
        pytest.skip(f"{target} is not available here: {done.stdout.strip()[-300:]}")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "(1, 4, 8, 8)" in done.stdout
    assert not network, f"a Session on {target} connected to the network:\n" + "\n".join(network)
