"""Running a converter in a child process: a crash, an abort or a hang stays there.

A child that fails raises :class:`ChildFailed` carrying its whole output, so the
converter can state the failure by its cause (:mod:`.causes`) rather than by its
exit status: pnnx's "killed by signal 11" hides "Unsupported model IR version".
"""

from __future__ import annotations

import signal
from collections.abc import Sequence
from pathlib import Path

from facade import childproc
from facade.convert.causes import clean
from facade.errors import ConversionError, format_message

_TAIL_LINES = 6


class ChildFailed(ConversionError):
    """The converter exited with an error or was killed; ``output`` is all it printed, ``how`` says how it ended."""

    def __init__(self, message: str, output: str, how: str):
        super().__init__(message)
        self.output = output
        self.how = how


class ChildKilled(ChildFailed):
    """The converter was killed from outside (the OOM killer, a user, a shutdown): says nothing of the model,
    so the failure must not be cached as the model's verdict."""


# Signals that come from outside the converter; SIGSEGV, SIGABRT, SIGBUS, SIGFPE are its own crashes.
_FROM_OUTSIDE = frozenset({signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT})


def killed_from_outside(error: BaseException | None) -> bool:
    """Whether ``error`` (or an error it was raised from) is a converter killed from outside."""
    while error is not None:
        if isinstance(error, ChildKilled):
            return True
        error = error.__cause__
    return False


def tail(text: str, lines: int = _TAIL_LINES) -> str:
    """The last meaningful lines of a converter's output (colour codes removed), for messages and traces."""
    kept = [ln.strip() for ln in clean(text).splitlines() if ln.strip()]
    return " / ".join(kept[-lines:])


def run_child(argv: Sequence[str], *, cwd: Path, timeout_s: float, where: str,
              env: dict[str, str] | None = None) -> str:
    """Run ``argv`` in ``cwd`` (:func:`facade.childproc.run`); return its combined output or raise
    :class:`ConversionError` saying why."""
    try:
        done = childproc.run(argv, cwd=cwd, env=env, timeout_s=timeout_s, merge_stderr=True)
    except OSError as e:
        raise ConversionError(format_message(f"Converter could not be started: {e}", where=where,
                                             received=argv[0])) from e
    out = done.stdout
    if done.hung:
        raise ConversionError(format_message(
            f"Converter {done.how}", where=where, received=tail(out) or "no output",
            expected="a conversion that finishes"))
    if not done.ok:
        kind = ChildKilled if -done.returncode in _FROM_OUTSIDE else ChildFailed
        raise kind(format_message(f"Converter {done.how}", where=where, received=tail(out) or "no output",
                                  expected="a successful conversion"), out, done.how)
    return out
