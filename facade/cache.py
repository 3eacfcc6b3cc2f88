"""Where facade keeps what it builds (demo models, converted artifacts, verdicts).

The directory is ``$FACADE_CACHE_DIR`` when set, else the user cache directory
(``platformdirs``). Every write goes to a temporary file in the same directory and
is then renamed into place, so a crash never leaves a half-written entry.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import platformdirs

ENV_VAR = "FACADE_CACHE_DIR"


def cache_dir(*parts: str) -> Path:
    """The cache directory (or a subdirectory of it), created if missing."""
    root = Path(os.environ.get(ENV_VAR) or platformdirs.user_cache_dir("facade", appauthor=False))
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def atomic_write(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temp file in the same directory, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
