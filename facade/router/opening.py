"""Opening: load the ranked candidates in order, fall back when allowed, and record every failure."""

from __future__ import annotations

import logging

from facade.adapters import registry
from facade.adapters.base import Adapter, Runner
from facade.adapters.catalogue import lookup
from facade.devices import devices
from facade.errors import (
    FacadeError,
    FacadeInternalError,
    NoTargetError,
    TargetUnavailableError,
    format_message,
)
from facade.model import Model
from facade.quantization import gate
from facade.router import steps
from facade.targets import LoadOptions
from facade.trace import FAILED, Trace

log = logging.getLogger("facade.router")


def open_runner(trace: Trace, model: Model, options: LoadOptions, *, allow_fallback: bool = True) -> Runner:
    """Load the ranked candidates in order until one works; record every failure in ``trace``.

    Raises:
        NoTargetError: no candidate loaded; the message lists every target and why.
    """
    failures: list[Exception] = []
    for entry in trace.ranked():
        info = lookup(entry.target)
        adapter: Adapter = registry.get_adapter(info.engine)
        try:
            if not steps.safe_to_load(entry, devices()):
                raise TargetUnavailableError(format_message(entry.reason, where=entry.target))
            opts = steps.load_options(entry, options)
            # fp16 with calibration data at hand is judged on it like int8 (facade.quantization.gate)
            runner = gate.checked(adapter.load(model, info.unit, opts), model, opts,
                                  lambda fp: adapter.load(model, info.unit, fp))  # noqa: B023 (called at once)
        except FacadeInternalError:
            raise
        except Exception as e:  # engine errors become a recorded failure, never a crash of the caller
            entry.status = FAILED
            message = str(e).removeprefix(f"{entry.target} | ")
            entry.reason = f"load failed: {message if isinstance(e, FacadeError) else f'{type(e).__name__}: {e}'}"
            failures.append(e)
            log.warning("facade: %s failed to load %s (%s); %s", entry.target, model.name, entry.reason,
                        "trying the next target" if allow_fallback else "fallback disabled")
            if not allow_fallback:
                if isinstance(e, FacadeError):
                    raise
                raise TargetUnavailableError(format_message(entry.reason, where=entry.target)) from e
            continue
        trace.choose(entry)
        entry.notes.extend(runner.notes)
        runner.notes = entry.notes  # what the runner notes while running (non-finite values) reaches explain()
        trace.precision = runner.precision
        return runner
    lines = [f"{e.target}: {e.reason}" for e in trace.entries]
    error = NoTargetError(format_message(
        "No target could run this model", where=model.name,
        received="\n  " + "\n  ".join(lines), expected="at least one available target that accepts the model"))
    error.trace = trace
    if failures:
        raise error from ExceptionGroup("target load failures", failures)
    raise error

