"""Engine and driver versions: what invalidates a cached probe verdict or benchmark timing.

A cached result is only as good as the software it measured, so every cache key
carries the engine's distribution version and the driver version the device
facts report for the target's API.
"""

from __future__ import annotations

import functools
from importlib import metadata

from facade.adapters import registry
from facade.adapters.catalogue import lookup
from facade.devices import DeviceFacts


@functools.cache
def engine_version(engine: str) -> str:
    """``dist==version`` of the packages behind ``engine``'s adapter (the adapter's own package included)."""
    adapter = registry.get_adapter(engine)
    if adapter is None:
        return "unavailable"
    tops = [*adapter.modules, type(adapter).__module__.split(".")[0]]
    names = metadata.packages_distributions()
    found = []
    for top in tops:
        for dist in names.get(top, ()):
            try:
                found.append(f"{dist}=={metadata.version(dist)}")
            except metadata.PackageNotFoundError:
                continue
    if not any(f.startswith("facade-runtime==") for f in found):
        found.append(f"facade-runtime=={metadata.version('facade-runtime')}")
    return ",".join(sorted(set(found)))


def driver_version(target: str, facts: DeviceFacts) -> str:
    """The driver versions the facts report for ``target``'s device API (all GPUs when it names none)."""
    info = lookup(target)
    if info.api in ("vulkan", "opencl"):
        gpus = facts.gpu_devices(info.api)
    elif info.api is not None:
        acc = facts.accelerator(info.api)
        return acc.detail if acc is not None else ""
    else:
        gpus = list(facts.gpus)
    return ";".join(f"{g.api}:{g.name}:{g.driver_version}" for g in gpus)
