"""native:opencl: the numpy program with OpenCL kernels swapped in per operator.

Values stay on the device across consecutive OpenCL operators; a numpy operator
receives host copies of whatever it reads, and its outputs move to the device
only when an OpenCL operator asks for them. Constants are uploaded once.
"""

from __future__ import annotations

import numpy as np

from facade.errors import TargetUnavailableError, format_message

from ..ir import Graph
from ..probe import opencl_available
from ..program import Program, Step, opset_for
from . import ops, runtime


class OpenCLProgram(Program):
    """A :class:`Program` whose hot operators run as OpenCL kernels."""

    def __init__(self, graph: Graph, *, float64: bool = False, threads: int | None = None) -> None:
        ok, reason = opencl_available()
        if not ok:
            raise TargetUnavailableError(format_message("OpenCL cannot be used here", where="native:opencl",
                                                        received=reason, expected="a working OpenCL device"))
        super().__init__(graph, float64=float64, threads=threads)
        self.device = runtime.device()
        self.dtype = np.dtype(np.float64 if float64 else np.float32)
        usable = not float64 or self.device.has_fp64
        self._cl: dict[int, tuple[ops.ClOp, object]] = {}
        for index, step in enumerate(self.steps):
            entry = ops.CL_OPS.get(step.node.op_type)
            opset = opset_for(graph, step.node)
            if usable and entry is not None and entry.accepts(step.node, opset):
                self._cl[index] = (entry, entry.build(step.node, opset, self.device, self.dtype))
        self._uploaded: dict[str, object] = {}

    @property
    def device_ops(self) -> list[str]:
        """Names of the nodes that run on the OpenCL device (for explain and tests)."""
        return [self.steps[i].node.name or self.steps[i].node.outputs[0] for i in sorted(self._cl)]

    def _to_device(self, name: str, value: object) -> object:
        if runtime.is_device_array(value):
            return value
        if name in self._constants:
            if name not in self._uploaded:
                self._uploaded[name] = self.device.upload(np.asarray(value))
            return self._uploaded[name]
        return self.device.upload(np.asarray(value))

    @staticmethod
    def _compiled(step: Step) -> tuple:
        """Every step goes through :meth:`_execute`: a value may live on the device, and a numpy kernel
        called directly from the compiled schedule would be handed a device array."""
        return (None, *Program._compiled(step)[1:])

    def _execute(self, index: int, step: Step, args: list, env: dict, in_place: bool = True) -> tuple:
        found = self._cl.get(index)
        if found is not None:
            entry, kernel = found
            wanted = [k for k in entry.device_inputs if k < len(args) and args[k] is not None]
            if all(args[k].dtype == self.dtype for k in wanted):
                moved = list(args)
                for k in wanted:
                    moved[k] = self._to_device(step.node.inputs[k], args[k])
                for k, value in enumerate(moved):
                    if k not in wanted and runtime.is_device_array(value):
                        moved[k] = value.get()
                try:
                    return kernel(*moved)
                except NotImplementedError:
                    pass  # this call's shapes are outside the kernel's reach: numpy runs it
        host = [self._host(a) for a in args]
        if step.scoped:  # control-flow bodies run on numpy and read the outer scope directly
            env = {k: self._host(v) for k, v in env.items()}
        return super()._execute(index, step, host, env, in_place=in_place)

    def _host(self, value: object) -> object:
        return value.get() if runtime.is_device_array(value) else value
