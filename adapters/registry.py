"""The one registry of adapters: built-ins by dotted path, plus third parties.

Built-in adapters are named here as ``module:Class`` strings so that knowing
about an engine costs nothing until it is asked for (tinygrad's runtimes, fsspec's
registry). Third-party packages add engines through the entry-point group
``facade.adapters`` (value ``package.module:AdapterClass``) or
:func:`register_adapter`. A broken third-party adapter never breaks facade: its
import error is kept and shown as the reason its targets are unavailable.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from importlib.metadata import entry_points
from types import MappingProxyType

from facade.adapters.base import Adapter
from facade.errors import FacadeError, format_message

log = logging.getLogger("facade.adapters")

ENTRY_POINT_GROUP = "facade.adapters"

# In catalogue order (``facade targets``; the router's tie-break within a hardware class).
BUILTIN: Mapping[str, str] = MappingProxyType({
    "onnxruntime": "facade.adapters.onnxruntime:OnnxRuntimeAdapter",
    "litert": "facade.adapters.litert:LiteRtAdapter",
    "ncnn": "facade.adapters.ncnn:NcnnAdapter",
    "mnn": "facade.adapters.mnn:MnnAdapter",
    "coreml": "facade.adapters.coreml:CoreMlAdapter",
    "snpe": "facade.adapters.snpe:SnpeAdapter",
    "native": "facade.adapters.native:NativeAdapter",
})

_paths: dict[str, str] = dict(BUILTIN)
_loaded: dict[str, Adapter] = {}
_broken: dict[str, str] = {}
_entry_points_read = False
_version = 0  # bumped on every change of the table, so the derived catalogue knows when to rebuild


class AdapterRegistrationError(FacadeError):
    """Two adapters claim the same engine name, or an adapter object is malformed."""


def _read_entry_points() -> None:
    global _entry_points_read, _version
    if _entry_points_read:
        return
    _entry_points_read = True
    _version += 1
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in _paths and _paths[ep.name] != ep.value:
            log.warning("entry point %s=%s ignored: engine %r is already provided by %s",
                        ep.name, ep.value, ep.name, _paths[ep.name])
            continue
        _paths[ep.name] = ep.value


def _instantiate(engine: str, path: str) -> Adapter:
    module_name, _, attr = path.partition(":")
    obj = importlib.import_module(module_name)
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    adapter = obj() if isinstance(obj, type) else obj
    _check(adapter, engine)
    return adapter


def _check(adapter: object, engine: str) -> None:
    if not isinstance(adapter, Adapter):
        raise AdapterRegistrationError(format_message(
            "Adapter object has the wrong type", where=engine, received=type(adapter).__name__,
            expected="an instance or subclass of facade.adapters.base.Adapter"))
    if adapter.engine != engine:
        raise AdapterRegistrationError(format_message(
            "Adapter registered under another engine name", where=engine, received=adapter.engine, expected=engine))


def register_adapter(adapter: Adapter | str, *, engine: str | None = None, replace: bool = False) -> None:
    """Register an adapter instance, or a ``module:Class`` path imported on first use.

    Raises:
        AdapterRegistrationError: the engine name is taken (pass ``replace=True`` to
            override deliberately) or the object is not an :class:`Adapter`.
    """
    global _version
    _read_entry_points()
    name = engine or (adapter.engine if isinstance(adapter, Adapter) else None)
    if name is None:
        raise AdapterRegistrationError(format_message(
            "A dotted-path adapter needs an engine name", received=repr(adapter),
            expected="register_adapter('pkg.mod:Class', engine='myengine')"))
    if name in _paths and not replace:
        raise AdapterRegistrationError(format_message(
            "Engine already has an adapter", where=name, received=repr(adapter), expected="a new engine name",
            available=[_paths[name]], hint="Pass replace=True to override it on purpose"))
    _loaded.pop(name, None)
    _broken.pop(name, None)
    _version += 1
    if isinstance(adapter, Adapter):
        _check(adapter, name)
        _paths[name] = f"<instance {type(adapter).__qualname__}>"
        _loaded[name] = adapter
    else:
        _paths[name] = adapter


def version() -> int:
    """A number that changes whenever an adapter is registered or replaced (see :mod:`facade.adapters.catalogue`)."""
    _read_entry_points()
    return _version


def engines() -> list[str]:
    """Every engine with a registered adapter (built-in, entry point or registered)."""
    _read_entry_points()
    return list(_paths)


def get_adapter(engine: str) -> Adapter | None:
    """The adapter of ``engine``, imported on first use; None when none or broken (see :func:`broken`)."""
    _read_entry_points()
    if engine in _loaded:
        return _loaded[engine]
    if engine not in _paths or engine in _broken:
        return None
    try:
        _loaded[engine] = _instantiate(engine, _paths[engine])
    except Exception as e:  # a third-party adapter must not take facade down
        _broken[engine] = f"adapter {_paths[engine]} failed to import: {type(e).__name__}: {e}"
        log.warning("%s", _broken[engine])
        return None
    return _loaded[engine]


def in_process(engine: str) -> bool:
    """True when ``engine``'s adapter was registered as an object, which a child process cannot import."""
    _read_entry_points()
    return _paths.get(engine, "").startswith("<instance ")


def load_all() -> None:
    """Import every registered adapter, so that their targets are known (third parties add some)."""
    for engine in engines():
        get_adapter(engine)


def broken() -> Mapping[str, str]:
    """Engines whose adapter failed to import, with the reason."""
    return MappingProxyType(_broken)


def adapters() -> Mapping[str, Adapter]:
    """A read-only view of every adapter that imports, by engine name."""
    return MappingProxyType({e: a for e in engines() if (a := get_adapter(e)) is not None})
