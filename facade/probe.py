"""Crash-isolated probing: load a tiny model on a risky target in a child process first.

On some devices merely loading a GPU or NPU driver (OpenCL, Vulkan, vendor
delegates) aborts or hangs the process. Targets whose catalogue entry says
``probe`` (a device API, or an NPU/GPU class) are therefore first loaded and run
in a child process with a timeout, through the real adapter. A crash (signal) or
a hang marks the target ``broken`` for this device fingerprint; the verdict is
kept on disk and trusted until the engine's version or the driver version
changes, so only the first session on a device pays for the probe.

Verdicts: ``ok`` (ran), ``broken`` (crashed or hung: never loaded in-process),
``error`` (raised an ordinary error: not a crash, so the in-process load may
try and fail gracefully). Only ``ok`` and ``broken`` are facts about the device
and are kept on disk; an ``error`` says as much about the software around the
driver (a missing module, a bad install) and is probed again by the next process.
Run as ``python -m facade.probe TARGET RESULT.json``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from facade.adapters import registry
from facade.adapters.catalogue import lookup
from facade.cache import atomic_write, cache_dir
from facade.devices import DeviceFacts
from facade.offline import child_env
from facade.versions import driver_version, engine_version

TIMEOUT_ENV = "FACADE_PROBE_TIMEOUT_S"
DEFAULT_TIMEOUT_S = 60.0  # QNN's HTP simulator needs a few seconds to load even a tiny graph
OK, BROKEN, ERROR = "ok", "broken", "error"


@dataclass(frozen=True)
class Verdict:
    """The outcome of one probe, and the versions it holds for."""

    target: str
    status: str
    reason: str
    engine_version: str
    driver_version: str
    seconds: float = 0.0
    cached: bool = False

    def __str__(self) -> str:
        return f"probe {self.status}{' (cached)' if self.cached else ''}: {self.reason}"


def needs_probe(target: str) -> bool:
    """Whether ``target`` is crash-prone and its adapter can be loaded in a child process."""
    info = lookup(target)
    return info.probe and not registry.in_process(info.engine)


def _path(target: str, facts: DeviceFacts) -> Path:
    return cache_dir("probes", facts.fingerprint) / f"{target.replace(':', '__')}.json"


def cached(target: str, facts: DeviceFacts) -> Verdict | None:
    """The stored verdict for ``target`` on this device, if it was made with today's engine and driver."""
    try:
        data = json.loads(_path(target, facts).read_text())
    except (OSError, ValueError):
        return None
    verdict = Verdict(**{**data, "cached": True})
    if (verdict.engine_version, verdict.driver_version) != (engine_version(lookup(target).engine),
                                                              driver_version(target, facts)):
        return None
    return verdict


def tiny_model() -> bytes:
    """Conv 3->4 (3x3) then Relu on 1x3x8x8: enough to make a driver compile and run a kernel."""
    w = np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["y"])],
        "facade_probe", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])], [numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString()


def _timeout() -> float:
    try:
        return float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_S))
    except ValueError:
        return DEFAULT_TIMEOUT_S


def _run_child(target: str, result: Path, timeout: float) -> tuple[str, str]:
    """Run the probe child; (status, reason) from its exit: a signal or a hang is ``broken``."""
    proc = subprocess.Popen([sys.executable, "-m", "facade.probe", target, str(result)], env=child_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return BROKEN, f"hung: no result within {timeout:g} s (killed)"
    tail = (err.strip().splitlines() or [""])[-1][:300]
    if proc.returncode < 0:
        name = signal.Signals(-proc.returncode).name
        return BROKEN, f"crashed with {name} while loading/running a tiny model" + (f" ({tail})" if tail else "")
    try:
        data = json.loads(result.read_text())
    except (OSError, ValueError):
        return BROKEN, f"exited with status {proc.returncode} and no result" + (f" ({tail})" if tail else "")
    return data["status"], data["reason"]


def probe(target: str, facts: DeviceFacts, timeout: float | None = None) -> Verdict:
    """Probe ``target`` in a child process now and store the verdict (atomically)."""
    path = _path(target, facts)
    result = path.with_name(f".{path.stem}.{os.getpid()}.result")
    start = time.perf_counter()
    try:
        status, reason = _run_child(target, result, _timeout() if timeout is None else timeout)
    finally:
        result.unlink(missing_ok=True)
    verdict = Verdict(target, status, reason, engine_version(lookup(target).engine), driver_version(target, facts),
                      round(time.perf_counter() - start, 3))
    if status == ERROR:
        path.unlink(missing_ok=True)
    else:
        atomic_write(path, json.dumps(asdict(verdict) | {"cached": False}, indent=1).encode())
    return verdict


def ensure(target: str, facts: DeviceFacts) -> Verdict | None:
    """The verdict for a crash-prone ``target`` (cached, else probed now); None for targets needing none."""
    if not needs_probe(target):
        return None
    return cached(target, facts) or probe(target, facts)


def _child(target: str, result: Path) -> None:
    """In the child: load and run the tiny model through the real adapter; report how it went."""
    from facade.adapters.base import LoadOptions
    from facade.inputs import seeded_feeds
    from facade.model import load_model

    engine, _, unit = target.partition(":")
    adapter = registry.get_adapter(engine)  # before lookup(): registers a third-party adapter's targets
    try:
        if adapter is None:
            raise LookupError(registry.broken().get(engine, f"no adapter for {engine!r}"))
        model = load_model(tiny_model())
        runner = adapter.load(model, unit, LoadOptions())
        runner.run(seeded_feeds(runner.inputs))
        runner.close()
        status, reason = OK, "loaded and ran a tiny model in a child process"
    except Exception as e:
        status, reason = ERROR, f"raised {type(e).__name__}: {str(e)[:300]} (no crash)"
    result.write_text(json.dumps({"status": status, "reason": reason}))


if __name__ == "__main__":
    _child(sys.argv[1], Path(sys.argv[2]))
