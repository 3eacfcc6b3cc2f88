"""Resize (opsets 10+): nearest and (bi/tri)linear, separably, one axis at a time.

Each resized axis gets a vector of source coordinates (by the node's
coordinate_transformation_mode); nearest takes rows by index, linear blends the
two neighbouring rows, so the cost is a few vectorized passes per axis. Cubic,
antialiasing, tf_crop_and_resize and aspect-ratio policies are declined at build
time and served by the next kernel in the registry (the onnx.reference bridge).
"""

from __future__ import annotations

import numpy as np

from .. import registry
from ..ir import Node

_ROUNDING = {
    "round_prefer_floor": lambda x: np.ceil(x - 0.5),
    "round_prefer_ceil": lambda x: np.floor(x + 0.5),
    "floor": np.floor,
    "ceil": np.ceil,
}


def source_coords(mode: str, out_len: int, in_len: int, scale: float) -> np.ndarray:
    """Input coordinate of each output index along one axis.

    As the specification says, ``length_resized`` in these formulas is
    ``in_len * scale`` before rounding, not the integer output length.
    """
    x = np.arange(out_len, dtype=np.float64)
    resized = in_len * scale
    if mode == "half_pixel":
        return (x + 0.5) / scale - 0.5
    if mode == "pytorch_half_pixel":
        return (x + 0.5) / scale - 0.5 if resized > 1 else np.zeros(out_len)
    if mode == "align_corners":
        return x * (in_len - 1) / (resized - 1) if resized > 1 else np.zeros(out_len)
    if mode == "asymmetric":
        return x / scale
    if mode == "tf_half_pixel_for_nn":
        return (x + 0.5) / scale
    if mode == "half_pixel_symmetric":
        adjustment = out_len / (scale * in_len)
        return in_len / 2 * (1 - adjustment) + (x + 0.5) / scale - 0.5
    raise NotImplementedError(f"coordinate_transformation_mode {mode!r}")


def _axis_nearest(x: np.ndarray, axis: int, coords: np.ndarray, rounding: str) -> np.ndarray:
    idx = np.clip(_ROUNDING[rounding](coords), 0, x.shape[axis] - 1).astype(np.int64)
    return np.take(x, idx, axis=axis)


def _axis_linear(x: np.ndarray, axis: int, coords: np.ndarray) -> np.ndarray:
    n = x.shape[axis]
    c = np.clip(coords, 0, n - 1)
    i0 = np.floor(c).astype(np.int64)
    i1 = np.minimum(i0 + 1, n - 1)
    shape = [1] * x.ndim
    shape[axis] = -1
    w = (c - i0).reshape(shape).astype(x.dtype if x.dtype.kind == "f" else np.float64)
    lo, hi = np.take(x, i0, axis=axis), np.take(x, i1, axis=axis)
    return lo + (hi - lo) * w


@registry.register("Resize", 10)
def resize(node: Node, opset: int):
    """Resize with nearest or linear interpolation; other modes are declined."""
    mode = node.attrs.get("mode", "nearest")
    coord = node.attrs.get("coordinate_transformation_mode", "half_pixel" if opset >= 11 else "asymmetric")
    rounding = node.attrs.get("nearest_mode", "round_prefer_floor")
    unsupported = (mode not in ("nearest", "linear") or coord == "tf_crop_and_resize"
                   or node.attrs.get("antialias", 0)
                   or node.attrs.get("keep_aspect_ratio_policy", "stretch") != "stretch")
    if unsupported:
        raise NotImplementedError("Resize: cubic, antialias, tf_crop_and_resize and aspect-ratio policies")
    axes_attr = node.attrs.get("axes")

    def run(x, roi=None, scales=None, sizes=None):
        if opset == 10:
            scales, roi = roi, None
        axes = [a % x.ndim for a in axes_attr] if axes_attr else list(range(x.ndim))
        y = x
        for k, axis in enumerate(axes):
            n = x.shape[axis]
            if sizes is not None and sizes.size:
                out = int(sizes[k])
                scale = out / n
            else:
                scale = float(scales[k])
                out = int(np.floor(n * scale))
            if out == n and scale == 1.0:
                continue
            coords = source_coords(coord, out, n, scale)
            y = _axis_nearest(y, axis, coords, rounding) if mode == "nearest" else _axis_linear(y, axis, coords)
        return (y.astype(x.dtype, copy=False),)
    return run


@registry.register("Upsample", 7, 9)
def upsample(node: Node, opset: int):
    """Upsample (deprecated at opset 10): Resize with asymmetric coordinates, nearest rounds down."""
    mode = node.attrs.get("mode", "nearest")
    if mode not in ("nearest", "linear", "bilinear"):
        raise NotImplementedError(f"Upsample mode {mode!r}")

    def run(x, scales=None):
        factors = node.attrs["scales"] if scales is None else [float(v) for v in scales]
        y = x
        for axis, scale in enumerate(factors):
            n = x.shape[axis]
            out = int(np.floor(n * scale))
            if out == n:
                continue
            coords = source_coords("asymmetric", out, n, scale)
            y = _axis_nearest(y, axis, coords, "floor") if mode == "nearest" else _axis_linear(y, axis, coords)
        return (y.astype(x.dtype, copy=False),)
    return run


