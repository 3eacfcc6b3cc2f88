"""Keep freed activation memory in the process heap instead of returning it to the OS.

glibc serves allocations above a threshold (128 KiB, adapting upward) with fresh
``mmap`` pages and unmaps them on free, so every run of a model page-faults all
of its large intermediates afresh. Measured here, that made a Winograd
convolution 5x slower than its arithmetic. Raising the mmap threshold to glibc's
maximum (32 MiB on 64-bit) and the trim threshold far above it lets the buffers
the memory planner frees at their last use be reused by the next allocation of
the same size, which is the reuse the planner's figures assume.

This is process-wide glibc state, so it is applied once, only on glibc, and can
be switched off with ``FACADE_NATIVE_KEEP_HEAP=0``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: glibc refuses mmap thresholds above HEAP_MAX_SIZE / 2 (32 MiB on 64-bit).
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 1 << 30


@functools.lru_cache(maxsize=1)
def keep_freed_memory() -> bool:
    """Apply the heap settings once; True when they took effect."""
    if os.environ.get("FACADE_NATIVE_KEEP_HEAP", "1") == "0":
        return False
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
