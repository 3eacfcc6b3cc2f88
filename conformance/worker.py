"""The child process that runs one (target, precision) column: ``python -m facade.conformance.worker T P``.

Why a child: an engine that aborts, segfaults or hangs takes only this process
down; the parent records the signal or the timeout and starts a fresh child for
the next case. The protocol is one JSON object per line: a hello on start, then
one reply per request read from stdin. Engines' own prints on file descriptor 1
are sent to stderr so they cannot corrupt the protocol.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np


def _reply(stream, message: dict) -> None:
    stream.write(json.dumps(message) + "\n")
    stream.flush()


def _hello(target: str) -> dict:
    from facade.adapters.catalogue import all_targets
    from facade.devices import devices
    from facade.errors import FacadeError
    from facade.router import target_availability

    try:
        all_targets()  # imports every registered adapter, so third-party targets are known by name
        avail, _, _ = target_availability(target, devices())
    except FacadeError as e:
        return {"hello": True, "available": False, "reason": str(e)}
    return {"hello": True, "available": avail.ok, "reason": avail.reason}


def run_case(target: str, precision: str, request: dict) -> dict:
    """Load the model on ``target`` with fallback off, run the feeds once, save the outputs."""
    from facade.errors import FacadeError, TargetError, TargetUnavailableError, UnsupportedModelError
    from facade.session import Session

    reply: dict = {"case": request["case"], "stage": "load"}
    try:
        start = time.perf_counter()
        with Session(request["model"], target=target, precision=precision, allow_fallback=False,
                     calibration=request.get("calibration")) as sess:
            loaded = time.perf_counter()
            reply["stage"] = "run"
            with np.load(request["feeds"], allow_pickle=True) as data:  # written by our parent
                feeds = {name: data[f"i{k}"] for k, name in enumerate(request["inputs"])}
            if request.get("strided"):  # npz stores contiguous arrays; a bad-input case asks for views
                feeds = {n: np.repeat(a, 2, axis=-1)[..., ::2] if a.ndim else a for n, a in feeds.items()}
            outputs = sess.run(feeds)
            reply["run_ms"] = (time.perf_counter() - loaded) * 1e3
            reply["load_ms"] = (loaded - start) * 1e3
            reply["engine_precision"] = sess.precision
        names = list(outputs)
        np.savez(request["out"], **{f"o{k}": np.asarray(outputs[n]) for k, n in enumerate(names)})
        reply.update(status="ok", outputs=names)
    except (TargetError, UnsupportedModelError) as e:
        # The router wraps an engine's own exception at load (not a FacadeError) as "unavailable":
        # for conformance that is an engine defect, so it is an error.
        defect = isinstance(e, TargetUnavailableError) and e.__cause__ is not None and not isinstance(
            e.__cause__, FacadeError)
        reply.update(status="error" if defect else "unavailable", error=str(e), kind=type(e).__name__,
                     facade=not defect)
    except Exception as e:  # any engine failure is a verdict, not the end of the column
        reply.update(status="error", error=f"{type(e).__name__}: {e}", kind=type(e).__name__,
                     facade=isinstance(e, FacadeError))
    return reply


def main(argv: list[str]) -> int:
    target, precision = argv
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    _reply(protocol, _hello(target))
    for line in sys.stdin:
        if line.strip():
            _reply(protocol, run_case(target, precision, json.loads(line)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
