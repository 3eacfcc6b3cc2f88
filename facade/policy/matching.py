"""Which rules hold for this device and model, and what they decide for each target.

Layers apply in order (the shipped deny-list, then the file's top level, then
its ``[[rules]]``), each refining the ones before it:

- ``deny``/``allow``: for each target, the *last* layer whose glob matches it
  decides, so ``allow`` in a later rule lifts an earlier (or shipped) ``deny``.
- ``prefer``: a later rule's globs go *before* the earlier ones.
- ``precision``, ``select``: the last layer that sets them wins.
- ``targets``: option tables merge key by key, later layers winning.

Every glob is case-insensitive (:func:`facade.globs.glob_match`); a ``match`` holds when every key in it
holds (a list means any of its globs).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from facade.devices import DeviceFacts
from facade.globs import glob_match
from facade.model import Model
from facade.policy.schema import PRECISIONS, Rule, api_level_holds

_GPU_KEYS = {"gpu_vendor": "vendor", "gpu_name": "name", "gpu_driver": "driver_version"}


def _any(patterns: tuple[str, ...], values: list[str]) -> bool:
    return any(glob_match(p, v) for p in patterns for v in values)


def mismatch(rule: Rule, facts: DeviceFacts, model: Model | None) -> str | None:
    """Why ``rule.match`` does not hold (the first key that fails), or None when it holds."""
    m = rule.match
    scalar = {"os": [facts.os], "arch": [facts.arch], "cpu": [facts.cpu_model], "soc": [facts.soc],
              "fingerprint": [facts.fingerprint],
              "vendor": [facts.soc, facts.cpu_model, *(g.vendor for g in facts.gpus), *(g.name for g in facts.gpus)],
              "npu": [a.kind for a in facts.accelerators]}
    for key, values in scalar.items():
        if key in m and not _any(m[key], values):
            return f"{key} {list(m[key])} vs {values}"
    if "cpu_features" in m:
        missing = [f for f in m["cpu_features"] if not _any((f,), list(facts.cpu_features))]
        if missing:
            return f"cpu_features lacks {missing}"
    gpu_keys = {k: v for k, v in m.items() if k in _GPU_KEYS}
    if gpu_keys and not any(all(_any(v, [getattr(g, _GPU_KEYS[k])]) for k, v in gpu_keys.items())
                            for g in facts.gpus):
        return f"no GPU with {gpu_keys}"
    if "android_api" in m and not api_level_holds(m["android_api"], facts.android_api):
        return f"android_api {m['android_api']} vs {facts.android_api}"
    if "model" in m or "sha256" in m:
        if model is None:
            return "no model given"
        graph = model.proto.graph.name if model.proto is not None else ""
        names = [model.name] + ([graph] if graph and graph != model.name else [])
        if "model" in m and not _any(m["model"], names):
            return f"model {list(m['model'])} vs {names}"
        if "sha256" in m and not any(model.sha256.startswith(s.lower()) for s in m["sha256"]):
            return "sha256 differs"
    return None


@dataclass
class Decision:
    """What the matched layers decide; read by the router for each target."""

    source: str
    matched: list[Rule] = field(default_factory=list)
    unmatched: list[tuple[Rule, str]] = field(default_factory=list)
    precision: tuple[str, Rule] | None = None
    select: str = "order"

    def verdict(self, target: str) -> tuple[bool, Rule | None, str]:
        """(denied, deciding layer, the glob) for ``target``: the last matching deny/allow wins."""
        result: tuple[bool, Rule | None, str] = (False, None, "")
        for rule in self.matched:
            for glob in rule.deny:
                if glob_match(glob, target):
                    result = (True, rule, glob)
            for glob in rule.allow:
                if glob_match(glob, target):
                    result = (False, rule, glob)
        return result

    def preference(self, target: str) -> tuple[int, Rule | None, str]:
        """(position, layer, glob) in the combined prefer list; later layers first; unpreferred sort last."""
        position = 0
        for rule in reversed(self.matched):
            for glob in rule.prefer:
                if glob_match(glob, target):
                    return position, rule, glob
                position += 1
        return 1 << 30, None, ""

    def options(self, target: str) -> tuple[dict[str, object], list[str]]:
        """Merged per-target options, and which layers set them."""
        merged: dict[str, object] = {}
        by: list[str] = []
        for rule in self.matched:
            for glob, opts in rule.targets.items():
                if glob_match(glob, target):
                    engine = {**merged.get("engine", {}), **opts.get("engine", {})}
                    merged.update(opts)
                    if engine:
                        merged["engine"] = engine
                    by.append(rule.label)
        return merged, by

    def floor(self, target: str, caller: str) -> str:
        """The strictest of the caller's precision, the policy's floor and the target's own setting."""
        levels = [caller]
        if self.precision is not None:
            levels.append(self.precision[0])
        own = self.options(target)[0].get("precision")
        if own:
            levels.append(str(own))
        return min(levels, key=PRECISIONS.index)

    def summary(self) -> str:
        """One line for the trace head: the source and which rules held."""
        held = ", ".join(r.label for r in self.matched if not r.label.startswith("known_bad")) or "none"
        shipped = sum(r.label.startswith("known_bad") for r in self.matched)
        skipped = "; ".join(f"{r.label}: {why}" for r, why in self.unmatched if not r.label.startswith("known_bad"))
        return (f"{self.source} (select={self.select}; rules that hold: {held}"
                + (f"; known-bad entries that hold: {shipped}" if shipped else "")
                + (f"; not matched: {skipped}" if skipped else "") + ")")


def decide(rules: list[Rule], source: str, facts: DeviceFacts, model: Model | None) -> Decision:
    """Evaluate every layer's ``match`` against ``facts`` and ``model``."""
    decision = Decision(source)
    for rule in rules:
        why = mismatch(rule, facts, model)
        if why is not None:
            decision.unmatched.append((rule, why))
            continue
        decision.matched.append(rule)
        if rule.precision is not None:
            decision.precision = (rule.precision, rule)
        if rule.select is not None:
            decision.select = rule.select
    return decision
