"""The IO contract: callers see the ONNX model's names, layout, dtypes and output order on every target.

Converters rename blobs (ncnn's ``in0``/``out0``, TFLite's ``Identity_1``), move
channels last (onnx2tf), drop the batch axis (pnnx) and flatten unit dims (ncnn's
Mat). One :class:`IOContract` per loaded artifact records, for each ONNX tensor,
the engine's name and axis permutation; adapters only move arrays in and out of
their engine, and this module does every mapping, transposition and reshape.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from facade.errors import ConversionError, InputError, format_message
from facade.tensor import TensorSpec

# ONNX axis order -> channels-last axis order, by rank (NCW -> NWC, NCHW -> NHWC, NCDHW -> NDHWC).
CHANNELS_LAST: Mapping[int, tuple[int, ...]] = {3: (0, 2, 1), 4: (0, 2, 3, 1), 5: (0, 2, 3, 4, 1)}


def sanitized(name: str) -> str:
    """A name as converters rewrite it: every character outside [A-Za-z0-9_] becomes ``_``."""
    return re.sub(r"\W", "_", name)


def match_names(onnx_names: Sequence[str], engine_names: Sequence[str]) -> dict[str, str]:
    """ONNX name -> engine name: exact, then sanitized, else by position (converters keep order)."""
    if len(onnx_names) != len(engine_names):
        raise ConversionError(format_message("The converted model's tensors do not match the ONNX model's",
                                             received=list(engine_names), expected=list(onnx_names)))
    by_sanitized = {sanitized(n): n for n in engine_names}
    exact = {n: n for n in onnx_names if n in engine_names}
    named = {n: by_sanitized[sanitized(n)] for n in onnx_names if n not in exact and sanitized(n) in by_sanitized}
    mapping = {**exact, **named}
    if len(mapping) == len(onnx_names) and len(set(mapping.values())) == len(onnx_names):
        return {n: mapping[n] for n in onnx_names}
    return dict(zip(onnx_names, engine_names, strict=True))


def find_permutation(onnx_shape: Sequence[int], engine_shape: Sequence[int],
                     prefer_channels_last: bool) -> tuple[int, ...] | None:
    """The permutation ``perm`` with ``onnx_array.transpose(perm).shape == engine_shape``.

    None means identity. When both fit (e.g. C == W), ``prefer_channels_last`` decides,
    as the converter's own rule does (onnx2tf moves every NC... tensor channels last).
    """
    rank = len(onnx_shape)
    last = CHANNELS_LAST.get(rank)
    fits_last = last is not None and tuple(onnx_shape[i] for i in last) == tuple(engine_shape)
    fits_same = tuple(onnx_shape) == tuple(engine_shape)
    if fits_last and (prefer_channels_last or not fits_same):
        return last
    if fits_same or len(onnx_shape) != len(engine_shape):
        return None
    raise ConversionError(format_message("No layout maps the ONNX tensor onto the converted one",
                                         received=[int(d) for d in engine_shape], expected=list(onnx_shape)))


@dataclass(frozen=True)
class Binding:
    """One ONNX tensor and its engine twin: name, axis permutation, dtype, and the engine's
    fixed shape where the artifact was converted with static shapes (``None``: it resizes).

    ``batch_axis=False`` is for an engine tensor without the ONNX leading axis (pnnx
    strips a batch axis it recognises: ncnn's ``batch_index=0``): it is dropped on the
    way in, one sample at a time, and restored on the way out.
    """

    spec: TensorSpec
    engine_name: str
    perm: tuple[int, ...] | None = None
    engine_dtype: np.dtype | None = None
    static_shape: tuple[int, ...] | None = None
    batch_axis: bool = True

    def to_engine(self, arr: np.ndarray) -> np.ndarray:
        """The engine's layout and dtype, C-contiguous, in at most one copy (none when nothing changes)."""
        if self.perm is not None:
            arr = arr.transpose(self.perm)
        dtype = self.engine_dtype if self.engine_dtype is not None else arr.dtype
        return np.ascontiguousarray(arr, dtype=dtype)

    def from_engine(self, arr: np.ndarray, shape: Sequence[int] | None = None, fresh: bool = False) -> np.ndarray:
        """The ONNX layout, shape and dtype of an engine output, as an array the caller owns.

        ``fresh`` says the engine handed out a new array that nothing else holds (see
        :attr:`IOContract.fresh_outputs`); otherwise the engine may reuse its buffer, and
        the array is copied once, unless a dtype cast already made a new one.
        """
        arr = np.asarray(arr)
        if self.perm is not None:
            arr = arr.transpose(np.argsort(self.perm))
        if shape is not None and tuple(arr.shape) != tuple(shape):
            arr = arr.reshape(shape)  # engines that flatten unit dims (ncnn's Mat) keep the element order
        if arr.dtype != self.spec.dtype:
            return arr.astype(self.spec.dtype)  # a new array: the caller owns it
        return arr if fresh else np.array(arr, copy=True)


@dataclass(frozen=True)
class IOContract:
    """How one loaded artifact's tensors map onto the ONNX contract.

    ``per_sample=True`` is for artifacts converted at batch 1 (static shapes): a
    batch of N runs as N single samples, stacked. The batch axis is an input's dim 0
    where the ONNX model leaves it dynamic, or where the engine has none (see
    :class:`Binding`); a fixed leading dim (``[4, 16]``) is data, passed whole.
    ``output_shapes`` are the ONNX outputs' shapes at batch 1, for engines whose
    arrays lose unit dims.

    The copy policy is here, once: an input is copied only when its layout or dtype
    changes (:meth:`Binding.to_engine`); an output is copied only when the engine may
    reuse its buffer. ``fresh_outputs=True`` is for engines whose outputs are new
    arrays on every call (ncnn's ``np.array(mat)``, LiteRT's ``get_tensor``, files
    read back): they reach the caller without another copy.
    """

    inputs: tuple[Binding, ...]
    outputs: tuple[Binding, ...]
    per_sample: bool = False
    output_shapes: Mapping[str, Sequence[int] | None] | None = None
    fresh_outputs: bool = False

    def run(self, feeds: Mapping[str, np.ndarray],
            invoke: Callable[[dict[str, np.ndarray]], Mapping[str, np.ndarray]], where: str,
            wanted: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """Map ONNX feeds to the engine, call ``invoke`` and map the ``wanted`` outputs back (default: all)."""
        outputs = self.outputs if wanted is None else tuple(b for b in self.outputs if b.spec.name in wanted)
        batched = [b.spec.name for b in self.inputs if self._splits(b)] if self.per_sample else []
        sizes = {feeds[name].shape[0] for name in batched}
        if sizes <= {1}:
            return self._once(feeds, invoke, where, outputs)
        if len(sizes) != 1:
            raise InputError(format_message("Inputs disagree on the batch size", where=where,
                                            received={n: feeds[n].shape[0] for n in batched},
                                            expected="one batch size for every input"))
        n = sizes.pop()
        samples = [self._once({k: v[i:i + 1] if k in batched else v for k, v in feeds.items()}, invoke, where,
                              outputs) for i in range(n)]
        return {b.spec.name: np.concatenate([s[b.spec.name] for s in samples], axis=0) for b in outputs}

    def _splits(self, b: Binding) -> bool:
        """Whether a batch of this input runs one sample at a time (see the class docstring)."""
        shape = b.spec.shape
        return bool(shape) and (not b.batch_axis or not isinstance(shape[0], int) or shape[0] < 0)

    def _once(self, feeds, invoke, where: str, outputs: tuple[Binding, ...]) -> dict[str, np.ndarray]:
        engine_feeds = {}
        for b in self.inputs:
            arr = feeds[b.spec.name]
            engine_feeds[b.engine_name] = b.to_engine(arr if b.batch_axis else arr[0])
            if b.static_shape is not None and engine_feeds[b.engine_name].shape != b.static_shape:
                onnx_order = b.static_shape if b.perm is None else tuple(b.static_shape[i] for i in np.argsort(b.perm))
                raise InputError(format_message(
                    f"Input {b.spec.name!r} does not fit this target's model, converted with static shapes "
                    f"(the ONNX model's dynamic dims {list(b.spec.shape or ())} were fixed at conversion)",
                    where=where, received=list(arr.shape), expected=[int(d) for d in onnx_order]))
        produced = invoke(engine_feeds)
        out = {}
        for b in outputs:
            shape = (self.output_shapes or {}).get(b.spec.name)
            arr = b.from_engine(produced[b.engine_name], shape, self.fresh_outputs)
            out[b.spec.name] = arr if shape is not None or b.batch_axis else arr[None]
        return out
