"""``facade.Session``: one model, routed to the best target, numpy in and out."""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import onnx

from facade import router
from facade.devices import devices
from facade.errors import InputError, format_message
from facade.model import Model, load_model
from facade.quantization import gate
from facade.targets import LoadOptions
from facade.tensor import Tensor, TensorSpec
from facade.tolerances import PRECISIONS
from facade.trace import Trace


class Session:
    """A model loaded on the best available target for this device.

    Args:
        model: path to an ``.onnx`` file (or an engine's native artifact such as
            ``.tflite``), serialized ONNX bytes, or an ``onnx.ModelProto``.
        target: force one target (``"onnxruntime:cpu"``); routing is skipped and a
            target that cannot run the model raises instead of falling back.
        policy: an ops policy (path, or policy object); see ``facade.policy``.
        threads: intra-op threads for engines that have them (default: engine's own).
        precision: lowest precision the caller accepts, ``"fp32"`` (default),
            ``"fp16"`` or ``"int8"``; engines never go below it.
        allow_fallback: when the first-ranked target fails to load, try the next
            (default). Conformance runs pass False so a failure is never hidden.
        calibration: samples for int8 (an ``.npz`` with one array per input, or a
            folder of ``.npz``/``.npy``; see :mod:`facade.quantization.calibration`).
            With ``precision="int8"``, each engine that takes int8 builds its own
            artifact from them and runs it only if its accuracy on the held-out
            samples is within the bounds (:mod:`facade.quantization.gate`); int8 on
            a float model without them is refused.

    Threads: ``run(feeds)`` may be called from many threads on one session; each
    caller gets the outputs of its own feeds (engines that are not re-entrant run
    one call at a time, see ``Runner.reentrant``). The :meth:`input` / :meth:`output`
    handles are per-session state shared by every thread: each ``write``, ``run()``
    and ``read`` is whole, but another thread may write or run in between, so
    concurrent callers should pass their feeds to ``run`` instead.

    Raises:
        ModelError: the model is missing, empty, truncated or not ONNX.
        UnknownTargetError: ``target`` is not a known target name.
        TargetUnavailableError: the forced target cannot run this model here.
        NoTargetError: no target could load the model (every reason is listed).

    Example:
        >>> sess = facade.Session("mobilenet_v2.onnx")
        >>> probs = sess.run({"input": image})["output"]
        >>> sess.target
        'onnxruntime:cpu'
        >>> print(sess.explain())
    """

    def __init__(
        self,
        model: str | os.PathLike | bytes | onnx.ModelProto | Model,
        *,
        target: str | None = None,
        policy: object = None,
        threads: int | None = None,
        precision: str = "fp32",
        allow_fallback: bool = True,
        calibration: str | os.PathLike | None = None,
    ):
        if precision not in PRECISIONS:
            raise InputError(format_message("Unknown precision", received=repr(precision), expected=PRECISIONS))
        if threads is not None and (not isinstance(threads, int) or threads < 1):
            raise InputError(format_message("threads must be a positive integer", received=repr(threads)))
        self._model = load_model(model)
        self._trace = router.plan(self._model, devices(), target=target, policy=policy, precision=precision)
        options = LoadOptions(threads=threads, precision=precision,
                              calibration=gate.request(self._model, precision, calibration, policy_data=any(
                                  "calibration" in e.options for e in self._trace.entries)))
        self._runner = router.open_runner(self._trace, self._model, options,
                                          allow_fallback=allow_fallback and target is None)
        self._written: dict[str, np.ndarray] = {}
        self._results: dict[str, np.ndarray] = {}

    @property
    def target(self) -> str:
        """The target this session runs on, e.g. ``"ncnn:vulkan"``."""
        return self._runner.target

    @property
    def precision(self) -> str:
        """The precision the engine actually computes in (``"fp32"`` unless allowed lower)."""
        return self._runner.precision

    @property
    def model(self) -> Model:
        """The model as read: format, sha256, name, I/O contract."""
        return self._model

    @property
    def inputs(self) -> list[TensorSpec]:
        """Input specs in ONNX order: name, shape (symbolic dims as str), dtype, layout."""
        return list(self._runner.inputs)

    @property
    def outputs(self) -> list[TensorSpec]:
        """Output specs in ONNX order."""
        return list(self._runner.outputs)

    def run(self, feeds: Mapping[str, object] | None = None,
            output_names: list[str] | None = None) -> dict[str, np.ndarray]:
        """Run the model.

        Args:
            feeds: input name to array. When omitted, the values written through
                :meth:`input` handles are used.
            output_names: the outputs wanted (default: all, in ONNX order).

        Returns:
            dict of output name to a new numpy array owned by the caller.

        Raises:
            InputError: a wrong, missing or extra name; a dtype that cannot be cast
                safely; a shape that contradicts a static dimension.
            SessionStateError: the session is closed.
        """
        # A snapshot of the handles' values: another thread's write cannot change a run midway.
        if feeds is None:  # each value was validated when written
            results = self._runner.run(dict(self._written), output_names, written=True)
        else:
            results = self._runner.run(feeds, output_names)
        self._results = dict(results)
        return results

    def _spec(self, key: int | str, specs: list[TensorSpec], kind: str) -> TensorSpec:
        if isinstance(key, int) and not isinstance(key, bool):
            if -len(specs) <= key < len(specs):
                return specs[key]
        elif isinstance(key, str):
            for spec in specs:
                if spec.name == key:
                    return spec
        raise InputError(format_message(f"No such {kind}", where=self.target, received=repr(key),
                                        expected=f"an index below {len(specs)} or one of the names",
                                        available=[s.name for s in specs]))

    def input(self, key: int | str) -> Tensor:
        """A writable handle on input ``key`` (index or name)."""
        return Tensor(self._spec(key, self.inputs, "input"), self._written, writable=True, where=self.target)

    def output(self, key: int | str) -> Tensor:
        """A handle on output ``key``; ``read()`` gives the latest run's value."""
        return Tensor(self._spec(key, self.outputs, "output"), self._results, writable=False, where=self.target)

    def explain(self) -> Trace:
        """Every target considered, whether it was available, why it was rejected, and the order tried.

        The returned :class:`~facade.trace.Trace` prints as a table; ``to_dict()``
        gives the same as JSON-ready data.
        """
        return self._trace

    def close(self) -> None:
        """Release the engine; the session cannot run afterwards."""
        self._runner.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Session(model={self._model.name!r}, target={self.target!r})"


