"""The policy file's fixed keys, and validation that names the file, line, key path and allowed values.

tomllib returns plain dicts without positions, so when a value is wrong the line
is found again by scanning the source text for the key along its path (see
:func:`locate`). Everything a policy can say becomes a frozen :class:`Rule`; the
top level of a file is its first rule, with an empty ``match``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from facade.adapters.registry import get_adapter
from facade.errors import PolicyError, closest, format_message
from facade.globs import glob_match
from facade.suggest import target_suggestion
from facade.targets import TargetInfo
from facade.tolerances import PRECISIONS  # strictest first: a floor never goes past the caller's

SELECT = ("order", "benchmark")
ACTION_KEYS = ("prefer", "deny", "allow", "precision", "select", "targets")
TOP_KEYS = (*ACTION_KEYS, "rules", "known_bad")
RULE_KEYS = ("name", "reason", "match", *ACTION_KEYS)
MATCH_KEYS = ("os", "arch", "cpu", "cpu_features", "soc", "vendor", "gpu_vendor", "gpu_name", "gpu_driver",
              "npu", "android_api", "fingerprint", "model", "sha256")
# min_cosine, max_top1_drop, calibration: the int8 accuracy gate's bounds and data (facade.quantization.gate).
# Words users bring from other rule formats (CI matrices, firewall rules): by meaning, not spelling,
# because string distance answers "when" with "deny".
SYNONYMS = {"when": "match", "if": "match", "on": "match", "where": "match", "condition": "match",
            "block": "deny", "exclude": "deny", "forbid": "deny", "order": "prefer", "priority": "prefer",
            "only": "allow", "include": "allow"}
TARGET_KEYS = ("threads", "precision", "engine", "min_cosine", "max_top1_drop", "calibration")
T = TypeVar("T")
_API_LEVEL = re.compile(r"^\s*(>=|<=|>|<|==)?\s*(\d+)\s*$")


@dataclass(frozen=True)
class Rule:
    """One layer of policy: when ``match`` holds, its actions apply on top of earlier layers."""

    label: str  # "top level", "rules[2] 'mali-opencl'", for explain()
    source: str
    line: int | None = None
    match: Mapping[str, object] = field(default_factory=dict)
    prefer: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    allow: tuple[str, ...] = ()
    precision: str | None = None
    select: str | None = None
    targets: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    reason: str = ""

    @property
    def acts(self) -> bool:
        """Whether the rule sets any action key (a layer that only matches says nothing)."""
        return any(getattr(self, key) for key in ACTION_KEYS)

    @property
    def where(self) -> str:
        return f"{self.label} ({self.source}{f':{self.line}' if self.line else ''})"


def api_level_holds(condition: str, level: int | None) -> bool:
    """Whether a device's Android API ``level`` satisfies ``condition`` (``"29"``, ``">=29"``); None never does."""
    found = _API_LEVEL.match(str(condition))
    if level is None or found is None:
        return False
    op, n = found.group(1) or "==", int(found.group(2))
    return {">=": level >= n, "<=": level <= n, ">": level > n, "<": level < n, "==": level == n}[op]


def locate(text: str, path: tuple[str | int, ...]) -> int | None:
    """1-based line of the key at ``path`` in TOML or YAML ``text``; the parent's line when the key is absent.

    Walks the path from the top: an index ``n`` finds the (n+1)-th ``[[table]]``
    header (TOML) or ``- `` item (YAML) after the parent; a key finds the first
    ``key =``/``key:``/``[..key]`` after the parent's line.
    """
    lines = [line.split("#", 1)[0] for line in text.splitlines()]
    start, found, parent = 0, None, ""
    for part in path:
        if isinstance(part, int):
            header = re.compile(rf"^\s*\[\[\s*{re.escape(parent)}\s*\]\]|^\s*-\s")
            hits = [n for n in range(start, len(lines)) if header.match(lines[n])]
            if len(hits) <= part:
                return found
            start = found = hits[part]
            continue
        key = re.compile(rf"(^|[\s{{,.\[])[\"']?{re.escape(part)}[\"']?\s*[=:\].]")
        hit = next((n for n in range(start, len(lines)) if key.search(lines[n])), None)
        if hit is None:
            return None if found is None else found + 1
        start = found = hit
        parent = part
    return None if found is None else found + 1


