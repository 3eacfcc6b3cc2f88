"""Suggestions for a target name or glob that matches nothing: by engine, then by unit, not by spelling alone.

Raw string distance answers ``tensorrt:gpu`` with ``litert:gpu``: the letters are
close, the engines unrelated. A target is two words. The engine is one we know
(perhaps misspelt) or not, and then the list of engines is the answer; a unit is
suggested among that engine's own units, preferring the one of the same hardware
class (ncnn has no ``gpu``; its GPU unit is ``vulkan``).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping

from facade.globs import glob_match
from facade.targets import HardwareClass, TargetInfo

ENGINE_CUTOFF = 0.75  # "onnxruntim" -> "onnxruntime", but "tensorrt" is not "litert"
# Words people write for a unit that no engine here calls its unit.
GENERIC_UNITS = {"npu": HardwareClass.NPU, "tpu": HardwareClass.NPU, "dsp": HardwareClass.NPU,
                 "htp": HardwareClass.NPU, "gpu": HardwareClass.GPU, "cpu": HardwareClass.CPU}


def _units_by_engine(known: Mapping[str, TargetInfo]) -> dict[str, list[str]]:
    units: dict[str, list[str]] = {}
    for target in known:
        engine, _, unit = target.partition(":")
        units.setdefault(engine, []).append(unit)
    return units


def _unit_classes(unit: str, known: Mapping[str, TargetInfo]) -> set[HardwareClass]:
    """The hardware classes a unit word means: from the catalogue's units of that name, or a generic word."""
    classes = {info.hardware for info in known.values() if info.unit == unit}
    return classes or ({GENERIC_UNITS[unit]} if unit in GENERIC_UNITS else set())


def _unit_fix(engine: str, unit: str, known: Mapping[str, TargetInfo], units: list[str]) -> str | None:
    """The engine's unit of the class ``unit`` means (gpu -> vulkan on ncnn); by spelling only for unknown words.

    Short unit names are close in spelling and far in meaning (npu, gpu, cpu), so a word
    whose class is known never gets a unit of another class.
    """
    classes = _unit_classes(unit, known)
    if classes:
        same = [u for u in units if known[f"{engine}:{u}"].hardware in classes]
        return same[0] if len(same) == 1 else None
    return next(iter(difflib.get_close_matches(unit, units, n=1, cutoff=0.6)), None)


def target_suggestion(name: str, known: Mapping[str, TargetInfo]) -> str:
    """One sentence for a hint: which part of ``name`` is wrong, what exists, and the likeliest fix."""
    engine, _, unit = name.partition(":")
    units = _units_by_engine(known)
    engines = [e for e in units if glob_match(engine, e)]
    said = ""
    if not engines:
        guess = difflib.get_close_matches(engine, list(units), n=1, cutoff=ENGINE_CUTOFF)
        if not guess:
            return f"Unknown engine {engine!r}; engines: {', '.join(units)}"
        engines, said = guess, f"Unknown engine {engine!r}. "
    if len(engines) > 1:
        every = sorted({u for e in engines for u in units[e]})
        return f"No engine matching {engine!r} has a unit matching {unit!r}; units: {', '.join(every)}"
    (found,) = engines
    own = units[found]
    if any(glob_match(unit, u) for u in own):
        return f"{said}Did you mean {f'{found}:{unit}'!r}?"
    fix = _unit_fix(found, unit, known, own)
    listed = f"{said}{found} has no unit {unit!r}; its units: {', '.join(own)}"
    return f"{listed}. Did you mean {f'{found}:{fix}'!r}?" if fix else listed
