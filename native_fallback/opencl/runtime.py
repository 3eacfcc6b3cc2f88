"""OpenCL context, queue and compiled kernels, created once per process and per REAL type.

Importing this module imports pyopencl, so only native_fallback.opencl.program
imports it, and only when a program is compiled for device="opencl".
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pyopencl as cl
import pyopencl.array as cla

KERNEL_SOURCE = Path(__file__).with_name("kernels.cl")


class Kernels:
    """The kernels of one built program, each retrieved once (retrieval builds a new cl.Kernel)."""

    def __init__(self, program: cl.Program) -> None:
        self._program = program
        self._cache: dict[str, cl.Kernel] = {}

    def __getattr__(self, name: str) -> cl.Kernel:
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._cache:
            self._cache[name] = cl.Kernel(self._program, name)
        return self._cache[name]


class Device:
    """One OpenCL device: its context, an in-order queue and kernels per float type."""

    def __init__(self) -> None:
        self.context = cl.create_some_context(interactive=False)
        self.queue = cl.CommandQueue(self.context)
        self.device = self.context.devices[0]
        self._programs: dict[str, Kernels] = {}

    @property
    def has_fp64(self) -> bool:
        """Whether the device computes in double precision."""
        return "cl_khr_fp64" in self.device.extensions

    def kernels(self, dtype: np.dtype) -> Kernels:
        """The kernel program built for ``dtype`` (float32 or float64), cached."""
        real = "double" if np.dtype(dtype) == np.float64 else "float"
        if real not in self._programs:
            options = [f"-DREAL={real}"]
            src = KERNEL_SOURCE.read_text()
            if real == "double":
                src = "#pragma OPENCL EXTENSION cl_khr_fp64 : enable\n" + src
            self._programs[real] = Kernels(cl.Program(self.context, src).build(options=options))
        return self._programs[real]

    def upload(self, a: np.ndarray) -> cla.Array:
        """Copy a host array to the device (contiguous)."""
        return cla.to_device(self.queue, np.require(a, requirements="C"))  # ascontiguousarray makes 0-d 1-d

    def empty(self, shape: tuple[int, ...], dtype: np.dtype) -> cla.Array:
        """An uninitialized device array."""
        return cla.empty(self.queue, tuple(int(s) for s in shape), dtype)


@functools.lru_cache(maxsize=1)
def device() -> Device:
    """The process-wide OpenCL device (first one pyopencl offers)."""
    return Device()


def is_device_array(value: object) -> bool:
    """Whether ``value`` lives on the OpenCL device."""
    return isinstance(value, cla.Array)
