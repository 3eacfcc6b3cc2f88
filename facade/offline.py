"""Telemetry off in every engine that has it: facade promises that nothing it runs sends data out.

One table for the whole product: :func:`silence_this_process` applies it when ``facade`` is
imported (ONNX Runtime reads its switch when it starts, so the variable must be set before the
first ``import onnxruntime``: calling ``disable_telemetry_events()`` afterwards still leaves it
recording to ``~/.cache/Microsoft/DeveloperTools/.onnxruntime/onnxruntime.db``), and every child
process facade starts (converters, probes) inherits it through :func:`child_env`.

What was found, with ``strace -f -e trace=connect,sendto`` on ``facade convert --to tflite``:
  * ONNX Runtime >= 1.29's Linux wheels carry OneDS telemetry, on by default; it queues events
    in that database and uploads them in batches (DNS for ``mobile.events.data.microsoft.com``
    from ``onnxruntime_pybind11_state.so``). ``ORT_DISABLE_TELEMETRY=1`` is its switch.
  * onnx2tf downloads calibration sample images from GitHub for 3-channel image inputs unless
    the file is in its working directory (no switch): :mod:`facade.convert.onnx2tf` writes it.
  * Hugging Face Hub has its own switches; ``DO_NOT_TRACK`` is the cross-tool convention.
  * TensorFlow, pnnx and MNN's converter send nothing.
"""

from __future__ import annotations

import os

OFFLINE_ENV: dict[str, str] = {
    "ORT_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_OFFLINE": "1",
    "DO_NOT_TRACK": "1",
}


def silence_this_process() -> None:
    """Set every telemetry switch in this process's environment (before any engine is imported)."""
    os.environ.update(OFFLINE_ENV)


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a child process: the caller's, telemetry off, then ``extra``."""
    return {**os.environ, **OFFLINE_ENV, **(extra or {})}
