"""Winograd F(2x2, 3x3) convolution: 2.25x fewer multiplies than im2col for 3x3, stride 1.

Every 4x4 input tile is transformed (B^T d B), the 16 transformed planes become
16 GEMMs of (out channels x in channels) @ (in channels x tiles) in one batched
matmul, and each 4x4 product tile is transformed back into a 2x2 output tile
(A^T m A). The transforms are additions of strided views, so no Python loops
over pixels. F(2x2, 3x3) is the variant whose transforms use only 0, +-1 and
+-1/2, which keeps float32 error at the level of direct convolution.
"""

from __future__ import annotations

import numpy as np

from ... import threads
from ..padding import pad_end

#: G of F(2, 3), shape (4, 3): the weight transform.
_G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])


def transform_weights(w: np.ndarray) -> np.ndarray:
    """(M, C, 3, 3) weights as the (16, M, C) matrices U = G g G^T, one per tile position."""
    u = np.einsum("ak,mckl,bl->abmc", _G, w.astype(np.float64), _G)
    return np.ascontiguousarray(u.reshape(16, *w.shape[:2]).astype(w.dtype))


def _rows(a: np.ndarray, axis: int, count: int) -> list[np.ndarray]:
    """The four stride-2 views d0..d3 along ``axis`` that the 1-D transform combines."""
    index = [slice(None)] * a.ndim
    views = []
    for k in range(4):
        index[axis] = slice(k, k + 2 * count, 2)
        views.append(a[tuple(index)])
    return views


def _transform_into(d: list[np.ndarray], outs: list[np.ndarray]) -> None:
    """B^T along one axis, written into ``outs``: (d0 - d2, d1 + d2, d2 - d1, d1 - d3)."""
    np.subtract(d[0], d[2], out=outs[0])
    np.add(d[1], d[2], out=outs[1])
    np.subtract(d[2], d[1], out=outs[2])
    np.subtract(d[1], d[3], out=outs[3])


def winograd_conv(xp: np.ndarray, u: np.ndarray, out_hw: tuple[int, int], out: np.ndarray) -> None:
    """3x3 stride-1 convolution of a padded input ``xp`` (N, C, Hp, Wp) into ``out`` (N, M, OH*OW).

    The engine's threads take bands of tile rows: a band of output rows reads only
    its rows of the input plus a 2-row halo, so each band is a whole Winograd
    convolution of its own (transforms and GEMM), with no pass shared between bands.
    """
    oh, ow = out_hw
    out4 = out.reshape(out.shape[0], out.shape[1], oh, ow)
    th = -(-oh // 2)

    def band(a: int, b: int) -> None:  # tile rows a..b: output rows 2a..2b, input rows 2a..2b+2
        _winograd(xp[:, :, 2 * a: 2 * b + 2], u, (min(oh, 2 * b) - 2 * a, ow), out4[:, :, 2 * a: 2 * b])

    threads.over_ranges("gemm", out.size * u.shape[2] * 4, th, band)  # 16 products per 4 outputs


def _winograd(xp: np.ndarray, u: np.ndarray, out_hw: tuple[int, int], out: np.ndarray) -> None:
    """:func:`winograd_conv` of one band into ``out``, an (N, M, OH, OW) view.

    Every transform writes straight into its destination (``out=``): into the
    GEMM's operand for the input side, into the output's interleaved 2x2 phases
    for the output side, so no pass over memory is spent on copies.
    """
    n, c, hp, wp = xp.shape
    m = u.shape[1]
    oh, ow = out_hw
    th, tw = -(-oh // 2), -(-ow // 2)
    need_h, need_w = 2 * th + 2, 2 * tw + 2
    if need_h > hp or need_w > wp:  # odd output sizes: one more zero row/column of tile overhang
        xp = pad_end(xp, (0, 0), (max(0, need_h - hp), max(0, need_w - wp)))
    rows = [np.empty((n, c, th, xp.shape[3]), dtype=xp.dtype) for _ in range(4)]
    _transform_into(_rows(xp, 2, th), rows)
    v = np.empty((4, 4, c, n, th, tw), dtype=xp.dtype)
    for a in range(4):
        # De-interleave even and odd columns once, so the 16 column ops run at unit stride.
        even, odd = np.ascontiguousarray(rows[a][..., 0::2]), np.ascontiguousarray(rows[a][..., 1::2])
        cols = [even[..., :tw], odd[..., :tw], even[..., 1:tw + 1], odd[..., 1:tw + 1]]
        _transform_into(cols, [v[a, b].transpose(1, 0, 2, 3) for b in range(4)])
    prod = np.matmul(u, v.reshape(16, c, n * th * tw)).reshape(4, 4, m, n, th, tw)
    # A^T along both axes: y0 = m0 + m1 + m2, y1 = m1 - m2 - m3.
    r = np.empty((2, 4, m, n, th, tw), dtype=prod.dtype)
    np.add(prod[0], prod[1], out=r[0])
    r[0] += prod[2]
    np.subtract(prod[1], prod[2], out=r[1])
    r[1] -= prod[3]
    even = oh == 2 * th and ow == 2 * tw
    full = out if even else np.empty((n, m, 2 * th, 2 * tw), dtype=out.dtype)
    for i in range(2):
        for j, (first, second, third, sign) in enumerate(((0, 1, 2, 1), (1, 2, 3, -1))):
            dst = full[:, :, i::2, j::2].transpose(1, 0, 2, 3)
            if sign > 0:
                np.add(r[i, first], r[i, second], out=dst)
                dst += r[i, third]
            else:
                np.subtract(r[i, first], r[i, second], out=dst)
                dst -= r[i, third]
    if not even:
        out[...] = full[:, :, :oh, :ow]
