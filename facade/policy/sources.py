"""Where the policy in effect comes from, and reading it (TOML; YAML when PyYAML is installed).

Precedence, first found wins (the others are not merged):

1. ``Session(policy=...)``: a path, a dict, or a :class:`Policy`.
2. The ``FACADE_POLICY`` environment variable: a path to a policy file.
3. A project file: ``facade.toml`` or ``.facade/policy.toml`` (also ``.yaml``/``.yml``),
   looked for in the working directory and then each parent directory.
4. The user config directory: ``<platformdirs user_config_dir("facade")>/policy.toml``
   (e.g. ``~/.config/facade/policy.toml`` on Linux).

Whichever applies, the shipped deny-list of known-bad driver/device combinations
(``facade/data/known_bad.toml``) is layered *under* it unless the policy sets
``known_bad = false``, or ``known_bad = "path/to/list.toml"`` to use another list.
"""

from __future__ import annotations

import functools
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import platformdirs

from facade.adapters.catalogue import catalogue
from facade.errors import PolicyError, format_message
from facade.policy.schema import Rule, Validator

ENV_VAR = "FACADE_POLICY"
PROJECT_FILES = ("facade.toml", ".facade/policy.toml", ".facade/policy.yaml", ".facade/policy.yml")
USER_FILES = ("policy.toml", "policy.yaml", "policy.yml")


@dataclass(frozen=True)
class Policy:
    """A validated policy: its layers in order (shipped deny-list first) and where it came from."""

    source: str
    rules: tuple[Rule, ...]

    @classmethod
    def from_dict(cls, data: Mapping, source: str = "<dict>", text: str | None = None,
                  base: Path | None = None) -> Policy:
        """Validate a parsed document. Raises PolicyError naming the key path (and line when ``text`` is given)."""
        rules, known_bad = Validator(source, text, catalogue()).document(data)
        if known_bad is False:
            return cls(source, tuple(rules))
        listed = _known_bad() if known_bad is True else _deny_list((base or Path.cwd()) / known_bad)
        return cls(source, listed + tuple(rules))


def _parse(path: Path) -> tuple[Mapping, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise PolicyError(format_message("Cannot read policy file", where=str(path), received=str(e),
                                         expected="a readable TOML (or YAML) file")) from e
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError as e:
            raise PolicyError(format_message("YAML policy files need PyYAML", where=str(path),
                                             expected="pip install 'facade-runtime[yaml]', or a .toml file")) from e
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as e:
            raise PolicyError(format_message("Invalid YAML", where=str(path), received=str(e).replace("\n", " "),
                                             expected="valid YAML")) from e
        return data, text
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as e:
        raise PolicyError(format_message("Invalid TOML", where=str(path), received=str(e),
                                         expected="valid TOML (https://toml.io)")) from e


def load_policy(path: str | os.PathLike) -> Policy:
    """Read and validate one policy file.

    Raises:
        PolicyError: unreadable, not TOML/YAML, an unknown key or a bad value; the
            message names the file, line, key path and allowed values.
    """
    path = Path(path)
    data, text = _parse(path)
    return Policy.from_dict(data, str(path), text, base=path.parent)


def _deny_list(path: Path | Traversable, name: str | None = None) -> tuple[Rule, ...]:
    """A known-bad list: a policy document whose layers are labelled ``known_bad ...`` in explain()."""
    if isinstance(path, Path):
        data, text = _parse(path)
    else:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    rules, _ = Validator(name or str(path), text, catalogue()).document(data)
    return tuple(replace(r, label=f"known_bad {r.label}") for r in rules if r.match or r.acts)


@functools.lru_cache(maxsize=1)
def _known_bad() -> tuple[Rule, ...]:
    """The shipped deny-list (package data), read once per process."""
    return _deny_list(resources.files("facade") / "data" / "known_bad.toml", "facade/data/known_bad.toml")


def find_policy_file(cwd: Path | None = None) -> Path | None:
    """The file that applies when no policy is passed: FACADE_POLICY, else a project file, else the user's."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        for name in PROJECT_FILES:
            if (folder / name).is_file():
                return folder / name
    user = Path(platformdirs.user_config_dir("facade", appauthor=False))
    return next((user / n for n in USER_FILES if (user / n).is_file()), None)


def resolve_policy(policy: object = None) -> Policy:
    """The policy in effect for ``policy`` as passed to ``Session`` (see the module docstring for precedence).

    Raises:
        PolicyError: the policy is invalid, or ``policy`` has an unsupported type.
    """
    if isinstance(policy, Policy):
        return policy
    if isinstance(policy, Mapping):
        return Policy.from_dict(policy)
    if isinstance(policy, (str, os.PathLike)):
        return load_policy(policy)
    if policy is not None:
        raise PolicyError(format_message("Unsupported policy argument", received=type(policy).__name__,
                                         expected="a path, a dict or a facade.policy.Policy"))
    found = find_policy_file()
    if found is not None:
        return load_policy(found)
    return Policy("no policy file (shipped known-bad list only)", _known_bad())
