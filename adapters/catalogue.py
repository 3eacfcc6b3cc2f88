"""The target catalogue, derived from the registered adapters' declared units; read-only.

There is no second list of targets to keep in step: each adapter declares its
units (:class:`facade.targets.Unit`: hardware class, device API, pip extra) and
the catalogue is built from the registry, in registry order, once per change of
the registry (:func:`facade.adapters.registry.version`). Building it imports the
adapter modules, never an engine (adapters import their engine in ``load``).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from facade.adapters import registry
from facade.errors import TargetUnavailableError, UnknownTargetError, format_message
from facade.suggest import target_suggestion
from facade.targets import TargetInfo

_built: tuple[int, Mapping[str, TargetInfo]] | None = None


def catalogue() -> Mapping[str, TargetInfo]:
    """Every known target by name (``engine:unit``), in registry order."""
    global _built
    version = registry.version()
    if _built is None or _built[0] != version:
        found: dict[str, TargetInfo] = {}
        for engine, adapter in registry.adapters().items():
            for unit in adapter.units:
                spec = adapter.unit(unit)
                extra = adapter.extra if spec.extra is None else spec.extra
                found[f"{engine}:{unit}"] = TargetInfo(engine, unit, spec.hardware, spec.api, extra)
        _built = (registry.version(), MappingProxyType(found))
    return _built[1]


def all_targets() -> list[str]:
    """Every known target name, built-in and third-party, in catalogue order."""
    return list(catalogue())


def lookup(name: str, *, where: str | None = None) -> TargetInfo:
    """The catalogue entry for ``name``; ``where`` names where the name came from in an error (``--targets x``).

    Raises:
        UnknownTargetError: no such target; the hint names the wrong part (engine or unit) and what exists.
        TargetUnavailableError: the engine's adapter is registered but failed to import (its units are
            then unknown); the message gives the import error.
    """
    known = catalogue()
    info = known.get(name)
    if info is not None:
        return info
    broken = registry.broken().get(name.partition(":")[0])
    if broken is not None:
        raise TargetUnavailableError(format_message(broken, where=where or name))
    raise UnknownTargetError(format_message(
        "Unknown target name", where=where or name, received=repr(name),
        expected="a target written engine:unit, as `facade targets` lists them",
        hint=target_suggestion(name, known)))  # the hint lists the engines, or the engine's units
