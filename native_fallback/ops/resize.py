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
