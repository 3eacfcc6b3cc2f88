"""C kernels compiled on this machine at first use and called through ctypes.

Why: numpy costs about a microsecond a call and holds the GIL between calls. A
kernel spelled as ten numpy calls over a 4k-element tensor (erf, a layer norm, a
depthwise tap loop) pays ten dispatches and, on the engine's threads, runs its
Python glue one piece at a time. A C loop does the whole kernel in one call, and
ctypes releases the GIL for its duration, so the pool's pieces run side by side.

Why at run time (tinygrad's ClangCompiler pattern) and not at install time: the
core install stays pure Python with no build step, it still works where no
compiler exists, and the code is compiled with ``-march=native`` for the CPU it
runs on. The shared object is cached under facade's cache directory, keyed by the
source, the flags, the compiler's version and this CPU's feature flags, and is
written to a temporary file and renamed into place (see :mod:`.build`).

Where no C compiler is found, compiling fails, or ``FACADE_NATIVE_KERNELS=numpy``
is set, every kernel keeps its numpy path (the tests run both and compare them);
:func:`status` says which is in use and why. The C kernels are float32 only: a
float64 program (the conformance oracle) always computes with numpy.

    lib = compiled.library("activation", {"hardswish_f32": "ppl"})
    if lib is not None and x.dtype == np.float32:
        lib.hardswish_f32(ptr(x), ptr(out), x.size)
"""

from __future__ import annotations

import ctypes
import math
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from . import build

#: ``numpy`` turns the C kernels off (every kernel then takes its numpy path); read when a program is built.
ENV_VAR = "FACADE_NATIVE_KERNELS"
_SOURCES = Path(__file__).resolve().parent
#: Signature letters: p a pointer (an array's data), l int64, i int32, f float, d double.
_TYPES = {"p": ctypes.c_void_p, "l": ctypes.c_int64, "i": ctypes.c_int32, "f": ctypes.c_float,
          "d": ctypes.c_double}
_LOCK = threading.Lock()
_loaded: dict[str, ctypes.CDLL | str] = {}
_addresses: dict[tuple[str, str], int] = {}  # (source, function) -> address, for kernels asking per call


def enabled() -> bool:
    """False when ``FACADE_NATIVE_KERNELS=numpy`` asks for the numpy kernels only."""
    return os.environ.get(ENV_VAR, "").strip().lower() != "numpy"


def _load(name: str) -> ctypes.CDLL | str:
    """The loaded library of ``NAME.c`` (compiled or taken from the cache), or why it is not available."""
    with _LOCK:
        found = _loaded.get(name)
        if found is None:
            try:
                found = ctypes.CDLL(str(build.shared_object(_SOURCES / f"{name}.c")))
            except build.BuildError as e:
                found = str(e)
            except OSError as e:  # a cached object this loader cannot map
                found = f"loading the compiled {name}.c failed: {e}"
            _loaded[name] = found
        return found


def library(name: str, signatures: Mapping[str, str]) -> SimpleNamespace | None:
    """The functions of ``native_fallback/compiled/NAME.c`` with their ctypes signatures, or None when
    the C kernels are off or unavailable here (the caller then uses numpy; :func:`status` says why).

    ``signatures`` maps each function to its argument letters (see ``_TYPES``), then optionally
    ``>`` and its result's letter (``"ppl>l"``); without one the function returns void.
    """
    if not enabled():
        return None
    lib = _load(name)
    if isinstance(lib, str):
        return None
    functions = {}
    for fn, letters in signatures.items():
        f = getattr(lib, fn)
        args, _, result = letters.partition(">")
        f.argtypes, f.restype = [_TYPES[c] for c in args], _TYPES[result] if result else None
        functions[fn] = f
    return SimpleNamespace(**functions)


