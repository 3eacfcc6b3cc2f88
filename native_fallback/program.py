"""A compiled graph: kernels bound to nodes, run over a schedule with early frees.

The program holds one kernel per node, built once. ``run`` walks the schedule,
drops each intermediate after its last use (the memory planner's liveness, so
numpy's allocator can reuse the block at once) and wraps every kernel failure
with the node it came from.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from facade.errors import FacadeError, InputError, ModelError, UnsupportedModelError, format_message

from . import planner, registry
from . import threads as pools
from .allocator import keep_freed_memory
from .inplace import FRESH_OUTPUT_OPS, IN_PLACE_KERNELS
from .ir import Graph, Node

_FLOATS = (np.float16, np.float32)
#: Where the common path writes an omitted optional output (no input reads this name).
_OMITTED = "\0omitted"


@dataclass
class Step:
    """One scheduled node with its kernel and the names it frees afterwards."""

    node: Node
    kernel: Callable[..., tuple]
    frees: tuple[str, ...]
    scoped: bool
    in_place: Callable[[list, int], tuple | None] | None = None
    targets: tuple[int, ...] = ()


def unsupported_line(node: Node, opset: int) -> str:
    """The readable line for a node no kernel implements."""
    return (f"{node.label()}: operator '{node.op_type}' of domain '{node.domain or 'ai.onnx'}' "
            f"at opset {opset} has no implementation")


def kernel_error(node: Node, args: list, error: Exception) -> FacadeError:
    """A kernel's exception as a facade error naming the node, its op and every input shape."""
    shapes = ", ".join(str(getattr(a, "shape", None)) for a in args)
    cls = UnsupportedModelError if isinstance(error, NotImplementedError) else ModelError
    return cls(format_message(f"the kernel failed: {type(error).__name__}: {error}",
                              where=f"native | {node.label()}", received=f"input shapes {shapes}",
                              expected="inputs this operator accepts at this opset"))


def opset_for(graph: Graph, node: Node) -> int:
    """The opset version of ``node``'s domain in this graph."""
    domain = "" if node.domain in registry.DEFAULT_DOMAINS else node.domain
    return graph.opsets.get(domain, 1 if domain == registry.FACADE_DOMAIN else graph.opsets.get("", 1))


def build_kernel(graph: Graph, node: Node, float64: bool) -> tuple[Callable[..., tuple], bool]:
    """Find and build the kernel of ``node``; ``scoped`` kernels also receive the value scope."""
    opset = opset_for(graph, node)
    entries = registry.candidates(node.domain, node.op_type, opset)
    declined = None
    for entry in entries:
        scoped = bool(getattr(entry.builder, "scoped", False))
        try:
            kernel = entry.builder(node, opset, float64=float64) if scoped else entry.builder(node, opset)
        except NotImplementedError as e:  # this kernel does not cover the node: try the next one
            declined = e
            continue
        return kernel, scoped
    if declined is not None:
        raise UnsupportedModelError(format_message(
            f"no kernel covers this node: {declined}", where=f"native | {node.label()}",
            expected="attributes a native_fallback kernel implements")) from declined
    raise UnsupportedModelError(format_message(
        unsupported_line(node, opset), where="native",
        expected="an operator registered in facade.native_fallback (see native_fallback.unsupported)"))


