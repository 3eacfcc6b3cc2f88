"""Where facade keeps what it builds (demo models, converted artifacts, verdicts).

The directory is ``$FACADE_CACHE_DIR`` when set, else the user cache directory
(``platformdirs``). Every write goes to a temporary file in the same directory and
is then renamed into place, so a crash never leaves a half-written entry.

Permissions: the cache is private to its user (directories facade creates are 0700,
files 0600: it holds models, which may be confidential). Files written for people
(reports, plots, exported outputs) are not cache: ``atomic_write(..., shared=True)``
gives them the mode a plain ``open()`` would, 0666 less the user's umask, so a team
can read each other's reports. ``tempfile.mkstemp`` alone makes every file 0600.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import platformdirs

ENV_VAR = "FACADE_CACHE_DIR"
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def cache_dir(*parts: str) -> Path:
    """The cache directory (or a subdirectory of it), created if missing; levels facade creates are 0700."""
    root = Path(os.environ.get(ENV_VAR) or platformdirs.user_cache_dir("facade", appauthor=False))
    path = root.joinpath(*parts)
    if not path.is_dir():
        missing = [p for p in (path, *path.parents) if not p.exists()]
        for level in reversed(missing):  # Path.mkdir(parents=True) gives parents the default mode
            level.mkdir(mode=PRIVATE_DIR, exist_ok=True)
    return path


def umask() -> int:
    """The process's umask, read without changing it where Linux reports it (os.umask sets it)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    old = os.umask(0o077)
    os.umask(old)
    return old


def shared_mode() -> int:
    """The mode ``open()`` gives a new file: 0666 less the umask."""
    return 0o666 & ~umask()


def make_private(tree: Path) -> None:
    """Make a folder a converter filled private (its files were made with the umask's mode)."""
    for p in tree.rglob("*"):
        p.chmod(PRIVATE_DIR if p.is_dir() else PRIVATE_FILE)
    tree.chmod(PRIVATE_DIR)


def atomic_write(path: Path, data: bytes, *, shared: bool = False) -> Path:
    """Write ``data`` to ``path`` through a temp file in the same directory, then rename.

    The file is 0600 (cache) unless ``shared``: then it follows the umask (files for people).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if shared:
            os.fchmod(fd, shared_mode())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
