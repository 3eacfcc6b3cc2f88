"""A converter's failure told by its cause, parsed from the tool's log; the raw log kept in a file.

Converters bury the reason for a failure in pages of progress output, often in
colour, and some then crash: pnnx's bundled onnxruntime logs "Unsupported model
IR version: 14, max supported IR version: 13" and pnnx dies with signal 11, so
"killed by signal 11" says nothing of the cause. :func:`cause` finds the line that
says why (patterns common to every tool, then the converter's own), names the
node or operator where the tool says which, and the message leads with it;
:func:`keep_log` writes the whole log where the message points. What an engine is
known to lack is data, per engine, in ``facade/data/converter_limits.toml``.
"""

from __future__ import annotations

import functools
import hashlib
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from facade.cache import cache_dir

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_ERRORISH = re.compile(r"error|exception|fail|not support|unsupported|cannot|can't|invalid", re.IGNORECASE)
LOGS = "convert-logs"
_MAX_CAUSE = 300


def clean(text: str) -> str:
    """``text`` without ANSI colour and cursor codes (onnx2tf and onnxruntime colour their logs)."""
    return _ANSI.sub("", text)


@dataclass(frozen=True)
class LogPattern:
    """A log line that states a cause: ``regex`` (named groups) and the sentence it becomes.

    ``template`` is formatted with the groups and ``engine`` (the engine the
    converter feeds); a group named ``op`` holds operator or layer names (several
    may be listed, split on commas and spaces), looked up in the engine's known
    limits. ``every`` joins the groups of every match, not only the first.
    """

    regex: str
    template: str
    every: bool = False

    def find(self, log: str, engine: str) -> Cause | None:
        matches = list(re.finditer(self.regex, log, re.MULTILINE))
        if not matches:
            return None
        groups: dict[str, list[str]] = {}
        for m in matches if self.every else matches[:1]:
            for k, v in m.groupdict().items():
                for part in ([p.split("::")[-1] for p in re.split(r"[,\s]+", v) if p] if k == "op" and v
                             else [(v or "").strip()]):
                    if part not in groups.setdefault(k, []):
                        groups[k].append(part)
        text = self.template.format(engine=engine, **{k: ", ".join(v) for k, v in groups.items()})
        return Cause(text[:_MAX_CAUSE], tuple(groups.get("op", ())))


@dataclass(frozen=True)
class Cause:
    """Why a conversion failed, in one sentence, and the operators or layers it names (group ``op``)."""

    text: str
    ops: tuple[str, ...] = ()


# What every converter's log may say (pnnx and onnx2tf both run onnxruntime inside).
COMMON: tuple[LogPattern, ...] = (
    LogPattern(r"Unsupported model IR version: (?P<ir>\d+), max supported IR version: (?P<max>\d+)",
               "the model's ONNX IR version {ir} is newer than the converter for {engine} reads (at most {max})"),
    LogPattern(r"Opset (?P<opset>\d+) is under development.*?official support for domain (?P<domain>\S+) is "
               r"till opset (?P<max>\d+)",
               "the model's opset {opset} is newer than the converter for {engine} reads (at most {max})"),
)


def cause(log: str, engine: str, patterns: Sequence[LogPattern] = ()) -> Cause | None:
    """The first cause a pattern finds in ``log`` (the converter's own patterns first), else None."""
    text = clean(log)
    for pattern in (*patterns, *COMMON):
        found = pattern.find(text, engine)
        if found is not None:
            return found
    return None


def last_error_line(log: str) -> str | None:
    """The last line of ``log`` that reads like an error, when no pattern knows the tool's words (None if none)."""
    found = [ln.strip() for ln in clean(log).splitlines() if ln.strip() and _ERRORISH.search(ln)]
    return found[-1][:_MAX_CAUSE] if found else None


def last_line(log: str) -> str | None:
    """The last non-empty line of ``log``: where a tool that crashed without a word had got to."""
    lines = [ln.strip() for ln in clean(log).splitlines() if ln.strip()]
    return lines[-1][:_MAX_CAUSE] if lines else None


def keep_log(log: str, converter: str, model_bytes: bytes) -> Path:
    """Write the raw log under the cache (``convert-logs/``), named by the converter and the model it was given."""
    digest = hashlib.sha256(model_bytes).hexdigest()[:16]
    path = cache_dir(LOGS) / f"{converter}-{digest}.log"
    path.write_text(log, errors="replace")
    return path


@dataclass(frozen=True)
class Limit:
    """Something an engine is known to lack: its name there, the ONNX operator it comes from, why."""

    name: str
    onnx_op: str | None
    reason: str


@functools.cache
def _limits() -> Mapping[str, Mapping[str, Limit]]:
    data = tomllib.loads(resources.files("facade").joinpath("data/converter_limits.toml").read_text())
    return {engine: {name: Limit(name, entry.get("onnx"), entry["reason"]) for name, entry in table.items()}
            for engine, table in data.items()}


def known_limit(engine: str, name: str) -> Limit | None:
    """The recorded limit of ``engine`` called ``name`` (a layer, an operator), if any."""
    return _limits().get(engine, {}).get(name)


def known_limits(engine: str) -> Mapping[str, Limit]:
    """Every recorded limit of ``engine``."""
    return _limits().get(engine, {})
