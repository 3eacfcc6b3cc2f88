"""Sequences: construction, access, insertion and erasure, length, concat/split, SequenceMap.

A sequence is a Python list of arrays, in the engine and through ``Session.run``.
Every kernel returns a new list, so a sequence fed by the caller or still read
by another node is never changed in place.
"""

from __future__ import annotations

import numpy as np

from .. import registry
from ..ir import Node
from .control import _program, _scoped


def _position(pos: np.ndarray | None, length: int, default: int, *, insert: bool = False) -> int:
    """A sequence position: negative counts from the end; inserting may also target ``length``."""
    p = default if pos is None else int(np.asarray(pos).reshape(-1)[0])
    p = p + length if p < 0 else p
    if not 0 <= p < length + insert:
        raise IndexError(f"sequence position {p} is outside a sequence of length {length}")
    return p


@registry.register("SequenceEmpty", 11)
def sequence_empty(node: Node, opset: int):
    """An empty sequence (its ``dtype`` attribute only types it)."""
    return lambda: ([],)


@registry.register("SequenceConstruct", 11)
def sequence_construct(node: Node, opset: int):
    """A sequence of the inputs, in order."""
    return lambda *xs: (list(xs),)


@registry.register("SequenceAt", 11)
def sequence_at(node: Node, opset: int):
    """The tensor at a position."""
    return lambda seq, pos: (seq[_position(pos, len(seq), 0)],)


@registry.register("SequenceInsert", 11)
def sequence_insert(node: Node, opset: int):
    """A new sequence with a tensor inserted at a position (default: at the end)."""
    def run(seq, x, pos=None):
        out = list(seq)
        out.insert(_position(pos, len(seq), len(seq), insert=True), x)
        return (out,)
    return run


@registry.register("SequenceErase", 11)
def sequence_erase(node: Node, opset: int):
    """A new sequence without the tensor at a position (default: the last)."""
    def run(seq, pos=None):
        out = list(seq)
        del out[_position(pos, len(seq), -1)]
        return (out,)
    return run


@registry.register("SequenceLength", 11)
def sequence_length(node: Node, opset: int):
    """The number of tensors, as a 0-d int64."""
    return lambda seq: (np.array(len(seq), np.int64),)


@registry.register("ConcatFromSequence", 11)
def concat_from_sequence(node: Node, opset: int):
    """Concatenate along ``axis``, or stack along a new one (``new_axis=1``)."""
    axis, new_axis = node.attrs["axis"], bool(node.attrs.get("new_axis", 0))
    return lambda seq: (np.stack(seq, axis=axis) if new_axis else np.concatenate(seq, axis=axis),)


@registry.register("SplitToSequence", 11)
def split_to_sequence(node: Node, opset: int):
    """Split along ``axis``: into ones (squeezed unless ``keepdims``), equal chunks of a scalar size, or sizes."""
    axis, keepdims = node.attrs.get("axis", 0), bool(node.attrs.get("keepdims", 1))

    def run(x, split=None):
        ax = axis % x.ndim
        n = x.shape[ax]
        if split is None:
            parts = np.split(x, n, axis=ax)
            return ([p if keepdims else np.squeeze(p, axis=ax) for p in parts],)
        sizes = np.asarray(split).reshape(-1)
        if np.ndim(split) == 0:  # a chunk size; the last chunk may be shorter
            step = int(sizes[0])
            sizes = [min(step, n - s) for s in range(0, n, step)]
        bounds = np.cumsum([int(s) for s in sizes])[:-1]
        return (np.split(x, bounds, axis=ax),)
    return run


@registry.register("SequenceMap", 17)
@_scoped
def sequence_map(node: Node, opset: int, *, float64: bool = False):
    """Run the body once per position; sequence inputs give their i-th tensor, tensors pass whole."""
    body = _program(node.attrs["body"], float64)

    def run(seq, *extra, scope):
        outs: list[list] = [[] for _ in body.output_names]
        for i in range(len(seq)):
            values = [seq[i], *(x[i] if isinstance(x, list) else x for x in extra)]
            res = body.run(dict(zip(body.input_names, values, strict=True)), scope=scope)
            for k, name in enumerate(body.output_names):
                outs[k].append(res[name])
        return tuple(outs)
    return run
