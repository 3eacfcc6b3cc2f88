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
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from facade import childproc
from facade.adapters import registry
from facade.adapters.catalogue import lookup
from facade.cache import atomic_write, cache_dir
from facade.devices import DeviceFacts
from facade.versions import driver_version, engine_version

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


def _run_child(target: str, result: Path, timeout: float) -> tuple[str, str]:
    """Run the probe child; (status, reason) from its exit: a signal or a hang is ``broken``."""
    done = childproc.run([sys.executable, "-m", "facade.probe", target, str(result)], timeout_s=timeout)
    if done.hung:
        return BROKEN, f"hung: no result within {timeout:g} s (killed)"
    tail = done.last_line()
    if done.signal:
        return BROKEN, f"crashed with {done.signal} while loading/running a tiny model" + (f" ({tail})" if tail else "")
    try:
        data = json.loads(result.read_text())
    except (OSError, ValueError):
        return BROKEN, f"exited with status {done.returncode} and no result" + (f" ({tail})" if tail else "")
    return data["status"], data["reason"]


def probe(target: str, facts: DeviceFacts, timeout: float | None = None) -> Verdict:
    """Probe ``target`` in a child process now and store the verdict (atomically)."""
    path = _path(target, facts)
    result = path.with_name(f".{path.stem}.{os.getpid()}.result")
    start = time.perf_counter()
    try:
        status, reason = _run_child(target, result, childproc.timeout("probe") if timeout is None else timeout)
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
    from facade.zoo.small import conv_relu

    engine, _, unit = target.partition(":")
    adapter = registry.get_adapter(engine)  # before lookup(): registers a third-party adapter's targets
    try:
        if adapter is None:
            raise LookupError(registry.broken().get(engine, f"no adapter for {engine!r}"))
        model = load_model(conv_relu())  # a tiny model: enough to make a driver compile and run a kernel
        runner = adapter.load(model, unit, LoadOptions())
        runner.run(seeded_feeds(runner.inputs))
        runner.close()
        status, reason = OK, "loaded and ran a tiny model in a child process"
    except Exception as e:
        status, reason = ERROR, f"raised {type(e).__name__}: {str(e)[:300]} (no crash)"
    result.write_text(json.dumps({"status": status, "reason": reason}))


if __name__ == "__main__":
    _child(sys.argv[1], Path(sys.argv[2]))
