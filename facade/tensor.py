"""Tensor metadata and feed validation shared by every target.

Whatever an engine does inside (NHWC, renamed blobs, fp16 storage), callers see
the ONNX model's contract: these specs. Validation happens here, once, before any
engine sees a feed, so every target rejects bad input with the same message.

Accepted dtypes: a numpy array is accepted when its dtype equals the input's, or
numpy can cast it *safely* to it (``np.can_cast(src, dst, "safe")``: int8 to
int32, uint8 or float16 to float32, ...). float64 to float32 is refused because it
loses precision silently; cast with ``arr.astype(np.float32)``. Python scalars and
lists carry no precision of their own and are converted to the input's dtype.
Non-contiguous arrays are accepted and copied to C order.

Graph inputs and outputs may also be ONNX sequences and optionals: a sequence is
fed and returned as a Python list (or tuple) of arrays, each checked against the
element's dtype and static dims; an absent optional is ``None``. Which targets
take them is each adapter's :attr:`~facade.adapters.base.Adapter.containers`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from facade.errors import InputError, ModelError, SessionStateError, closest, format_message

Dim = int | str | None  # static size, symbolic name, or unknown
#: ONNX value kinds that wrap a tensor, as :attr:`TensorSpec.container` names them.
SEQUENCE, OPTIONAL = "sequence", "optional"


@dataclass(frozen=True)
class TensorSpec:
    """Name, shape (ints for static dims, names or None for dynamic ones), dtype and layout.

    ``layout`` is the axis order of the ONNX contract, named only where the model
    says it: ``"NCHW"`` (``"NCW"``, ``"NCDHW"``) for a tensor that a convolution or
    pooling reads or writes directly, else ``None``. Engines that work in NHWC
    transpose behind this contract.

    ``container`` wraps the tensor, outermost first: ``()`` for a plain tensor,
    ``("sequence",)`` for a sequence of tensors of ``dtype`` and ``shape``,
    ``("optional", "sequence")`` for an optional sequence.
    """

    name: str
    shape: tuple[Dim, ...] | None
    dtype: np.dtype
    layout: str | None = None
    container: tuple[str, ...] = ()

    def describe(self) -> str:
        dims = "?" if self.shape is None else "[" + ", ".join("?" if d is None else str(d) for d in self.shape) + "]"
        wrap = "".join(f"{c} of " for c in self.container)
        return f"{self.name}: {wrap}{self.dtype} {dims}"

    def concrete_shape(self, fill: int = 1) -> tuple[int, ...]:
        """The shape with every dynamic dim replaced by ``fill`` (for probes and seeded inputs)."""
        return tuple(d if isinstance(d, int) and d >= 0 else fill for d in (self.shape or ()))

    def to_dict(self) -> dict:
        out = {"name": self.name, "shape": None if self.shape is None else list(self.shape),
               "dtype": str(self.dtype), "layout": self.layout}
        if self.container:
            out["container"] = list(self.container)
        return out


def spec_from_type(name: str, type_proto: object, layout: str | None = None) -> TensorSpec:
    """The spec of a graph input or output from its ONNX ``TypeProto`` (tensor, sequence or optional)."""
    from onnx import helper

    container: list[str] = []
    t = type_proto
    while t.WhichOneof("value") in ("sequence_type", "optional_type"):
        kind = t.WhichOneof("value")
        container.append(SEQUENCE if kind == "sequence_type" else OPTIONAL)
        t = getattr(t, kind).elem_type
    if t.WhichOneof("value") != "tensor_type":
        raise ModelError(format_message("Only tensor, sequence and optional inputs and outputs are supported",
                                        where=name, received=t.WhichOneof("value"),
                                        expected="tensor_type, sequence_type or optional_type"))
    tensor = t.tensor_type
    shape = (tuple(_dim(d) for d in tensor.shape.dim) if tensor.HasField("shape") else None)
    try:
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(tensor.elem_type))
    except KeyError as e:
        raise ModelError(format_message("Unsupported element type", where=name, received=tensor.elem_type)) from e
    return TensorSpec(name, shape, dtype, layout, tuple(container))


def _dim(d: object) -> Dim:
    if d.HasField("dim_value"):
        return int(d.dim_value)
    return d.dim_param or None


def _coerce(spec: TensorSpec, value: object, where: str) -> np.ndarray:
    if not isinstance(value, np.ndarray):
        try:
            return np.require(np.asarray(value, dtype=spec.dtype), requirements="C")
        except (TypeError, ValueError) as e:
            raise InputError(format_message(
                f"Input {spec.name!r} could not be converted to an array", where=where,
                received=type(value).__name__, expected=spec.describe())) from e
    if value.dtype != spec.dtype:
        if not np.can_cast(value.dtype, spec.dtype, "safe"):
            raise InputError(format_message(
                f"Input {spec.name!r} has a dtype that cannot be cast safely", where=where,
                received=str(value.dtype), expected=str(spec.dtype),
                hint=f"Cast it explicitly, e.g. arr.astype(np.{spec.dtype})"))
        value = value.astype(spec.dtype)
    return np.require(value, requirements="C")  # unlike ascontiguousarray, keeps 0-d arrays 0-d


def _check_shape(spec: TensorSpec, arr: np.ndarray, symbols: dict[str, tuple[int, str]], where: str) -> None:
    if spec.shape is None:
        return
    if arr.ndim != len(spec.shape):
        raise InputError(format_message(
            f"Input {spec.name!r} has the wrong rank", where=where,
            received=f"shape {list(arr.shape)} (rank {arr.ndim})", expected=f"{spec.describe()} (rank {len(spec.shape)})"))
    for axis, (want, got) in enumerate(zip(spec.shape, arr.shape, strict=True)):
        if isinstance(want, int) and want >= 0 and want != got:
            raise InputError(format_message(
                f"Input {spec.name!r} contradicts a static dimension (axis {axis})", where=where,
                received=f"shape {list(arr.shape)}", expected=spec.describe()))
        if isinstance(want, str):
            seen = symbols.setdefault(want, (got, spec.name))
            if seen[0] != got:
                raise InputError(format_message(
                    f"Symbolic dimension {want!r} has two sizes in one call", where=where,
                    received=f"{got} in {spec.name!r} (axis {axis})", expected=f"{seen[0]}, as in {seen[1]!r}"))


def validate_feeds(specs: Sequence[TensorSpec], feeds: Mapping[str, object], where: str) -> dict[str, np.ndarray]:
    """Check names, count, dtypes and shapes of ``feeds``; return contiguous arrays in spec order."""
    if not isinstance(feeds, Mapping):
        raise InputError(format_message("Feeds must be a mapping of input name to array", where=where,
                                        received=type(feeds).__name__, expected="dict[str, numpy.ndarray]"))
    names = [s.name for s in specs]
    extra = [k for k in feeds if k not in names]
    if extra:
        guess = closest(str(extra[0]), names)
        raise InputError(format_message(
            f"Unknown input name {extra[0]!r}", where=where, received=sorted(map(str, feeds)), expected=names,
            hint=f"Did you mean {guess!r}?" if guess else None))
    _check_present(specs, feeds, where)
    symbols: dict[str, tuple[int, str]] = {}
    return {spec.name: _validated(spec, feeds[spec.name], spec.container, symbols, where) for spec in specs}


class FeedCheck:
    """:func:`validate_feeds` for one fixed list of specs, with the per-spec facts worked out once.

    Why: a runner checks every call's feeds, and on a ~1 ms model the generic walk
    is a measurable share of the call. Feeds that are already right (a dict of
    C-contiguous arrays of the exact dtypes and static dims) pass through a short
    loop untouched; anything else takes :func:`validate_feeds`, which coerces or
    raises with the full message, so both paths accept and refuse the same feeds.
    """

    def __init__(self, specs: Sequence[TensorSpec]):
        self.specs = tuple(specs)
        self._simple = all(not s.container and s.shape is not None for s in self.specs)
        self._facts = tuple(
            (s.name, s.dtype, len(s.shape),
             tuple((i, d) for i, d in enumerate(s.shape) if isinstance(d, int) and d >= 0),
             tuple((i, d) for i, d in enumerate(s.shape) if isinstance(d, str)))
            for s in self.specs if s.shape is not None)

    def __call__(self, feeds: Mapping[str, object], where: str) -> dict[str, object]:
        """Contiguous arrays in spec order, as :func:`validate_feeds` returns them (or its error)."""
        passed = self._as_given(feeds) if self._simple and type(feeds) is dict else None
        return validate_feeds(self.specs, feeds, where) if passed is None else passed

    def joined(self, written: Mapping[str, object], where: str) -> dict[str, object]:
        """Values that each passed :func:`validate_feeds` when written (:meth:`Tensor.write`), in spec order.

        Only what one write cannot see is checked: every input is present and the
        symbolic dims agree across inputs.
        """
        _check_present(self.specs, written, where)
        symbols: dict[str, tuple[int, str]] = {}
        for spec in self.specs:
            if not spec.container:
                _check_shape(spec, written[spec.name], symbols, where)
        return {spec.name: written[spec.name] for spec in self.specs}

    def _as_given(self, feeds: dict) -> dict[str, object] | None:
        """The feeds unchanged when each is already an exact, contiguous array of its spec; else None."""
        if len(feeds) != len(self._facts):
            return None
        out: dict[str, object] = {}
        symbols: dict[str, int] = {}
        for name, dtype, rank, static, symbolic in self._facts:
            arr = feeds.get(name)
            if type(arr) is not np.ndarray or arr.dtype != dtype or not arr.flags.c_contiguous:
                return None
            shape = arr.shape
            if len(shape) != rank:
                return None
            for axis, size in static:
                if shape[axis] != size:
                    return None
            for axis, symbol in symbolic:
                if symbols.setdefault(symbol, shape[axis]) != shape[axis]:
                    return None
            out[name] = arr
        return out


def _check_present(specs: Sequence[TensorSpec], feeds: Mapping[str, object], where: str) -> None:
    missing = [s.name for s in specs if s.name not in feeds]
    if missing:
        raise InputError(format_message(
            f"Missing input {missing[0]!r}", where=where, received=sorted(map(str, feeds)),
            expected=[s.describe() for s in specs]))


def _validated(spec: TensorSpec, value: object, container: tuple[str, ...],
               symbols: dict[str, tuple[int, str]], where: str) -> object:
    """One feed checked through its containers: an array, a list of arrays, or None for an absent optional."""
    if not container:
        arr = _coerce(spec, value, where)
        _check_shape(spec, arr, symbols, where)
        return arr
    outer, rest = container[0], container[1:]
    if outer == OPTIONAL:
        return None if value is None else _validated(spec, value, rest, symbols, where)
    if not isinstance(value, list | tuple):
        raise InputError(format_message(
            f"Input {spec.name!r} is a sequence: feed a list of arrays", where=where,
            received=type(value).__name__, expected=spec.describe()))
    # Each element binds its own symbolic dims: a sequence's tensors may differ in size.
    return [_validated(spec, v, rest, {}, where) for v in value]


def owned_copy(value: object, source: object) -> object:
    """``value`` (a validated feed) with no array shared with the caller's ``source``."""
    if isinstance(value, list):
        items = source if isinstance(source, list | tuple) else [None] * len(value)
        return [owned_copy(v, s) for v, s in zip(value, items, strict=True)]
    return value.copy() if value is source and value is not None else value


