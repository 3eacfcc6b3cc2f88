"""The engine's own intra-op threads: a pool per thread count (C and Python workers), and BLAS held at one thread.

Why the engine splits work itself instead of letting OpenBLAS thread its GEMMs:
OpenBLAS's pthreads server makes its workers busy-wait between calls (and numpy
calls BLAS hundreds of times per inference), so on a machine where other
processes want the cores its spinning threads lose them and every GEMM waits for
a descheduled thread: measured 16-19x slower than ORT on a busy 2-core machine.
And many of a mobile network's kernels are not GEMMs at all (depthwise taps,
pooling, activations), which BLAS threads never touch.

So a program compiled with ``threads=N`` runs its large kernels as N pieces on a
:class:`Pool`, and BLAS stays at one thread. Pieces that are C functions (GEMM and
depthwise convolutions, MaxPool, large matrix products) run as one job of the pool's C side
(``compiled/pool.c``: N-1 pthreads that never take the GIL, spinning while a program
runs and sleeping after it). Pieces that are Python (numpy kernels) run on N-1 Python
workers that sleep on a lock between jobs, numpy releasing the GIL inside each
piece's loops; such a worker must take the GIL to start its piece, which costs tens of
microseconds and more on a VM, hence the larger ``MIN_PIECE`` there. That BLAS limit is process-wide
state (threadpoolctl sets OpenBLAS's global thread count), so it is set once,
when the first such program is built, held while any lives, and the original
limit restored when the last one closes. Two programs with different thread
counts agree on it (both want one BLAS thread) and keep separate pools; the
per-runner lock of ``adapters/base.py`` never has to cover BLAS state.
"""

from __future__ import annotations

import functools
import itertools
import math
import os
import queue
import threading
from collections.abc import Callable

import numpy as np

from facade.errors import ArgumentError, format_message

from . import compiled

_LOCK = threading.Lock()
_pools: dict[int, Pool] = {}
_holders = 0
_blas_limiter = None


class _Job:
    """One call of :meth:`Pool.map`: pieces taken in order by whichever thread is free."""

    __slots__ = ("count", "done", "error", "fn", "left", "lock", "next")

    def __init__(self, fn: Callable[[int], None], count: int) -> None:
        self.fn, self.count = fn, count
        self.next = itertools.count().__next__  # atomic under the GIL
        self.left = count
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.error: BaseException | None = None

    def work(self) -> None:
        while True:
            i = self.next()
            if i >= self.count:
                return
            try:
                self.fn(i)
            except BaseException as e:  # handed to the caller, which re-raises it
                self.error = e
            with self.lock:
                self.left -= 1
                if self.left == 0:
                    self.done.set()


#: How long (ns) a worker of the C pool (``compiled/pool.c``) spins for its next job, and a caller for
#: the last piece of its job, before sleeping: longer than the Python a caller runs between two
#: convolutions of one inference (tens of microseconds), short enough that an idle engine, or one on a
#: machine busy with other processes, gives its cores back at once.
SPIN_NS = 200_000
#: Microseconds to spin instead of :data:`SPIN_NS` (``0``: sleep at once, where battery matters more than
#: latency); read when a pool's C side is made.
SPIN_ENV = "FACADE_NATIVE_SPIN_US"


def spin_ns() -> int:
    """The C pool's spin in nanoseconds: :data:`SPIN_NS`, or ``FACADE_NATIVE_SPIN_US`` when it is set."""
    raw = os.environ.get(SPIN_ENV, "").strip()
    if not raw:
        return SPIN_NS
    try:
        us = float(raw)
    except ValueError:
        us = -1.0
    if not math.isfinite(us) or us < 0:
        raise ArgumentError(format_message("the native pool's spin time is not a number of microseconds >= 0",
                                           where=SPIN_ENV, received=raw, expected="e.g. 200, or 0 to never spin"))
    return int(us * 1000)


@functools.lru_cache(maxsize=1)
def _c_pools():
    return compiled.library("pool", {"pool_new": "llp", "pool_run": "pplll>l", "pool_active": "pl"})


def c_pool_available() -> bool:
    """Whether ``compiled/pool.c`` is built here (False: C kernels off or no compiler)."""
    return compiled.enabled() and _c_pools() is not None


