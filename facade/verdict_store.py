"""The store of conformance verdicts per device and model: written by conformance, read by the router.

Kept in the ground so that the router (which reads it) never imports conformance
(which writes it). Verdicts live in the cache under the device fingerprint and
the model's sha256, one JSON file per model: column key (``target@precision``) ->
summary ``{"case", "verdict", "unavailable", "passes": {class: bool}, "reason"}``.
Reports handed in for this process only (``facade.conformance.gate.use_report``)
are kept in memory on top of the cache.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from facade.cache import atomic_write, cache_dir

Summaries = Mapping[tuple[str, str], Mapping[str, dict]]  # (fingerprint, model sha256) -> column -> summary

_in_process: list[Summaries] = []


def _path(fingerprint: str, sha256: str) -> Path:
    return cache_dir("conformance", fingerprint) / f"{sha256}.json"


def _read(path: Path) -> dict[str, dict]:
    try:
        return json.loads(path.read_text()) if path.exists() else {}
    except (OSError, json.JSONDecodeError):
        return {}


def write(summaries: Summaries) -> list[Path]:
    """Merge each model's column summaries into its file (atomically); the paths written."""
    written = []
    for (fingerprint, sha256), columns in summaries.items():
        path = _path(fingerprint, sha256)
        written.append(atomic_write(path, json.dumps({**_read(path), **columns}, indent=1).encode()))
    return written


def add_in_process(summaries: Summaries) -> None:
    """Consult ``summaries`` in this process too, on top of the cache (later ones win)."""
    _in_process.append(summaries)


def clear_in_process() -> None:
    """Forget what :func:`add_in_process` was given."""
    _in_process.clear()


def verdicts(fingerprint: str, sha256: str) -> dict[str, dict]:
    """Column key -> verdict summary for one model on one device: the cache, then this process's."""
    found = _read(_path(fingerprint, sha256))
    for summaries in _in_process:
        found.update(summaries.get((fingerprint, sha256), {}))
    return found