class Tensor:
    """A handle on one input or output of a :class:`facade.Session` (Jarvis-style I/O).

    Copy semantics: ``write`` validates and *copies* the array, so the caller may
    reuse its buffer at once; ``read`` returns the array of the latest run, owned by
    the caller (a later run produces a new array and never overwrites it).

    Example:
        >>> sess.input(0).write(image)
        >>> sess.run()
        >>> probs = sess.output(0).read()
    """

    def __init__(self, spec: TensorSpec, store: dict[str, np.ndarray], *, writable: bool, where: str):
        self._spec, self._store, self._writable, self._where = spec, store, writable, where

    name = property(lambda self: self._spec.name, doc="The ONNX name of this tensor.")
    shape = property(lambda self: self._spec.shape, doc="Declared shape; str or None for dynamic dims.")
    dtype = property(lambda self: self._spec.dtype, doc="numpy dtype of the ONNX contract.")
    layout = property(lambda self: self._spec.layout, doc="Axis order (e.g. 'NCHW') or None.")
    spec = property(lambda self: self._spec, doc="The full :class:`TensorSpec`.")

    def write(self, value: object) -> None:
        """Validate ``value`` against this input's spec and store a copy for the next ``run()``."""
        if not self._writable:
            raise SessionStateError(format_message(
                f"Tensor {self.name!r} is an output and cannot be written", where=self._where,
                expected="write() on a session input"))
        arr = validate_feeds([self._spec], {self.name: value}, self._where)[self.name]
        self._store[self.name] = owned_copy(arr, value)

    def read(self) -> np.ndarray:
        """The value written (inputs) or produced by the latest run (outputs)."""
        if self.name not in self._store:
            what = "has not been written" if self._writable else "has no value: call run() first"
            raise SessionStateError(format_message(f"Tensor {self.name!r} {what}", where=self._where))
        return self._store[self.name]

    def __repr__(self) -> str:
        return f"Tensor({self._spec.describe()}, layout={self.layout})"
