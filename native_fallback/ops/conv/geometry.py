"""Convolution geometry: strides, dilations and padding resolved per input shape, padded inputs,
the read-only window views im2col copies from, and the layout flags the CPU layout pass sets."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ...ir import Node
from .._util import bad_attr
from ..padding import pad_end


@dataclass
class ConvGeometry:
    """Strides, dilations and padding resolved for one input shape."""

    strides: tuple[int, ...]
    dilations: tuple[int, ...]
    pads_begin: tuple[int, ...]
    pads_end: tuple[int, ...]
    out_shape: tuple[int, ...]


def resolve_pads(node: Node, in_shape: tuple[int, ...], kernel: tuple[int, ...],
                 strides: tuple[int, ...], dilations: tuple[int, ...]) -> tuple[tuple, tuple]:
    """Explicit or auto_pad padding for the spatial dims ``in_shape``."""
    nd = len(kernel)
    auto = node.attrs.get("auto_pad", "NOTSET")
    if auto in ("NOTSET", ""):
        pads = node.attrs.get("pads", [0] * 2 * nd)
        return tuple(pads[:nd]), tuple(pads[nd:])
    if auto == "VALID":
        return (0,) * nd, (0,) * nd
    if auto not in ("SAME_UPPER", "SAME_LOWER"):
        raise bad_attr(node, "auto_pad", auto, "NOTSET, VALID, SAME_UPPER or SAME_LOWER")
    begin, end = [], []
    for size, k, s, d in zip(in_shape, kernel, strides, dilations, strict=True):
        out = -(-size // s)
        total = max(0, (out - 1) * s + (k - 1) * d + 1 - size)
        small, big = total // 2, total - total // 2
        begin.append(small if auto == "SAME_UPPER" else big)
        end.append(big if auto == "SAME_UPPER" else small)
    return tuple(begin), tuple(end)


def conv_geometry(node: Node, in_shape: tuple[int, ...], kernel: tuple[int, ...]) -> ConvGeometry:
    """Resolve every spatial parameter of a Conv-like node for ``in_shape``."""
    nd = len(kernel)
    strides = tuple(node.attrs.get("strides", [1] * nd))
    dilations = tuple(node.attrs.get("dilations", [1] * nd))
    begin, end = resolve_pads(node, in_shape, kernel, strides, dilations)
    out = tuple((size + b + e - ((k - 1) * d + 1)) // s + 1
                for size, b, e, k, d, s in zip(in_shape, begin, end, kernel, dilations, strides, strict=True))
    return ConvGeometry(strides, dilations, begin, end, out)


def pad_spatial(x: np.ndarray, g: ConvGeometry, value: float = 0.0, channels_last: bool = False) -> np.ndarray:
    """Pad the spatial dims of an N,C,... (or N,...,C) array (no copy when there is no padding)."""
    if not any(g.pads_begin) and not any(g.pads_end):
        return x
    if channels_last:
        return pad_end(x, (*g.pads_begin, 0), (*g.pads_end, 0), value)
    return pad_end(x, g.pads_begin, g.pads_end, value)


def windows(xp: np.ndarray, kernel: tuple[int, ...], g: ConvGeometry) -> np.ndarray:
    """A read-only strided view of shape (N, C, *kernel, *out) over a padded input."""
    sp = xp.strides[2:]
    shape = (*xp.shape[:2], *kernel, *g.out_shape)
    strides = (*xp.strides[:2], *(s * d for s, d in zip(sp, g.dilations, strict=True)),
               *(s * st for s, st in zip(sp, g.strides, strict=True)))
    return _read_only_view(xp, shape, strides)


def windows_last(xp: np.ndarray, kernel: tuple[int, int], g: ConvGeometry) -> np.ndarray:
    """A read-only strided view (N, OH, OW, KH, KW, C) over a padded N,H,W,C input."""
    sn, sh, sw, sc = xp.strides
    (st_h, st_w), (dl_h, dl_w) = g.strides, g.dilations
    return _read_only_view(xp, (xp.shape[0], *g.out_shape, *kernel, xp.shape[3]),
                           (sn, sh * st_h, sw * st_w, sh * dl_h, sw * dl_w, sc))


def _read_only_view(xp: np.ndarray, shape: tuple[int, ...], strides: tuple[int, ...]) -> np.ndarray:
    if not xp.flags.c_contiguous:
        return as_strided(xp, shape, strides, writeable=False)
    # A direct view of the buffer: as_strided's generality costs ~4 us a call, a third of a small conv's.
    view = np.ndarray(shape, xp.dtype, xp, 0, strides)
    view.flags.writeable = False
    return view


def layout_flags(node: Node) -> dict[str, bool]:
    """The channels-last flags the CPU layout pass set on this node (none: N,C,H,W both sides)."""
    return {"in_last": bool(node.attrs.get("channels_last_in", 0)),
            "out_last": bool(node.attrs.get("channels_last_out", 0))}