class PolicyProblem(PolicyError):
    """One bad key or value, and the line it is on (for ordering a file's problems)."""

    def __init__(self, message: str, line: int | None):
        super().__init__(message)
        self.line = line


class PolicyProblems(PolicyError):
    """Every problem of one policy document, so that a file with three typos takes one run, not three.

    The message is the one problem's message, or a count followed by one line per
    problem in file order; ``problems`` holds each message (for ``--json``).
    """

    def __init__(self, source: str, problems: list[PolicyError]):
        ordered = sorted(problems, key=lambda e: (getattr(e, "line", None) is None, getattr(e, "line", 0) or 0))
        self.problems = [str(e) for e in ordered]
        text = self.problems[0] if len(ordered) == 1 else "\n".join(
            [f"{source} | {len(ordered)} problems"] + [f"  {m}" for m in self.problems])
        super().__init__(text)


def _key_path(path: tuple[str | int, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".") or "the top level"


class Validator:
    """Turns one parsed policy document into rules, collecting every bad key and value before raising.

    Each check raises :class:`PolicyError` for its own value; :meth:`attempt` records
    it and lets validation go on with a neutral value in its place, and
    :meth:`document` raises one :class:`PolicyProblems` with all of them.
    """

    def __init__(self, source: str, text: str | None, known_targets: Mapping[str, TargetInfo]):
        self.source, self.text, self.known = source, text, known_targets
        self.problems: list[PolicyError] = []

    def fail(self, path: tuple[str | int, ...], what: str, received: object, expected: object,
             available: list[str] | None = None, hint: str | None = None) -> PolicyError:
        line = locate(self.text, path) if self.text else None
        where = f"{self.source}{f':{line}' if line else ''}"
        return PolicyProblem(format_message(f"{what} at {_key_path(path)}", where=where, received=received,
                                            expected=expected, available=available, hint=hint), line)

    def attempt(self, check: Callable[[], T], default: T) -> T:
        """Run one check; a failure is recorded and ``default`` stands in so the rest is still checked."""
        try:
            return check()
        except PolicyError as e:
            self.problems.append(e)
            return default

    def keys(self, table: object, allowed: tuple[str, ...], path: tuple[str | int, ...]) -> Mapping:
        """The table's known keys; every unknown key is recorded with the allowed ones and a suggestion."""
        if not isinstance(table, Mapping):
            raise self.fail(path, "Expected a table", repr(table), "a table of keys")
        for key in table:
            if key not in allowed:
                meant = SYNONYMS.get(str(key).lower())
                guess = meant if meant in allowed else closest(str(key), allowed)
                self.problems.append(self.fail(
                    (*path, key), f"Unknown key {key!r}", repr(key), f"a key allowed in {_key_path(path)}",
                    available=list(allowed), hint=f"Did you mean {guess!r}?" if guess else None))
        return {k: v for k, v in table.items() if k in allowed}

    def choice(self, value: object, allowed: tuple[str, ...], path: tuple[str | int, ...]) -> str:
        if value not in allowed:
            guess = closest(str(value), allowed)
            raise self.fail(path, "Invalid value", repr(value), " | ".join(allowed),
                            hint=f"Did you mean {guess!r}?" if guess else None)
        return value

    def globs(self, value: object, path: tuple[str | int, ...]) -> tuple[str, ...]:
        """The list's target globs (``engine:unit`` with ``*``/``?``) that match a known target; the rest recorded."""
        if isinstance(value, str) or not isinstance(value, list):
            raise self.fail(path, "Expected a list of target globs", repr(value), 'e.g. ["ncnn:*", "onnxruntime:cpu"]')
        good = []
        for i, glob in enumerate(value):
            if not isinstance(glob, str) or ":" not in glob:
                self.problems.append(self.fail((*path, i), "Invalid target glob", repr(glob),
                                               "engine:unit, with * or ? as wildcards"))
            elif not any(glob_match(glob, t) for t in self.known):
                self.problems.append(self.fail(path, f"Target glob {glob!r} matches no known target", repr(glob),
                                               "a glob matching at least one target",
                                               hint=target_suggestion(glob, self.known)))
            else:
                good.append(glob)
        return tuple(good)

    def patterns(self, value: object, path: tuple[str | int, ...]) -> tuple[str, ...]:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not items or not all(isinstance(v, str) for v in items):
            raise self.fail(path, "Expected a glob or a list of globs", repr(value), 'a string such as "ARM*"')
        return tuple(items)

    def api_level(self, value: object, path: tuple[str | int, ...]) -> str:
        if isinstance(value, bool) or not (isinstance(value, int) or
                                           (isinstance(value, str) and _API_LEVEL.match(value))):
            raise self.fail(path, "Invalid API level", repr(value), 'an integer or a comparison like ">=29"')
        return str(value)

    def match(self, table: object, path: tuple[str | int, ...]) -> dict[str, object]:
        out: dict[str, object] = {}
        for key, value in self.keys(table, MATCH_KEYS, path).items():
            check = self.api_level if key == "android_api" else self.patterns
            checked = self.attempt(lambda c=check, v=value, k=key: c(v, (*path, k)), None)
            if checked is not None:
                out[key] = checked
        return out

    def target_option(self, glob: str, options: object, path: tuple[str | int, ...]) -> dict[str, object]:
        """The options of one ``[targets."glob"]`` table."""
        self.globs([glob], path)
        opts = dict(self.keys(options, TARGET_KEYS, path))
        if "threads" in opts and (isinstance(opts["threads"], bool) or not isinstance(opts["threads"], int)
                                  or opts["threads"] < 1):
            self.problems.append(self.fail((*path, "threads"), "Invalid thread count", repr(opts.pop("threads")),
                                           "an integer >= 1"))
        if "precision" in opts:
            self.attempt(lambda: self.choice(opts["precision"], PRECISIONS, (*path, "precision")), None)
        for key in ("min_cosine", "max_top1_drop"):
            if key in opts:
                opts[key] = self.attempt(lambda k=key: self.fraction(opts[k], (*path, k)), None)
                if opts[key] is None:
                    del opts[key]
        if "calibration" in opts:
            opts["calibration"] = self.attempt(lambda: self.data_path(opts["calibration"], (*path, "calibration")), None)
            if opts["calibration"] is None:
                del opts["calibration"]
        if "engine" in opts and not isinstance(opts["engine"], Mapping):
            raise self.fail((*path, "engine"), "Expected a table of engine options",
                            repr(opts["engine"]), "e.g. engine = { backend_path = \"/vendor/lib/libQnnHtp.so\" }")
        if opts.get("engine"):
            self.engine_options(glob, opts["engine"], (*path, "engine"))
        return opts

    def fraction(self, value: object, path: tuple[str | int, ...]) -> float:
        """A bound between 0 and 1 (``min_cosine = 0.99``, ``max_top1_drop = 0.01``)."""
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise self.fail(path, "Invalid accuracy bound", repr(value), "a number from 0 to 1, e.g. 0.99")
        return float(value)

    def data_path(self, value: object, path: tuple[str | int, ...]) -> str:
        """Calibration data: an existing ``.npz`` or folder, relative to the policy file's folder."""
        if not isinstance(value, str) or not value:
            raise self.fail(path, "Expected a path to calibration data", repr(value), 'e.g. calibration = "calib.npz"')
        source = Path(self.source)
        found = Path(value) if Path(value).is_absolute() or not source.is_file() else source.parent / value
        if not found.exists():
            raise self.fail(path, "Calibration data not found", str(found.resolve()),
                            "an .npz with one array per input name, or a folder of .npz/.npy samples")
        return str(found.resolve())

    def target_options(self, table: object, path: tuple[str | int, ...]) -> dict[str, dict[str, object]]:
        if not isinstance(table, Mapping):
            raise self.fail(path, "Expected a table of target globs", repr(table), '[targets."ncnn:*"]')
        return {glob: self.attempt(lambda g=glob, o=options: self.target_option(g, o, (*path, g)), {})
                for glob, options in table.items()}

    def engine_options(self, glob: str, table: Mapping, path: tuple[str | int, ...]) -> None:
        """Engine options must suit at least one target the glob matches, among those that check them.

        An adapter checks a unit's options when it has ``checks_engine_options(unit)``
        true and ``engine_option_problem(unit, options)`` (ONNX Runtime's QNN units:
        the EP's provider options); other targets take any option.
        """
        problems = []
        for target in (t for t in self.known if glob_match(glob, t)):
            engine, _, unit = target.partition(":")
            adapter = get_adapter(engine)
            if adapter is None or not getattr(adapter, "checks_engine_options", lambda u: False)(unit):
                continue
            problem = adapter.engine_option_problem(unit, table)
            if problem is None:
                return
            problems.append(problem)
        if problems:
            p = problems[0]
            raise self.fail((*path, p.key), p.what, p.received, p.expected, available=p.available, hint=p.hint)

    def rule(self, table: Mapping, path: tuple[str | int, ...], label: str) -> Rule:
        line = locate(self.text, path) if self.text and path else None
        name = table.get("name")
        if name is not None and not isinstance(name, str):
            self.problems.append(self.fail((*path, "name"), "Expected a string", repr(name), "a short rule name"))
            name = None

        def action(key: str, check: Callable[[object, tuple[str | int, ...]], T], default: T) -> T:
            return self.attempt(lambda: check(table[key], (*path, key)), default) if key in table else default

        return Rule(
            label=f"{label} {name!r}" if name else label, source=self.source, line=line,
            match=self.attempt(lambda: self.match(table.get("match", {}), (*path, "match")), {}),
            prefer=action("prefer", self.globs, ()),
            deny=action("deny", self.globs, ()),
            allow=action("allow", self.globs, ()),
            precision=action("precision", lambda v, p: self.choice(v, PRECISIONS, p), None),
            select=action("select", lambda v, p: self.choice(v, SELECT, p), None),
            targets=self.attempt(lambda: self.target_options(table.get("targets", {}), (*path, "targets")), {}),
            reason=str(table.get("reason", "")),
        )

    def document(self, data: object) -> tuple[list[Rule], bool | str]:
        """The rules of a whole document (top level first) and its ``known_bad`` setting.

        Raises:
            PolicyProblems: every bad key and value of the document, each with its line and key path.
        """
        self.problems = []
        top = self.attempt(lambda: self.keys(data, TOP_KEYS, ()), {})
        known_bad = top.get("known_bad", True)
        if not isinstance(known_bad, (bool, str)):
            self.problems.append(self.fail(("known_bad",), "Invalid value", repr(known_bad),
                                           "true | false | a path to a deny-list file"))
        rules = [self.rule({k: v for k, v in top.items() if k in ACTION_KEYS}, (), "top level")]
        items = top.get("rules", [])
        if not isinstance(items, list):
            self.problems.append(self.fail(("rules",), "Expected an array of tables", repr(items), "[[rules]] sections"))
            items = []
        for i, item in enumerate(items):
            known = self.attempt(lambda it=item, n=i: self.keys(it, RULE_KEYS, ("rules", n)), None)
            if known is not None:
                rules.append(self.rule(known, ("rules", i), f"rules[{i}]"))
        if self.problems:
            raise PolicyProblems(self.source, self.problems)
        return rules, known_bad