class Program:
    """Executable form of a :class:`Graph` (see ``native_fallback.compile``)."""

    def __init__(self, graph: Graph, *, float64: bool = False, threads: int | None = None) -> None:
        keep_freed_memory()
        self.graph = graph
        self.float64 = float64
        self.threads = threads
        # threads=N: the engine's pool splits large kernels and BLAS stays at one thread (threads.py).
        self._pool = pools.pool(threads) if threads else None
        self._release = None
        if threads:
            pools.hold_single_blas()
            self._release = weakref.finalize(self, pools.release_single_blas)
        self.input_names = list(graph.inputs)
        self.output_names = list(graph.outputs)
        self._constants = {k: self._promote(v) for k, v in graph.initializers.items()}
        keep = set(graph.outputs)
        last_use = planner.last_uses(graph.nodes, keep)
        buffer_end = planner.buffer_last_uses(graph.nodes, keep)
        producer = {o: node.op_type for node in graph.nodes for o in node.outputs}
        self.steps = []
        for i, node in enumerate(graph.nodes):
            kernel, scoped = build_kernel(graph, node, float64)
            frees = tuple(n for n, at in last_use.items() if at == i and n not in self._constants)
            targets = tuple(k for k, n in enumerate(node.inputs)
                            if n in frees and buffer_end.get(n) == i and producer.get(n) in FRESH_OUTPUT_OPS
                            and node.inputs.count(n) == 1)
            fast = IN_PLACE_KERNELS.get(node.op_type) if node.domain in registry.DEFAULT_DOMAINS else None
            self.steps.append(Step(node, kernel, frees, scoped, fast if targets else None, targets))
        self._sizes: dict[str, int] | None = None
        self._schedule = [self._compiled(step) for step in self.steps]

    @staticmethod
    def _compiled(step: Step) -> tuple:
        """A step as the common path runs it: (kernel, input names, output names, frees, step), the
        kernel None where the step needs :meth:`_execute` (in place, or given the value scope). An
        omitted optional input reads ``""``, which the run maps to None; an omitted output is
        written under a name nothing reads."""
        direct = None if step.scoped or step.in_place else step.kernel
        outs = tuple(n or _OMITTED for n in step.node.outputs)
        return direct, tuple(step.node.inputs), outs, step.frees, step

    def _promote(self, value):
        if self.float64 and isinstance(value, np.ndarray) and value.dtype in _FLOATS:
            return value.astype(np.float64)
        return value

    def run(self, feeds: dict[str, np.ndarray], *, intermediate: bool = False,
            scope: dict[str, object] | None = None, profile: dict[str, float] | None = None,
            ) -> dict[str, np.ndarray]:
        """Run the graph and return its outputs by ONNX name.

        ``intermediate=True`` returns every tensor the program computes (for
        divergence hunting); compile with ``optimize=False`` to see every tensor
        of the original graph, since fusion removes some. ``scope`` supplies
        outer values to control-flow bodies. ``profile``, a dict, receives the
        seconds each node took, added under its label (pass the same dict over
        several runs to accumulate), to find where a model's time goes.
        """
        if self._pool is None:  # a control-flow body runs on its caller's pool
            return self._run(feeds, intermediate, scope, profile)
        previous = pools.running(self._pool)
        self._pool.program(1)
        try:
            return self._run(feeds, intermediate, scope, profile)
        finally:
            self._pool.program(-1)
            pools.running(previous)

    def close(self) -> None:
        """Give back the process-wide BLAS limit this program holds (also done when it is collected)."""
        if self._release is not None:
            self._release()

    def _run(self, feeds, intermediate, scope, profile=None):
        env: dict[str, object] = dict(scope) if scope else {}
        env.update(self._constants)
        for name in self.input_names:
            if name not in feeds:
                raise InputError(format_message("a model input was not fed", where="native",
                                                received=sorted(feeds), expected=self.input_names))
            value = feeds[name]  # a sequence (list) and an absent optional (None) pass as they are
            env[name] = value if value is None or isinstance(value, list) else self._promote(np.asarray(value))
        record = self._sizes is None and scope is None
        sizes: dict[str, int] = {}
        kept: dict[str, object] = {}
        promote = self.float64
        execute = self._execute
        in_place = not intermediate  # a kept tensor must not change later
        if not (record or promote or intermediate or profile is not None):
            return self._run_plain(env)
        start = 0.0
        for index, step in enumerate(self.steps):
            node = step.node
            args = [env[n] if n else None for n in node.inputs]
            if profile is not None:
                start = time.perf_counter()
            try:
                outs = execute(index, step, args, env, in_place)
            except FacadeError:
                raise
            except Exception as e:
                raise kernel_error(node, args, e) from e
            if profile is not None:
                label = node.label()
                profile[label] = profile.get(label, 0.0) + time.perf_counter() - start
            for name, value in zip(node.outputs, outs, strict=False):
                if name:
                    env[name] = self._promote(value) if promote else value
                    if record and hasattr(value, "nbytes"):
                        sizes[name] = int(value.nbytes)
            if intermediate:
                kept.update((n, self._host(env[n])) for n in node.outputs if n)
            for name in step.frees:
                env.pop(name, None)
        if record:
            self._sizes = sizes
        result = {n: self._host(env[n]) for n in self.output_names}
        if intermediate:
            kept.update(result)
            return kept
        return result

    def _run_plain(self, env: dict) -> dict:
        """The common path: the compiled schedule, no per-output checks (a step's bookkeeping shows
        on mobile networks and small transformers: about 1.5 us a step)."""
        env[""] = None
        execute = self._execute
        for index, (kernel, ins, outs, frees, step) in enumerate(self._schedule):
            args = [env[n] for n in ins]
            try:
                values = kernel(*args) if kernel is not None else execute(index, step, args, env)
            except FacadeError:
                raise
            except Exception as e:
                raise kernel_error(step.node, args, e) from e
            if len(outs) == 1:
                env[outs[0]] = values[0]
            else:
                for name, value in zip(outs, values, strict=False):
                    env[name] = value
            for name in frees:
                env.pop(name, None)
        host = self._host
        return {n: host(env[n]) for n in self.output_names}

    def _execute(self, index: int, step: Step, args: list, env: dict, in_place: bool = True) -> tuple:
        """Run one step's kernel (over a dying input when the step and the caller allow it)."""
        outs = step.in_place(args, step.targets[0]) if in_place and step.in_place else None
        if outs is None:
            outs = step.kernel(*args, scope=env) if step.scoped else step.kernel(*args)
        return outs

    def _host(self, value: object) -> object:
        """A value as the caller sees it (device programs copy back here)."""
        return value

    def memory_report(self) -> dict:
        """Planned peak intermediate bytes against no reuse (needs one run for shapes)."""
        if self._sizes is None:
            return {}
        plan = planner.plan(self.graph.nodes, self._sizes, set(self.output_names))
        return {"planned_peak_bytes": plan.peak_bytes, "no_reuse_bytes": plan.no_reuse_bytes,
                "buffers": len(plan.buffer_sizes)}