class Pool:
    """The calling thread plus ``threads - 1`` daemon workers blocked on a queue (no spinning), for
    kernels whose pieces are Python; and, made at first use, ``compiled/pool.c``'s pool of as many C
    threads for jobs whose pieces are C functions (:meth:`run_c`)."""

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self._c: int | None = None  # the C side's address (0: it could not be made), and its process
        self._c_pid = 0
        self._queue: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        for k in range(threads - 1):
            threading.Thread(target=self._serve, name=f"facade-native-{threads}-{k}", daemon=True).start()

    def _serve(self) -> None:
        while True:
            self._queue.get().work()

    def map(self, fn: Callable[[int], None], count: int) -> None:
        """Call ``fn(0) .. fn(count - 1)`` across the pool and return when all are done.

        The pieces must write disjoint outputs. The caller takes pieces too, so a
        pool whose workers are all busy elsewhere still finishes the job.
        """
        if count <= 1 or self.threads == 1:
            for i in range(count):
                fn(i)
            return
        job = _Job(fn, count)
        for _ in range(min(self.threads - 1, count - 1)):
            self._queue.put(job)
        job.work()
        job.done.wait()
        if job.error is not None:
            raise job.error

    def c_handle(self) -> int | None:
        """The C pool's address (made at first call, and again in a forked child, whose copy has no
        workers and may hold a lock a parent thread took), or None where the C kernels are unavailable."""
        if self._c is None or self._c_pid != os.getpid():
            if not compiled.enabled():
                return None
            with _LOCK:
                if self._c is None or self._c_pid != os.getpid():
                    lib = _c_pools()
                    out = np.zeros(1, np.int64)
                    if lib is not None:
                        lib.pool_new(self.threads, spin_ns(), compiled.ptr(out))
                    self._c, self._c_pid = int(out[0]), os.getpid()
        return self._c or None

    def program(self, delta: int) -> None:
        """A program starts (1) or ends (-1) a run on this pool: while one runs the C workers spin for
        jobs instead of sleeping (``pool_active`` in ``compiled/pool.c``). Nothing before the C side exists."""
        if self._c and self._c_pid == os.getpid():
            _c_pools().pool_active(self._c, delta)

    def run_c(self, job: int, x: int, y: int, r: int = 0) -> None:
        """Run a C job (a :class:`CJob`'s address) with these tensor addresses on the C pool, the GIL released."""
        handle = self.c_handle()
        if handle is None:  # callers check c_handle() first; a NULL pool must never reach C
            raise RuntimeError("the native C pool is not available here (see compiled.status())")
        status = _c_pools().pool_run(handle, job, x, y, r)
        if status:
            raise MemoryError("the native C pool could not allocate its working buffers" if status == 1
                              else "a native C pool job's context is longer than pool.c's CTX_MAX")


class CJob:
    """A job of the C pool (``compiled/pool.c``'s layout), built once per kernel and input shape: a
    context template (int64 fields the pieces read), which of its fields take each call's input, output
    and residual addresses, and its phases (piece function address, piece count). ``keep`` holds the
    arrays the context points to."""

    __slots__ = ("address", "ctx", "job", "keep")

    def __init__(self, ctx: np.ndarray, phases: list[tuple[int, int]], *, x: int = -1, y: int = -1, r: int = -1,
                 scratch: int = 0, shared: int = 0, keep: tuple = ()) -> None:
        self.ctx, self.keep = ctx, keep
        self.job = np.array([len(phases), scratch, shared, compiled.ptr(ctx), ctx.size, x, y, r,
                             *(v for phase in phases for v in phase)], np.int64)
        self.address = compiled.ptr(self.job)

    def run(self, pool: Pool, x: np.ndarray, y: np.ndarray, r: np.ndarray | None = None) -> None:
        """Run on ``pool`` with input ``x``, output ``y`` and (where the job has the field) residual ``r``."""
        pool.run_c(self.address, compiled.ptr(x), compiled.ptr(y), 0 if r is None else compiled.ptr(r))


def current() -> Pool:
    """The running program's pool, or the one-thread pool outside a threaded program."""
    return getattr(_local, "pool", None) or pool(1)


#: Per kernel kind, the least work worth one piece, in multiply-adds for "gemm" (a convolution's
#: output elements times its reduction length: a 7x7 output with K = 4608 is heavy though small) and
#: in output elements for the others. Waking a worker and handing it a piece costs 10-30 us, so a
#: piece must carry at least tens of microseconds: 2M multiply-adds is ~40 us of one core's sgemm.
#: "depthwise" is conv.c's one-pass kernel, ~1.6k 3x3 outputs a microsecond (3.6-4.6x numpy's tap loop,
#: measured), so a piece is 128k outputs (~80 us); split finer, a late-waking worker cost more than it saved.
#: "c_gemm" and "c_depthwise" are the same kernels as jobs of the C pool (``compiled/pool.c``), where a
#: piece costs ~5 us, not 10-30: a piece of 0.5M multiply-adds (~10 us) or 32k depthwise outputs (~20 us).
#: "c_pool" is conv.c's MaxPool / AveragePool on the C pool: 4k outputs of a 3x3 window, ~20 us over
#: N,C,H,W planes of 28x28 or less (ShuffleNet's AveragePools, 5 ns an output) and ~8 us channels-last. With
#: the Python pool's "pool" size SqueezeNet's MaxPools ran whole at 4 threads (0.70 ms at 1 thread, 0.72 at
#: 4); with 16k, ShuffleNet's 136-channel 28x28 -> 14x14 AveragePool ran whole at 2 threads (0.15 ms;
#: 0.08 split, and the model 6.32 against 6.04 ms, measured here in one process).
MIN_PIECE = {"gemm": 1 << 21, "depthwise": 1 << 17, "elementwise": 1 << 17, "pool": 1 << 16,
             "reduce": 1 << 17, "c_gemm": 1 << 19, "c_depthwise": 1 << 15, "c_pool": 1 << 12}
