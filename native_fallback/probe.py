"""Is OpenCL usable here? Asked once per process, answered by a child process.

Merely loading some OpenCL drivers crashes the process (about 1% of Android
devices, per the field reports), so the first contact happens in a child with a
timeout; the parent only reads its verdict. pyopencl is never imported here.
"""

from __future__ import annotations

import functools
import sys

from facade import childproc

_CHILD = r"""
import numpy as np, pyopencl as cl
ctx = cl.create_some_context(interactive=False)
q = cl.CommandQueue(ctx)
prg = cl.Program(ctx, "__kernel void twice(__global float* a){int i=get_global_id(0); a[i]*=2.0f;}").build()
a = np.arange(16, dtype=np.float32)
buf = cl.Buffer(ctx, cl.mem_flags.READ_WRITE | cl.mem_flags.COPY_HOST_PTR, hostbuf=a)
prg.twice(q, a.shape, None, buf)
out = np.empty_like(a)
cl.enqueue_copy(q, out, buf).wait()
assert np.array_equal(out, a * 2), "wrong result"
print(ctx.devices[0].name.strip(), "|", ctx.devices[0].platform.name.strip())
"""


@functools.lru_cache(maxsize=1)
def opencl_available() -> tuple[bool, str]:
    """(ok, reason): probe OpenCL in a child process; cached per process; never raises."""
    try:
        done = childproc.run([sys.executable, "-c", _CHILD], timeout_s=childproc.timeout("probe"))
    except OSError as e:
        return False, f"the OpenCL probe could not start: {e}"
    if done.hung:
        return False, f"the OpenCL probe did not finish within {done.timeout_s:.0f} s"
    if not done.ok:
        return False, f"the OpenCL probe failed: {done.last_line(limit=10_000) or f'exit status {done.returncode}'}"
    return True, f"OpenCL device: {done.stdout.strip()}"
