"""Detection heads: NonMaxSuppression and RoiAlign.

Greedy NMS per (batch, class): boxes sorted by score (stable), each kept box
suppresses the remaining ones whose IoU with it exceeds the threshold. The loop
runs once per *kept* box, each iteration vectorized over the remaining boxes.
"""

from __future__ import annotations

import numpy as np

from .. import registry
from ..ir import Node


def corners(boxes: np.ndarray, center_point_box: int) -> np.ndarray:
    """Boxes as (y1, x1, y2, x2) with y1 <= y2 and x1 <= x2."""
    if center_point_box:
        xc, yc, w, h = boxes.T
        return np.stack([yc - h / 2, xc - w / 2, yc + h / 2, xc + w / 2], axis=1)
    y1, x1, y2, x2 = boxes.T
    return np.stack([np.minimum(y1, y2), np.minimum(x1, x2), np.maximum(y1, y2), np.maximum(x1, x2)], axis=1)


def iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Intersection over union of one corner box with many."""
    inter_h = np.clip(np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0]), 0, None)
    inter_w = np.clip(np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1]), 0, None)
    inter = inter_h * inter_w
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    union = area + areas - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0)


def greedy_nms(boxes: np.ndarray, scores: np.ndarray, limit: int, iou_threshold: float,
               score_threshold: float | None) -> list[int]:
    """Indices kept for one class, highest score first."""
    order = np.argsort(-scores, kind="stable")
    if score_threshold is not None:
        order = order[scores[order] > score_threshold]
    kept: list[int] = []
    while order.size and len(kept) < limit:
        best, rest = order[0], order[1:]
        kept.append(int(best))
        order = rest[iou(boxes[best], boxes[rest]) <= iou_threshold]
    return kept


@registry.register("NonMaxSuppression", 10)
def non_max_suppression(node: Node, opset: int):
    """Selected (batch, class, box) triples, per class in score order."""
    center = node.attrs.get("center_point_box", 0)

    def run(boxes, scores, max_out=None, iou_thr=None, score_thr=None):
        limit = 0 if max_out is None or max_out.size == 0 else int(max_out.reshape(-1)[0])
        thr = 0.0 if iou_thr is None or iou_thr.size == 0 else float(iou_thr.reshape(-1)[0])
        sthr = None if score_thr is None or score_thr.size == 0 else float(score_thr.reshape(-1)[0])
        selected = []
        for b in range(boxes.shape[0]):
            box = corners(boxes[b].astype(np.float64), center)
            for c in range(scores.shape[1]):
                selected += [(b, c, i) for i in greedy_nms(box, scores[b, c], limit, thr, sthr)]
        return (np.array(selected, dtype=np.int64).reshape(-1, 3),)
    return run


def _axis_samples(start: float, size: float, bins: int, grid: int, limit: int):
    """Per sample along one axis: low/high indices, their weights, and validity (ORT/Caffe2 rules)."""
    bin_size = size / bins
    pos = start + np.repeat(np.arange(bins), grid) * bin_size + (np.tile(np.arange(grid), bins) + 0.5) * bin_size / grid
    valid = (pos >= -1.0) & (pos <= limit)
    pos = np.maximum(pos, 0.0)
    low = np.floor(pos).astype(np.int64)
    at_edge = low >= limit - 1
    low = np.where(at_edge, limit - 1, low)
    high = np.where(at_edge, limit - 1, low + 1)
    frac = np.where(at_edge, 0.0, pos - low)
    return low, high, np.where(valid, 1 - frac, 0.0), np.where(valid, frac, 0.0)


@registry.register("RoiAlign", 10)
def roi_align(node: Node, opset: int):
    """RoiAlign, average or max, with adaptive or fixed sampling grids."""
    a = node.attrs
    out_h, out_w = a.get("output_height", 1), a.get("output_width", 1)
    ratio, scale, mode = a.get("sampling_ratio", 0), a.get("spatial_scale", 1.0), a.get("mode", "avg")
    half_pixel = a.get("coordinate_transformation_mode", "half_pixel" if opset >= 16 else "output_half_pixel") \
        == "half_pixel"

    def run(x, rois, batch_indices):
        n_rois, (c, h, w) = rois.shape[0], x.shape[1:]
        out = np.zeros((n_rois, c, out_h, out_w), dtype=x.dtype)
        offset = 0.5 if half_pixel else 0.0
        for r in range(n_rois):
            x1, y1, x2, y2 = (float(v) * scale - offset for v in rois[r])
            roi_w, roi_h = x2 - x1, y2 - y1
            if not half_pixel:
                roi_w, roi_h = max(roi_w, 1.0), max(roi_h, 1.0)
            gh = ratio if ratio > 0 else int(np.ceil(roi_h / out_h))
            gw = ratio if ratio > 0 else int(np.ceil(roi_w / out_w))
            yl, yh, wy0, wy1 = _axis_samples(y1, roi_h, out_h, gh, h)
            xl, xh, wx0, wx1 = _axis_samples(x1, roi_w, out_w, gw, w)
            img = x[int(batch_indices[r])].astype(np.float64)
            corners = [(img[:, ys][:, :, xs], wy[:, None] * wx[None, :])
                       for ys, wy in ((yl, wy0), (yh, wy1)) for xs, wx in ((xl, wx0), (xh, wx1))]
            if mode == "max":
                sampled = np.maximum.reduce([v * wgt for v, wgt in corners])
                pooled = sampled.reshape(c, out_h, gh, out_w, gw).max(axis=(2, 4))
            else:
                sampled = sum(v * wgt for v, wgt in corners)
                pooled = sampled.reshape(c, out_h, gh, out_w, gw).sum(axis=(2, 4)) / max(gh * gw, 1)
            out[r] = pooled
        return (out,)
    return run