_local = threading.local()


def running(p: Pool | None) -> Pool | None:
    """Make ``p`` the pool of kernels run by this thread; returns the previous one (to restore)."""
    previous = getattr(_local, "pool", None)
    _local.pool = p
    return previous


def split(kind: str, size: int, most: int | None = None) -> tuple[Pool | None, int]:
    """The running program's pool and how many pieces a ``kind`` kernel of ``size`` work (see
    :data:`MIN_PIECE`) should be cut into (1: run it whole on this thread). ``most`` caps the count."""
    p = getattr(_local, "pool", None)
    if p is None or p.threads == 1:
        return None, 1
    count = min(p.threads, size // MIN_PIECE[kind], most or p.threads)
    return (p, count) if count > 1 else (None, 1)


def c_split(kind: str, size: int, units: int | None = None) -> tuple[Pool, int]:
    """The pool (the running program's, else the one-thread pool) and piece count for a C pool job of
    ``kind`` with ``size`` work (:data:`MIN_PIECE`) over at most ``units`` pieces (1: run in the caller)."""
    p = current()
    # One piece per thread: four per thread (for balance when a thread starts late) ran ResNet-50 at
    # 107 against 89 ms and SqueezeNet at 10.4 against 8.4 ms on two threads (interleaved, one process).
    count = min(p.threads, size // MIN_PIECE[kind], units or size) if p.threads > 1 else 1
    return p, max(1, count)


def pool(threads: int) -> Pool:
    """The process's pool of ``threads`` threads (programs of one thread count share it)."""
    with _LOCK:
        found = _pools.get(threads)
        if found is None:
            found = _pools[threads] = Pool(threads)
        return found


@functools.lru_cache(maxsize=1)
def _controller():
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # optional: without it the BLAS pool keeps its own size
        return None
    return ThreadpoolController()


def blas_info() -> list[dict]:
    """What threadpoolctl reads of the loaded BLAS libraries (kernel, threading layer, threads)."""
    controller = _controller()
    return [] if controller is None else [dict(lib.info()) for lib in controller.lib_controllers
                                          if lib.user_api == "blas"]


def hold_single_blas() -> None:
    """Limit BLAS to one thread while any engine-threaded program lives (see the module docstring)."""
    global _holders, _blas_limiter
    with _LOCK:
        _holders += 1
        if _holders == 1:
            controller = _controller()
            _blas_limiter = None if controller is None else controller.limit(limits=1, user_api="blas")


def release_single_blas() -> None:
    """One holder fewer; the last restores the BLAS limit found before the first."""
    global _holders, _blas_limiter
    with _LOCK:
        _holders -= 1
        if _holders == 0 and _blas_limiter is not None:
            _blas_limiter.restore_original_limits()
            _blas_limiter = None


def ranges(total: int, count: int) -> list[tuple[int, int]]:
    """``count`` contiguous near-equal ranges covering ``0 .. total``."""
    edges = [total * k // count for k in range(count + 1)]
    return [(a, b) for a, b in itertools.pairwise(edges) if b > a]


def over_ranges(kind: str, size: int, total: int, body: Callable[[int, int], None]) -> None:
    """``body(start, stop)`` over ``0 .. total`` cut into as many ranges as :func:`split` says
    for a ``kind`` kernel of ``size`` work (one call on this thread when it says 1)."""
    p, count = split(kind, size, total)
    if p is None:
        body(0, total)
        return
    parts = ranges(total, count)
    p.map(lambda k: body(*parts[k]), len(parts))


def in_place(fn: Callable[[np.ndarray], object], y: np.ndarray) -> np.ndarray:
    """``fn`` (an in-place elementwise function, e.g. a fused activation) over ``y`` in ranges of
    its flat view on the engine's threads; ``y`` whole when it is small or not contiguous."""
    if not y.flags.c_contiguous:
        fn(y)
        return y
    flat = y.reshape(-1)
    over_ranges("elementwise", flat.size, flat.size, lambda a, b: fn(flat[a:b]))
    return y


_scratch = threading.local()


def scratch(key: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A per-thread working array for ``key`` (never returned to a caller: its contents die with the
    piece that asked). Pieces on several threads that allocated fresh blocks each call made every
    thread page-fault in new memory, which the kernel serialises on the process's memory map; a
    buffer kept per thread and key is faulted in once."""
    buffers = getattr(_scratch, "buffers", None)
    if buffers is None:
        buffers = _scratch.buffers = {}
    dtype = np.dtype(dtype)
    need = math.prod(shape) * dtype.itemsize
    held = buffers.get(key)
    if held is None or held.size < need:
        held = buffers[key] = np.empty(max(need, 1), dtype=np.uint8)
    return held[:need].view(dtype).reshape(shape)
