"""The content-addressed cache of converted artifacts, with their verification verdicts.

Key: sha256 over (model sha256, converter, converter version, options, the
model preparation (:func:`facade.convert.prepare.stamp`: on or off, its version,
the simplifier's version, the converter's limits) and ``LAYOUT``, the version of
what facade records beside the files), so a new model, tool version, option,
preparation or manifest layout converts again and nothing else does. An entry is a
directory ``artifacts/<key>/`` holding the files and a ``manifest.json`` that lists
each file's sha256. It is built in a temporary directory beside it and renamed into
place; a manifest that does not parse or a file whose digest differs marks the entry
corrupt, and it is rebuilt. A per-key file lock serializes conversions across
processes. A converter that rejects a model is cached too (as a failed entry with the
reason), so routing does not run a slow converter again to learn the same answer.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from facade.cache import atomic_write, cache_dir, make_private
from facade.convert import prepare
from facade.convert.base import Converter
from facade.convert.child import killed_from_outside
from facade.errors import ConversionError, format_message
from facade.model import Model

log = logging.getLogger("facade.convert")

MANIFEST = "manifest.json"
SUBDIR = "artifacts"


@dataclass
class Artifact:
    """One cache entry: where its files are, and what the manifest says about them."""

    key: str
    path: Path
    manifest: dict

    @property
    def ok(self) -> bool:
        return self.manifest.get("status") == "ok"

    @property
    def main(self) -> Path:
        return self.path / self.manifest["main"]

    @property
    def io(self) -> dict:
        return self.manifest.get("io", {})

    @property
    def verdicts(self) -> Mapping[str, dict]:
        return self.manifest.get("verdicts", {})

    @property
    def reason(self) -> str:
        return self.manifest.get("reason", "")

    @property
    def preparation(self) -> str:
        """What was done to the model before the converter saw it, in one line (see :mod:`.prepare`)."""
        return prepare.describe(self.manifest.get("preparation"), self.manifest.get("prepared", True))

    @property
    def refusal(self) -> str:
        """A failed entry's reason, then what preparation did first (so a refusal says what was already tried)."""
        return f"{self.reason.rstrip('.')}. Model {self.preparation}."


def root() -> Path:
    """The artifact cache directory (under ``$FACADE_CACHE_DIR`` when set)."""
    return cache_dir(SUBDIR)


# Bumped when what facade gives a converter or records beside its files changes
# (2: models upgraded to opset 13 first; pnnx's per-blob batch_index recorded;
# 3: preparation steps recorded, converter failures stated by cause with the raw log kept).
LAYOUT = 3


