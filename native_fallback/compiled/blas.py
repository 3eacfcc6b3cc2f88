"""The process's BLAS ``cblas_sgemm`` as a C function address, for kernels that call it from C threads.

Why: ``compiled/pool.c`` runs a convolution's pieces on C threads that never take the GIL, so their
GEMMs cannot go through numpy; they call the BLAS numpy itself uses (found by threadpoolctl, so the
one whose thread count ``threads.hold_single_blas`` limits). numpy's wheels bundle OpenBLAS with the
``scipy_`` prefix and the ILP64 ``64_`` suffix (64-bit integers); other builds export ``cblas_sgemm``
with 32-bit integers. OpenBLAS says which in ``openblas_get_config`` (``USE64BITINT``); a library that
cannot say is not used (a wrong integer width would read garbage dimensions).
"""

from __future__ import annotations

import ctypes
import functools

#: (prefix, suffix) pairs OpenBLAS builds use, the ILP64 ones marked by their "64_" suffix.
_AFFIXES = (("scipy_", "64_"), ("", "64_"), ("", ""), ("scipy_", ""))


@functools.lru_cache(maxsize=1)
def sgemm() -> tuple[int, bool] | str:
    """``(address of cblas_sgemm, ILP64?)`` of numpy's BLAS, or why there is none usable here."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return "threadpoolctl is not installed (it finds numpy's BLAS and holds it at one thread)"
    import numpy  # noqa: F401  (loads numpy's BLAS, so that threadpoolctl finds it)

    blas = [c for c in ThreadpoolController().lib_controllers if c.user_api == "blas"]
    if not blas:
        return "threadpoolctl found no BLAS library in this process"
    if blas[0].internal_api != "openblas":
        return f"numpy's BLAS is {blas[0].internal_api}, not OpenBLAS (only OpenBLAS states its integer width)"
    lib = ctypes.CDLL(blas[0].filepath)
    for prefix, suffix in _AFFIXES:
        fn = getattr(lib, f"{prefix}cblas_sgemm{suffix}", None)
        config = getattr(lib, f"{prefix}openblas_get_config{suffix}", None)
        if fn is None or config is None:
            continue
        config.restype = ctypes.c_char_p
        ilp64 = b"USE64BITINT" in (config() or b"")
        return ctypes.cast(fn, ctypes.c_void_p).value, ilp64
    return f"no cblas_sgemm with a readable openblas_get_config in {blas[0].filepath}"
