"""Compile one C source to a shared object for this CPU, once, into facade's cache.

The cache key is a hash of the source text and the headers beside it, the flags, the compiler's ``--version``
line and this CPU's feature flags (``-march=native`` code must not run on another
CPU that shares a home directory). The object is written by the compiler to a
temporary name in the cache directory and renamed into place, so two processes
compiling at once both end with a whole file and a crash leaves no half-written one.
Nothing here touches the network: the compiler runs locally with no inputs but the
source.
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

from facade.cache import cache_dir

#: -std=gnu11 (not c11) keeps GCC's default of contracting a*b+c into one FMA, which only rounds less.
#: -fno-math-errno lets sqrtf inline and -fno-trapping-math lets floorf vectorize (nothing reads FP exception
#: flags); no -ffast-math: NaN and infinity must pass as numpy passes them.
FLAGS = ("-O3", "-std=gnu11", "-fPIC", "-shared", "-fno-math-errno", "-fno-trapping-math",
         "-fno-semantic-interposition")
#: Tried first, dropped for a compiler that does not know it (some ARM GCCs want -mcpu=native).
NATIVE = "-march=native"
TIMEOUT_S = 120


class BuildError(Exception):
    """No shared object could be made here; the message says why (shown by ``compiled.status()``)."""


@functools.cache
def compiler() -> tuple[list[str], str]:
    """The C compiler (``$CC``, else the first of cc, gcc, clang on PATH) and its version line."""
    named = shlex.split(os.environ.get("CC", ""))
    command = named or next(([p] for p in map(shutil.which, ("cc", "gcc", "clang")) if p), None)
    if not command:
        raise BuildError("no C compiler found (set CC, or install gcc or clang); using the numpy kernels")
    try:
        done = subprocess.run([*command, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise BuildError(f"the C compiler {command[0]!r} does not run: {e}") from e
    if done.returncode != 0:
        raise BuildError(f"'{command[0]} --version' exited {done.returncode}: {done.stderr.strip()[:200]}")
    return command, (done.stdout.splitlines() or [""])[0]


@functools.cache
def cpu_features() -> str:
    """This CPU's feature flags as Linux reports them (x86 ``flags``, ARM ``Features``), else its name."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("flags", "Features"):
                return value.strip()
    except OSError:
        pass
    return f"{platform.machine()} {platform.processor()}"


def shared_object(source: Path) -> Path:
    """The cached shared object of ``source``, compiled first if this machine has none yet."""
    command, version = compiler()
    headers = [h.read_bytes() for h in sorted(source.parent.glob("*.h"))]  # what the source may include
    key = hashlib.sha256(b"\0".join([source.read_bytes(), *headers, " ".join(FLAGS).encode(), version.encode(),
                                      cpu_features().encode(), platform.machine().encode()])).hexdigest()[:20]
    target = cache_dir("native-kernels") / f"{source.stem}-{key}.so"
    if target.is_file():
        return target
    errors = []
    for extra in ([NATIVE], []):
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        try:
            done = subprocess.run([*command, *FLAGS, *extra, "-I", str(source.parent), "-o", tmp, str(source),
                                   "-lm"],
                                  capture_output=True, text=True, timeout=TIMEOUT_S, stdin=subprocess.DEVNULL)
            if done.returncode == 0:
                os.replace(tmp, target)
                return target
            errors.append(f"{' '.join(extra) or 'without -march'}: {done.stderr.strip()[-400:]}")
        except (OSError, subprocess.TimeoutExpired) as e:
            errors.append(str(e))
        finally:
            Path(tmp).unlink(missing_ok=True)
    raise BuildError(f"compiling {source.name} with {command[0]} failed ({'; '.join(errors)}); "
                     "using the numpy kernels")