def cache_key(model_sha256: str, converter: str, version: str, options: Mapping[str, object],
              preparation: str = "") -> str:
    """The content address of one conversion (``preparation``: :func:`facade.convert.prepare.stamp`)."""
    blob = json.dumps({"model": model_sha256, "converter": converter, "version": version,
                       "options": dict(options), "preparation": preparation, "layout": LAYOUT},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _file_digests(entry: Path) -> dict[str, str]:
    return {str(p.relative_to(entry)): _digest(p) for p in sorted(entry.rglob("*"))
            if p.is_file() and p.name != MANIFEST}


def _read(key: str) -> Artifact | None:
    """The entry for ``key`` if present and intact; a corrupt one is removed (and None returned)."""
    entry = root() / key
    if not entry.exists():
        return None
    try:
        manifest = json.loads((entry / MANIFEST).read_text())
        intact = manifest.get("key") == key and manifest.get("files", {}) == _file_digests(entry)
    except (OSError, ValueError) as e:
        intact, manifest = False, {"error": str(e)}
    if intact:
        return Artifact(key, entry, manifest)
    log.warning("facade: cache entry %s is corrupt; rebuilding it", entry)
    shutil.rmtree(entry, ignore_errors=True)
    return None


def _lock(key: str) -> FileLock:
    return FileLock(str(root() / f".{key}.lock"))


def lookup(model: Model, converter: Converter, options: Mapping[str, object]) -> Artifact | None:
    """The intact cached entry for this conversion, if any; never converts."""
    if not converter.available():
        return None
    return _read(_key(model, converter, converter.version(), options))


def _key(model: Model, converter: Converter, version: str, options: Mapping[str, object]) -> str:
    return cache_key(model.sha256, converter.name, version, options, prepare.stamp(converter.limits()))


def obtain(model: Model, converter: Converter, options: Mapping[str, object]) -> Artifact:
    """The artifact for ``model`` converted by ``converter`` with ``options``: cached, or converted now.

    Raises:
        ConversionError: the converter is unavailable or rejected the model (also
            when that rejection was cached earlier).
    """
    avail = converter.available()
    if not avail:
        raise ConversionError(format_message(f"Converter is not available: {avail.reason}",
                                             where=f"{converter.name} ({model.name})"))
    version = converter.version()
    key = _key(model, converter, version, options)
    with _lock(key):
        artifact = _read(key) or _build(key, model, converter, version, options)
    if not artifact.ok:
        raise ConversionError(artifact.refusal)
    return artifact


def _build(key: str, model: Model, converter: Converter, version: str, options: Mapping[str, object]) -> Artifact:
    """Convert into a hidden folder, then rename it into place: an entry is whole or absent.

    Runs under the key's lock, so hidden folders left for this key by a process that was killed
    are stale and removed. A converter killed from outside raises without caching anything:
    that failure says nothing about the model, and a cached refusal would be trusted forever.
    """
    for stale in root().glob(f".{key[:12]}-*.tmp"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key[:12]}-", suffix=".tmp", dir=root()))
    manifest = {"key": key, "model": model.name, "model_sha256": model.sha256, "converter": converter.name,
                "version": version, "options": dict(options), "format": converter.produces,
                "created": time.time(), "verdicts": {}}
    try:
        started = time.perf_counter()
        prepared = converter.prepare(model.proto) if model.proto is not None else None
        if prepared is not None:
            manifest.update(prepared=prepared.enabled, preparation=prepared.record())
        try:
            main, io = converter.convert(model, tmp, options, prepared)
            manifest.update(status="ok", main=main, io=io)
        except ConversionError as e:
            if killed_from_outside(e):
                raise
            for p in tmp.iterdir():
                shutil.rmtree(p) if p.is_dir() else p.unlink()
            manifest.update(status="failed", reason=str(e))
        manifest["seconds"] = round(time.perf_counter() - started, 3)
        manifest["files"] = _file_digests(tmp)
        make_private(tmp)
        atomic_write(tmp / MANIFEST, json.dumps(manifest, indent=1).encode())
        tmp.rename(root() / key)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Artifact(key, root() / key, manifest)


def record_verdict(artifact: Artifact, target: str, verdict: dict) -> None:
    """Store a verification verdict in the entry's manifest (atomically, under the key's lock)."""
    with _lock(artifact.key):
        current = _read(artifact.key)
        if current is None:
            return  # removed meanwhile (cache clear); the next session verifies again
        current.manifest.setdefault("verdicts", {})[target] = verdict
        atomic_write(current.path / MANIFEST, json.dumps(current.manifest, indent=1).encode())
        artifact.manifest = current.manifest


def entries() -> Iterator[Artifact]:
    """Every intact entry in the cache (corrupt ones are removed on the way)."""
    for entry in sorted(root().iterdir()):
        if entry.is_dir() and not entry.name.startswith("."):
            artifact = _read(entry.name)
            if artifact is not None:
                yield artifact


def clear() -> int:
    """Remove every entry; return how many were removed."""
    count = 0
    for entry in list(root().iterdir()):
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
            count += not entry.name.startswith(".")
        elif entry.name.endswith(".lock"):
            entry.unlink(missing_ok=True)
    return count
