"""One error family for everything a user can cause, one message shape.

Messages follow ``target | what happened. Received: ... Expected: ... Available: ...``
so that a log line alone tells ops what to change. Our own bugs raise
:class:`FacadeInternalError`, deliberately *not* a :class:`FacadeError`, so that
``except FacadeError`` in an app never swallows a defect of ours.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def format_message(
    what: str,
    *,
    where: str | None = None,
    received: object = None,
    expected: object = None,
    available: Iterable[str] | None = None,
    hint: str | None = None,
) -> str:
    """Build the one message shape every facade error uses."""
    parts = [f"{where} | {what}" if where else what]
    if received is not None:
        parts.append(f"Received: {received}")
    if expected is not None:
        parts.append(f"Expected: {expected}")
    if available is not None:
        parts.append(f"Available: {', '.join(available) or '(none)'}")
    if hint:
        parts.append(hint)
    text = ". ".join(p.rstrip(".") for p in parts)
    return text if text.endswith(("?", "!")) else text + "."  # "Did you mean 'x'?", never "?."


def closest(name: str, choices: Iterable[str]) -> str | None:
    """The closest known spelling of ``name``, for "did you mean" hints."""
    found = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return found[0] if found else None


class FacadeError(Exception):
    """Base class of every error a caller of facade can cause and handle."""


class ModelError(FacadeError):
    """The model path, bytes or graph cannot be used (missing, empty, truncated, not ONNX)."""


class InputError(FacadeError, ValueError):
    """A feed does not match the model's inputs: name, count, dtype or shape."""


class TargetError(FacadeError):
    """A target name is unknown, or a forced target cannot run this model here."""


class UnknownTargetError(TargetError, KeyError):
    """The target string names no known engine or unit."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class TargetUnavailableError(TargetError):
    """A known target cannot be used on this device or for this model."""


class NoTargetError(TargetError):
    """Every candidate target was rejected or failed; the message lists why each lost."""


class ArgumentError(FacadeError, ValueError):
    """A call's argument is outside what the function accepts (``compile(dtype="float16")``); the message
    lists the accepted values. Not a model problem, so not an :class:`UnsupportedModelError`."""


class UnsupportedModelError(FacadeError):
    """An engine cannot execute something in the model (an operator, a dtype, an attribute)."""


class EngineError(FacadeError):
    """An engine raised while loading or running a model; the message names the target, the node
    when the engine says which, and quotes the engine (the original is the ``__cause__``)."""


class ConversionError(FacadeError):
    """Converting the model for an engine failed, or the converted artifact diverged."""


class PolicyError(FacadeError):
    """A policy file or policy value is invalid."""


class SessionStateError(FacadeError, RuntimeError):
    """The session was used out of order (closed, or read before run)."""


class FacadeInternalError(RuntimeError):
    """A defect in facade itself; please report it. Not a FacadeError on purpose."""
