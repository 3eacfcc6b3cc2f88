"""The adapter interface: what every engine module provides, and the rules it obeys.

An :class:`Adapter` *knows about* an engine without importing it: which targets
it offers, which model formats it consumes, whether it is installed (package
metadata) and usable on these device facts. Only :meth:`Adapter.load` imports the
engine, and returns a :class:`Runner`.

:class:`Runner` owns the lifecycle (call order, feed validation, output order,
close) and leaves engines three small hooks: ``_run`` and, optionally, ``_close``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import ClassVar

import numpy as np

from facade import graph_checks
from facade.adapters import non_finite
from facade.devices import DeviceFacts
from facade.errors import (
    EngineError,
    FacadeError,
    FacadeInternalError,
    InputError,
    SessionStateError,
    TargetUnavailableError,
    closest,
    format_message,
)
from facade.model import Model
from facade.targets import FLUSHES_NON_FINITE, Availability, HardwareClass, LoadOptions, Unit
from facade.tensor import FeedCheck, TensorSpec

# What engines print from native code (banners, device dumps, graph warnings): debug, shown by facade -v.
engine_log = logging.getLogger("facade.engine")


class Runner:
    """A loaded model on one target. The base class owns the rules; engines fill ``_run``.

    ``notes`` collects what the trace should say about how the model really runs
    (partial placement, precision used, conversion verdicts).

    Threads: ``run`` may be called from many threads on one runner. An engine whose
    run call is not re-entrant (LiteRT's interpreter owns its tensors; ncnn and MNN
    share per-net state) leaves ``reentrant`` False and the base class serialises
    ``_run`` with a per-runner lock, so callers get correct results, one at a time.
    Only engines whose run call is documented thread-safe (ONNX Runtime's
    ``InferenceSession.run``) set it True and run concurrently.
    """

    reentrant: ClassVar[bool] = False

    def __init__(self, target: str, model: Model, *, precision: str = "fp32",
                 inputs: list[TensorSpec] | None = None, outputs: list[TensorSpec] | None = None):
        self.target = target
        self.model = model
        self.precision = precision
        self.inputs = inputs if inputs is not None else model.inputs
        self.outputs = outputs if outputs is not None else model.outputs
        self.notes: list[str] = []
        self._closed = False
        self._all_outputs = tuple(o.name for o in self.outputs)
        self._known_outputs = frozenset(self._all_outputs)
        self._check_feeds = FeedCheck(self.inputs)
        self._index_bounds = graph_checks.index_bounds(model.proto)
        self._lock = contextlib.nullcontext() if self.reentrant else threading.Lock()
        self._flushes = target in FLUSHES_NON_FINITE

    def run(self, feeds: Mapping[str, object], output_names: Sequence[str] | None = None, *,
            written: bool = False) -> dict[str, np.ndarray]:
        """Validate feeds against the ONNX contract, run, and return the wanted outputs in the order asked.

        Feeds are validated here, once: engines are told not to check them again
        where they allow it. ``written=True`` is for values that each passed
        validation on :meth:`facade.Tensor.write`; only what a single write cannot
        see (every input present, symbolic dims agreeing) is checked again.
        """
        self._check_open()
        arrays = self._check_feeds.joined(feeds, self.target) if written else self._check_feeds(feeds, self.target)
        if self._index_bounds:
            graph_checks.check_index_feeds(self._index_bounds, arrays, self.target)
        wanted = self._all_outputs if output_names is None else self._wanted(output_names)
        with self._lock:
            self._check_open()  # again: another thread may have closed it while this one waited
            try:
                produced = self._run(arrays, wanted)
            except (FacadeError, FacadeInternalError):
                raise
            except Exception as e:  # the engine's own exception types (onnxruntime Fail, RuntimeError, ...)
                raise engine_error(self.target, "run", e) from e
        if self._flushes:
            non_finite.flag(self.target, arrays, produced, self.notes)
        try:
            return {n: produced[n] for n in wanted}
        except KeyError as e:
            raise FacadeInternalError(f"{self.target} adapter produced no value for output {e.args[0]!r}") from None

    def _wanted(self, output_names: Sequence[str]) -> tuple[str, ...]:
        """The caller's output names, checked against the model's."""
        wanted = tuple(output_names)
        for name in wanted:
            if name not in self._known_outputs:
                guess = closest(str(name), list(self._all_outputs))
                raise InputError(format_message(
                    f"Unknown output name {name!r}", where=self.target, expected=list(self._all_outputs),
                    hint=f"Did you mean {guess!r}?" if guess else None))
        return wanted

    def _check_open(self) -> None:
        if self._closed:
            raise SessionStateError(format_message("Session is closed", where=self.target,
                                                   expected="run() before close()"))

    def close(self) -> None:
        """Release engine resources; idempotent."""
        with self._lock:  # never release engine handles under a running call
            if not self._closed:
                self._closed = True
                self._close()

    def _run(self, feeds: dict[str, np.ndarray], wanted: tuple[str, ...]) -> Mapping[str, np.ndarray]:
        """Run the engine on validated ``feeds``; return at least the ``wanted`` outputs by ONNX name."""
        raise NotImplementedError

    def _close(self) -> None:
        """Engines holding native handles override this."""


# How engines name the failing node: ONNX Runtime "... running Conv node. Name:'conv0' Status ...",
# others "node 'x'" / "node x:".
_NODE_PATTERNS = (re.compile(r"running (\w+) node\. Name:'([^']*)'"), re.compile(r"[Nn]ode[: ]+'?([\w./:-]+)'?"))


def engine_error(target: str, stage: str, error: BaseException) -> EngineError:
    """The FacadeError for an engine exception at ``stage`` (load or run): target, node if named, engine text."""
    text = " ".join(str(error).split()) or type(error).__name__
    node = None
    for pattern in _NODE_PATTERNS:
        found = pattern.search(text)
        if found:
            node = f"{found.group(1)} node {found.group(2)!r}" if pattern.groups == 2 else f"node {found.group(1)!r}"
            break
    what = f"the engine failed to {stage} the model" + (f" at {node}" if node else "")
    return EngineError(format_message(what, where=target, received=f"{type(error).__name__}: {text[:800]}",
                                      expected=f"a model and feeds that {target} can {stage}"))


class Adapter:
    """One engine. Subclasses set the class attributes and override the small hooks."""

    engine: ClassVar[str]
    # Each unit with its hardware class, device API and pip extra: the catalogue is derived from these.
    # A plain tuple of names (third-party adapters) takes its classes from ``unit_classes`` (default CPU).
    units: ClassVar[Mapping[str, Unit] | tuple[str, ...]]
    formats: ClassVar[tuple[str, ...]] = ("onnx",)
    modules: ClassVar[tuple[str, ...]] = ()  # importable top-level modules the engine needs
    extra: ClassVar[str] = ""  # pip extra that installs it: facade-runtime[<extra>]
    # Hardware class of each unit when ``units`` is a tuple of names (third-party engines).
    unit_classes: ClassVar[Mapping[str, HardwareClass]] = {}
    # Value kinds beyond plain tensors that the engine takes as graph inputs and outputs
    # (TensorSpec.container names: "sequence", "optional"); converters' formats have none.
    containers: ClassVar[frozenset[str]] = frozenset()

    @property
    def targets(self) -> list[str]:
        return [f"{self.engine}:{u}" for u in self.units]

    def unit(self, name: str) -> Unit:
        """What this adapter declares about unit ``name`` (a KeyError for a unit it does not have)."""
        if isinstance(self.units, Mapping):
            return self.units[name]
        if name not in self.units:
            raise KeyError(name)
        return Unit(self.unit_classes.get(name, HardwareClass.CPU))

    def installed(self, modules: tuple[str, ...] | None = None) -> Availability:
        """Whether ``modules`` (default: the engine's) are importable, answered without importing them."""
        for module in self.modules if modules is None else modules:
            try:
                spec = importlib.util.find_spec(module)
            except (ImportError, ValueError):
                spec = None
            if spec is None:
                return Availability.no(f"Python package {module!r} is not installed; "
                                       f"pip install 'facade-runtime[{self.extra or self.engine}]'")
        return Availability.yes()

    def available(self, unit: str, facts: DeviceFacts) -> Availability:
        """Whether ``unit`` can run on this device. Default: the engine is installed."""
        return self.installed()

    def hardware(self, unit: str, facts: DeviceFacts) -> tuple[HardwareClass, str | None]:
        """The unit's real hardware class here, and why it was demoted if it was.

        A GPU API served by a software driver (llvmpipe, PoCL on the CPU) or an NPU
        simulator is :attr:`HardwareClass.SOFTWARE`: usable when forced, never a default.
        """
        info = self.unit(unit)
        if info.api is None:
            return info.hardware, None
        if info.api in ("vulkan", "opencl"):
            devs = facts.gpu_devices(info.api)
            if devs and all(d.software for d in devs):
                names = ", ".join(d.name for d in devs)
                return HardwareClass.SOFTWARE, f"{info.api} device is the CPU in software ({names})"
            return info.hardware, None
        acc = facts.accelerator(info.api)
        if acc is not None and acc.simulated:
            return HardwareClass.SOFTWARE, f"{acc.detail}"
        return info.hardware, None

    def takes_values(self, model: Model) -> Availability:
        """Whether the engine takes the kinds of the model's graph inputs and outputs (the router asks
        before :meth:`accepts`); a refusal names the first kind it lacks and the tensor."""
        for role, specs in (("inputs", model.inputs), ("outputs", model.outputs)):
            for spec in specs:
                lacking = [c for c in spec.container if c not in self.containers]
                if lacking:
                    return Availability.no(f"{lacking[0]} {role} are not supported ({spec.describe()})")
        return Availability.yes()

    def accepts(self, model: Model, unit: str) -> Availability:
        """Whether this engine can take ``model`` (format, operators). Default: by format."""
        if model.format in self.formats:
            return Availability.yes()
        return Availability.no(f"takes {'/'.join(self.formats)} models, not {model.format}")

    def load(self, model: Model, unit: str, options: LoadOptions) -> Runner:
        """Import the engine and load ``model`` on ``unit``. Raises a FacadeError on failure."""
        raise NotImplementedError

    def unavailable(self, unit: str, reason: str) -> TargetUnavailableError:
        """The error a load raises when the target turns out not to work here."""
        return TargetUnavailableError(format_message(reason, where=f"{self.engine}:{unit}"))


@contextlib.contextmanager
def _redirected(target_fd: int, *fds: int) -> Iterator[None]:
    """Point file descriptors ``fds`` at ``target_fd`` inside the block, where native code writes."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(fd) for fd in fds]
    try:
        for fd in fds:
            os.dup2(target_fd, fd)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, kept in zip(fds, saved, strict=True):
            os.dup2(kept, fd)
            os.close(kept)


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Keep native code's prints out of the user's terminal and stdout while engines load, run or convert.

    Vendor libraries print banners and device dumps (QNN on stdout, which would
    corrupt ``facade ... --json``; ncnn's Vulkan device list, MNN's "The device
    supports: ...", ONNX Runtime's graph warnings on stderr). The name is kept for
    its callers; what is printed now goes to the ``facade.engine`` log at debug
    level (``facade -v`` shows it), as :func:`native_output` does.
    """
    with native_output():
        yield


@contextlib.contextmanager
def native_output() -> Iterator[list[str]]:
    """Capture what native code prints on file descriptors 1 and 2 inside the block.

    Some engines say why a model does not load only there (ncnn: "layer ArgMax not
    exists or registered"); the lines fill the yielded list when the block ends, so
    an error can quote them, and are logged to ``facade.engine`` at debug level,
    never echoed to the terminal (stdout stays clean for --json).
    """
    lines: list[str] = []
    with tempfile.TemporaryFile() as sink:
        try:
            with _redirected(sink.fileno(), 1, 2):
                yield lines
        finally:
            sink.seek(0)
            text = sink.read().decode(errors="replace")
            lines.extend(line for line in text.splitlines() if line.strip())
            for line in lines:
                engine_log.debug("%s", line)


def resolve_threads(options: LoadOptions) -> int:
    """The caller's thread count, else the big-core count (big.LITTLE: keep work on the fast cluster)."""
    if options.threads:
        return options.threads
    from facade.devices import devices

    return max(1, devices().big_cores)