@registry.register("AffineGrid", 20)
def affine_grid(node: Node, opset: int):
    """Sampling grids in [-1, 1] for GridSample: 2-D (N, H, W, 2) or 3-D (N, D, H, W, 3)."""
    align = node.attrs.get("align_corners", 0)

    def axis_coords(n: int) -> np.ndarray:
        if align:
            return np.linspace(-1, 1, n) if n > 1 else np.zeros(1)
        return (np.arange(n) * 2 + 1) / n - 1

    def run(theta, size):
        dims = [int(v) for v in size.reshape(-1)][2:]
        grids = np.meshgrid(*[axis_coords(d) for d in dims], indexing="ij")
        base = np.stack([*grids[::-1], np.ones(dims)], axis=-1)  # x first, then y (, z), then 1
        out = np.einsum("...k,nik->n...i", base, theta.astype(np.float64))
        return (out.astype(theta.dtype),)
    return run


def _reflect(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Reflect coordinates at the borders until they fall inside [lo, hi] (GridSample's rule)."""
    span = hi - lo
    below, above = x < lo, x > hi
    d = np.where(below, lo - x, np.where(above, x - hi, 0.0))
    flips = np.floor(d / span) if span > 0 else np.zeros_like(d)
    r = d - flips * span
    even = flips % 2 == 0
    inside_low = np.where(even, lo + r, hi - r)
    inside_high = np.where(even, hi - r, lo + r)
    return np.where(below, inside_low, np.where(above, inside_high, x))


def _fetch(img: np.ndarray, idx: list[np.ndarray], dims: tuple[int, ...], padding: str,
           bounds: list[tuple[float, float]]) -> np.ndarray:
    """img[:, idx...] with GridSample's out-of-range rule per axis (zeros, border or reflection)."""
    keep = np.ones(idx[0].shape, dtype=bool)
    fixed = []
    for i, d, (lo, hi) in zip(idx, dims, bounds, strict=True):
        if padding == "zeros":
            keep &= (i >= 0) & (i < d)
            fixed.append(np.clip(i, 0, d - 1))
        elif padding == "border":
            fixed.append(np.clip(i, 0, d - 1))
        else:
            fixed.append(np.clip(_reflect(i.astype(np.float64), lo, hi).astype(np.int64), 0, d - 1))
    values = img[(slice(None), *fixed)]
    return values * keep if padding == "zeros" else values


@registry.register("GridSample", 16)
def grid_sample(node: Node, opset: int):
    """GridSample, nearest or (bi/tri)linear, any spatial rank; cubic is declined to the next kernel."""
    mode = {"bilinear": "linear", "bicubic": "cubic"}.get(node.attrs.get("mode", "linear"),
                                                         node.attrs.get("mode", "linear"))
    padding = node.attrs.get("padding_mode", "zeros")
    align = node.attrs.get("align_corners", 0)
    if mode not in ("nearest", "linear"):
        raise NotImplementedError(f"GridSample mode {mode!r}")

    def run(x, grid):
        dims = x.shape[2:]
        r = len(dims)
        bounds = [(0.0, d - 1.0) if align else (-0.5, d - 0.5) for d in dims]
        out = np.empty((*x.shape[:2], *grid.shape[1:-1]), dtype=x.dtype)
        for n in range(x.shape[0]):
            coords = []
            for i, d in enumerate(dims):  # the grid lists coordinates innermost axis first
                g = grid[n, ..., r - 1 - i].astype(np.float64)
                c = ((g + 1) / 2 * (d - 1) if align else ((g + 1) * d - 1) / 2).astype(np.float32).astype(np.float64)
                if mode == "nearest":
                    c = np.rint(c)
                lo, hi = bounds[i]
                outside = (c < lo) | (c > hi)
                if padding == "border":
                    c = np.where(outside, np.clip(c, 0, d - 1), c)
                elif padding == "reflection":
                    c = np.where(outside, _reflect(c, lo, hi), c)
                coords.append(c)
            if mode == "nearest":
                out[n] = _fetch(x[n], [c.astype(np.int64) for c in coords], dims, padding, bounds)
                continue
            low = [np.floor(c).astype(np.int64) for c in coords]
            frac = [c - f for c, f in zip(coords, low, strict=True)]
            acc = np.zeros(out.shape[1:], dtype=np.float64)
            for corner in np.ndindex(*(2,) * r):
                idx = [f + k for f, k in zip(low, corner, strict=True)]
                weight = np.prod([fr if k else 1 - fr for fr, k in zip(frac, corner, strict=True)], axis=0)
                acc += _fetch(x[n], idx, dims, padding, bounds) * weight
            out[n] = acc
        return (out,)
    return run