def address(name: str, fn: str) -> int | None:
    """The address of ``fn`` in ``NAME.c``'s library, for a C caller (a pool job's piece function), or
    None when the C kernels are off or unavailable."""
    if not enabled():
        return None
    found = _addresses.get((name, fn))
    if found is None:
        lib = _load(name)
        if isinstance(lib, str):
            return None
        found = _addresses[name, fn] = ctypes.cast(getattr(lib, fn), ctypes.c_void_p).value
    return found


def status() -> dict[str, str]:
    """Per C source: ``compiled <path>`` or why its numpy path is used (for ``facade info`` and bug reports)."""
    if not enabled():
        return {p.stem: f"off: {ENV_VAR}=numpy" for p in sorted(_SOURCES.glob("*.c"))}
    out = {}
    for path in sorted(_SOURCES.glob("*.c")):
        lib = _load(path.stem)
        out[path.stem] = f"unavailable: {lib}" if isinstance(lib, str) else f"compiled {lib._name}"
    return out


def summary() -> str:
    """One line on which kernels the engine will use, without compiling anything (for ``native:cpu``'s
    availability, read by ``facade targets`` and ``explain``)."""
    if not enabled():
        return f"numpy kernels only ({ENV_VAR}=numpy)"
    try:
        _, version = build.compiler()
    except build.BuildError as e:
        return f"numpy kernels only: {e}"
    failed = sorted(name for name, lib in _loaded.items() if isinstance(lib, str))
    if failed:
        return f"numpy kernels, C kernels failed to build ({', '.join(failed)}: see compiled.status())"
    return f"numpy and C kernels for this CPU ({version})"


_FROM_BUFFER, _ADDRESSOF = ctypes.c_char.from_buffer, ctypes.addressof


def ptr(a: np.ndarray) -> int:
    """The address of ``a``'s data, for a ``p`` argument (``a`` must be C-contiguous and stay alive
    during the call). ``a.ctypes.data`` builds a helper object each time (1.3 us); taking the address
    of a ctypes view of the buffer costs 0.3 us, and a kernel passes up to six pointers a call. A
    read-only, empty or strided array (no writable contiguous buffer to view) takes the slow way."""
    flags = a.flags
    return _ADDRESSOF(_FROM_BUFFER(a)) if flags.writeable and flags.c_contiguous and a.size else a.ctypes.data


def f32(a: np.ndarray) -> bool:
    """Whether ``a`` can go to a float32 C kernel as it is: float32 and C-contiguous."""
    return a.dtype == np.float32 and a.flags.c_contiguous


#: Arrays of at least this many bytes that :func:`empty` makes start on a 64-byte boundary: below it the
#: kernel time an aligned array saves is under the microsecond aligning costs.
ALIGN_MIN_BYTES = 64 << 10


def empty(shape: tuple[int, ...], dtype: np.dtype | type = np.float32) -> np.ndarray:
    """``np.empty``, its data on a 64-byte boundary (a cache line, one AVX-512 vector) when it is large.

    Why: glibc's malloc, which numpy uses, returns 16-byte aligned memory, so three of four activations
    start inside a cache line and every 16-lane load and store of the C kernels spans two lines. conv.c's
    depthwise convolution ran 1.5-1.6x slower so (14x14x576: 103 against 64 us; 7x7x960: 49 against 30,
    measured on one core with its input, output and weights 16 bytes past a line)."""
    size = math.prod(shape) * (4 if dtype is np.float32 else np.dtype(dtype).itemsize)
    if size < ALIGN_MIN_BYTES:
        return np.empty(shape, dtype)
    buf = np.empty(size + 64, np.uint8)
    return np.ndarray(shape, dtype, buf, -ptr(buf) % 64)


def aligned(a: np.ndarray) -> np.ndarray:
    """A float32 C-contiguous copy of ``a`` whose data starts on a 64-byte boundary, whatever its size: for
    constants a kernel reads on every call (weights), made once."""
    size = a.size * 4
    out = np.ndarray(a.shape, np.float32, (buf := np.empty(size + 64, np.uint8)), -ptr(buf) % 64)
    out[...] = a
    return out
