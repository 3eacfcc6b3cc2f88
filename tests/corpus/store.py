"""The corpus's on-disk cache: where a built model lives, its key, and building what is missing.

Why a cache outside the per-run test cache (``FACADE_CACHE_DIR``, fresh per pytest
run): a cold build imports torch and exports every model (a few minutes on two
cores), so models and oracle outputs stay on disk between runs, in
``$FACADE_CORPUS_DIR`` (default: ``corpus/`` in facade's user cache directory).

An entry lives in ``<root>/<name>-<key>/`` (``model.onnx``, maybe ``model.onnx.data``,
``io.npz`` with the feeds and oracle outputs, ``meta.json``). The key hashes the
builder's source (its module and the builder modules it uses), the entry's
options, and the torch/transformers/onnx/onnxruntime versions, so any change
rebuilds. A build writes a temporary directory and renames it into place, under a
per-entry file lock, so parallel pytest workers neither see half an entry nor
build one twice. Builds run in a child process (``python -m tests.corpus.build``):
torch never enters the test process, and an exporter crash fails only the entries
it hit.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import inspect
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import platformdirs
from filelock import FileLock

from tests.corpus.builders.common import MODEL_FILE
from tests.corpus.registry import CorpusEntry, lookup

ENV_VAR = "FACADE_CORPUS_DIR"
BUILDERS = "tests.corpus.builders"
#: Packages whose versions change what a build makes.
VERSIONED = ("torch", "transformers", "onnx", "onnxscript", "onnxruntime", "numpy")
#: Seconds a whole child build may take (a cold build of the corpus takes a few minutes).
BUILD_TIMEOUT_S = 1800
REPO_ROOT = Path(__file__).resolve().parents[2]


def corpus_root() -> Path:
    """The corpus directory, created if missing."""
    root = Path(os.environ.get(ENV_VAR) or Path(platformdirs.user_cache_dir("facade", appauthor=False)) / "corpus")
    root.mkdir(parents=True, exist_ok=True)
    return root


def versions() -> dict[str, str]:
    """Installed versions of the packages in :data:`VERSIONED` (read from metadata, nothing imported)."""
    found = {}
    for dist in VERSIONED:
        try:
            found[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            found[dist] = "absent"
    return found


def _builder_modules(module: ModuleType, seen: dict[str, ModuleType]) -> None:
    """``module`` and every builder module it refers to (by module or by imported function)."""
    seen[module.__name__] = module
    for value in vars(module).values():
        name = value.__name__ if isinstance(value, ModuleType) else getattr(value, "__module__", None)
        if isinstance(name, str) and name.startswith(BUILDERS) and name not in seen:
            _builder_modules(importlib.import_module(name), seen)


def entry_key(entry: CorpusEntry) -> str:
    """16 hex digits over the builder's sources, the entry's options and the versions."""
    module = importlib.import_module(f"{BUILDERS}.{entry.builder.split(':')[0]}")
    modules: dict[str, ModuleType] = {}
    _builder_modules(module, modules)
    digest = hashlib.sha256()
    for name in sorted(modules):
        digest.update(name.encode() + b"\0" + inspect.getsource(modules[name]).encode() + b"\0")
    digest.update(json.dumps([entry.builder, entry.options, versions()], sort_keys=True).encode())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class CorpusModel:
    """A built corpus entry: the model's path, its seeded feeds and the framework's outputs."""

    entry: CorpusEntry
    path: Path
    feeds: dict[str, np.ndarray]
    oracle: dict[str, np.ndarray]
    meta: dict

    @property
    def name(self) -> str:
        return self.entry.name


def entry_dir(entry: CorpusEntry) -> Path:
    """Where ``entry`` lives once built (it may not exist yet)."""
    return corpus_root() / f"{entry.name}-{entry_key(entry)}"


def is_built(entry: CorpusEntry) -> bool:
    """Whether the cache holds ``entry`` at its current key."""
    return (entry_dir(entry) / "meta.json").is_file()


def load(entry: CorpusEntry | str) -> CorpusModel:
    """The built entry from the cache; FileNotFoundError when it is not built (see :func:`ensure`)."""
    entry = lookup(entry) if isinstance(entry, str) else entry
    where = entry_dir(entry)
    meta = json.loads((where / "meta.json").read_text())
    with np.load(where / "io.npz") as data:
        feeds = {n: data[f"i{k}"] for k, n in enumerate(meta["inputs"])}
        oracle = {n: data[f"o{k}"] for k, n in enumerate(meta["outputs"])}
    return CorpusModel(entry, where / MODEL_FILE, feeds, oracle, meta)


def build(entry: CorpusEntry) -> Path:
    """Build ``entry`` into the cache unless it is there (in this process: torch gets imported)."""
    final = entry_dir(entry)
    with FileLock(str(corpus_root() / f"{entry.name}.lock")):
        if (final / "meta.json").is_file():
            return final
        module_name, func_name = entry.builder.split(":")
        func = getattr(importlib.import_module(f"{BUILDERS}.{module_name}"), func_name)
        tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}-", dir=corpus_root()))
        try:
            start = time.perf_counter()
            result = func(tmp, **entry.options)
            feeds, oracle = result[0], result[1]
            notes = result[2] if len(result) > 2 else {}
            np.savez(tmp / "io.npz", **{f"i{k}": np.asarray(a) for k, a in enumerate(feeds.values())},
                     **{f"o{k}": np.asarray(a) for k, a in enumerate(oracle.values())})
            meta = {"name": entry.name, "family": entry.family, "tags": list(entry.tags), "key": final.name,
                    "inputs": list(feeds), "outputs": list(oracle), "versions": versions(),
                    "build_s": round(time.perf_counter() - start, 2),
                    "bytes": sum(p.stat().st_size for p in tmp.iterdir() if p.name.startswith(MODEL_FILE)),
                    "notes": notes}
            (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
            os.replace(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def stale(entries: list[CorpusEntry]) -> list[Path]:
    """Builds of ``entries`` at keys other than the current one. They are never removed by a build:
    a test run or benchmark started before a builder changed may still be reading them."""
    current = {entry_dir(e) for e in entries}
    found = []
    for entry in entries:
        key_chars = len(entry_dir(entry).name) - len(entry.name) - 1
        found += [p for p in corpus_root().glob(f"{entry.name}-*") if p.is_dir() and p not in current
                  and len(p.name) - len(entry.name) - 1 == key_chars]
    return found


def build_env() -> dict[str, str]:
    """The child build's environment: transformers and the hub kept offline."""
    env = os.environ.copy()
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1")
    return env


def ensure(entries: list[CorpusEntry]) -> dict[str, str]:
    """Build every missing entry in one child process; ``{name: why}`` for those that failed."""
    missing = [e for e in entries if not is_built(e)]
    if not missing:
        return {}
    cmd = [sys.executable, "-m", "tests.corpus.build", *(e.name for e in missing)]
    try:
        done = subprocess.run(cmd, cwd=REPO_ROOT, env=build_env(), capture_output=True, text=True,
                              timeout=BUILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return {e.name: f"corpus build timed out after {BUILD_TIMEOUT_S} s" for e in missing if not is_built(e)}
    reported = {}
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            row = json.loads(line)
            if not row["ok"]:
                reported[row["name"]] = row["error"]
    tail = "\n".join(done.stderr.strip().splitlines()[-5:])
    return {e.name: reported.get(e.name) or f"corpus build exited {done.returncode}: {tail}"
            for e in missing if not is_built(e)}
