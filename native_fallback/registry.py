"""Operator registry: (domain, op_type) -> implementations by opset range.

Each operator module registers its kernels explicitly through :func:`register`
(no ``globals()`` scans), so reading a module tells you exactly what it provides.
A kernel *builder* receives the node once at compile time and returns the
callable run per inference; attribute parsing thus happens once, not per run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .ir import Node

Kernel = Callable[..., tuple]
Builder = Callable[[Node, int], Kernel]

#: Domains that mean the default ONNX operator set.
DEFAULT_DOMAINS = ("", "ai.onnx")
#: Our own fused operators, produced only by the optimizer.
FACADE_DOMAIN = "ai.facade"


@dataclass(frozen=True)
class Entry:
    """One implementation valid for opsets ``since`` .. ``until`` inclusive."""

    builder: Builder
    since: int
    until: int
    native: bool


_TABLE: dict[tuple[str, str], list[Entry]] = {}


def _norm(domain: str) -> str:
    return "" if domain in DEFAULT_DOMAINS else domain


def register(op_type: str, since: int = 1, until: int = 10_000, *, domain: str = "",
             native: bool = True) -> Callable[[Builder], Builder]:
    """Decorator: register ``builder`` for ``op_type`` at opsets ``since..until``."""

    def deco(builder: Builder) -> Builder:
        _TABLE.setdefault((_norm(domain), op_type), []).append(Entry(builder, since, until, native))
        return builder

    return deco


def candidates(domain: str, op_type: str, opset: int) -> list[Entry]:
    """Entries covering ``opset``, best first: native before bridged, then the highest ``since``.

    A native builder may decline a node whose attributes it does not cover by
    raising NotImplementedError at build time; the next candidate then serves it.
    """
    entries = [e for e in _TABLE.get((_norm(domain), op_type), []) if e.since <= opset <= e.until]
    return sorted(entries, key=lambda e: (e.native, e.since), reverse=True)


def lookup(domain: str, op_type: str, opset: int) -> Entry | None:
    """The preferred entry for ``opset`` (see :func:`candidates`), or None."""
    found = candidates(domain, op_type, opset)
    return found[0] if found else None
