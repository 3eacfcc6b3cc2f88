"""ConvTranspose and Col2Im: a GEMM then a scatter-add of each kernel tap (col2im)."""

from __future__ import annotations

import numpy as np

from ... import registry
from ...ir import Node


def conv_transpose(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, node: Node) -> np.ndarray:
    """ConvTranspose as GEMM (W^T x) then a scatter-add of each kernel tap (col2im)."""
    group = node.attrs.get("group", 1)
    kernel = tuple(w.shape[2:])
    nd = len(kernel)
    strides = tuple(node.attrs.get("strides", [1] * nd))
    dil = tuple(node.attrs.get("dilations", [1] * nd))
    out_pad = tuple(node.attrs.get("output_padding", [0] * nd))
    n, c = x.shape[:2]
    in_sp = x.shape[2:]
    mg = w.shape[1]
    m = mg * group
    full = tuple((i - 1) * s + (k - 1) * d + 1 + op
                 for i, s, k, d, op in zip(in_sp, strides, kernel, dil, out_pad, strict=True))
    auto = node.attrs.get("auto_pad", "NOTSET")
    if "output_shape" in node.attrs:
        target = tuple(node.attrs["output_shape"][-nd:])
        total = [f - t for f, t in zip(full, target, strict=True)]
        begin = [t // 2 if auto == "SAME_UPPER" else t - t // 2 for t in total]
    elif auto in ("SAME_UPPER", "SAME_LOWER"):
        target = tuple(i * s for i, s in zip(in_sp, strides, strict=True))
        total = [f - t for f, t in zip(full, target, strict=True)]
        begin = [t - t // 2 if auto == "SAME_LOWER" else t // 2 for t in total]
    else:
        pads = node.attrs.get("pads", [0] * 2 * nd) if auto != "VALID" else [0] * 2 * nd
        begin = list(pads[:nd])
        target = tuple(f - pads[i] - pads[nd + i] for i, f in enumerate(full))
    cg = c // group
    xs = x.reshape(n, group, cg, -1)
    wg = w.reshape(group, cg, mg * int(np.prod(kernel)))
    canvas = np.zeros((n, m, *full), dtype=np.result_type(x, w))
    for gi in range(group):
        cols = np.einsum("ck,ncp->nkp", wg[gi], xs[:, gi]).reshape(n, mg, *kernel, *in_sp)
        for tap in np.ndindex(*kernel):
            dst = tuple(slice(t * d, t * d + s * (i - 1) + 1, s)
                        for t, d, s, i in zip(tap, dil, strides, in_sp, strict=True))
            canvas[(slice(None), slice(gi * mg, (gi + 1) * mg), *dst)] += cols[(slice(None), slice(None), *tap)]
    # A requested output larger than the full result is zero-filled (negative total padding).
    grow = [(max(0, -bg), max(0, bg + t - f)) for bg, t, f in zip(begin, target, full, strict=True)]
    if any(g for pair in grow for g in pair):
        canvas = np.pad(canvas, [(0, 0), (0, 0), *grow])
        begin = [bg + g[0] for bg, g in zip(begin, grow, strict=True)]
    crop = tuple(slice(bg, bg + t) for bg, t in zip(begin, target, strict=True))
    out = canvas[(slice(None), slice(None), *crop)]
    if b is not None:
        out = out + b.reshape(1, m, *([1] * nd))
    return np.ascontiguousarray(out)


@registry.register("ConvTranspose", 1)
def conv_transpose_kernel(node: Node, opset: int):
    """ONNX ConvTranspose (16- and 8-bit floats computed in float32: numpy's einsum refuses bfloat16)."""
    from ..linalg import narrow_float

    def run(x, w, b=None):
        if narrow_float(x.dtype):
            wide = conv_transpose(x.astype(np.float32), w.astype(np.float32),
                                  None if b is None else b.astype(np.float32), node)
            return (wide.astype(x.dtype),)
        return (conv_transpose(x, w, b, node),)
    return run


@registry.register("Col2Im", 18)
def col2im_kernel(node: Node, opset: int):
    """Col2Im (PyTorch's fold): scatter-add each block position's column back into the image."""
    def run(cols, image_shape, block_shape):
        image, block = [int(v) for v in image_shape], [int(v) for v in block_shape]
        nd = len(image)
        strides = node.attrs.get("strides", [1] * nd)
        dil = node.attrs.get("dilations", [1] * nd)
        pads = node.attrs.get("pads", [0] * 2 * nd)
        blocks = [(i + pads[k] + pads[nd + k] - d * (b - 1) - 1) // s + 1
                  for k, (i, b, s, d) in enumerate(zip(image, block, strides, dil, strict=True))]
        n = cols.shape[0]
        c = cols.shape[1] // int(np.prod(block))
        taps = cols.reshape(n, c, *block, *blocks)
        canvas = np.zeros((n, c, *(i + pads[k] + pads[nd + k] for k, i in enumerate(image))), dtype=cols.dtype)
        for tap in np.ndindex(*block):
            dst = tuple(slice(t * d, t * d + s * (o - 1) + 1, s)
                        for t, d, s, o in zip(tap, dil, strides, blocks, strict=True))
            canvas[(slice(None), slice(None), *dst)] += taps[(slice(None), slice(None), *tap)]
        crop = tuple(slice(pads[k], pads[k] + i) for k, i in enumerate(image))
        return (np.ascontiguousarray(canvas[(slice(None), slice(None), *crop)]),)
    return run
