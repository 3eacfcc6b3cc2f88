"""Detection-head operators against ORT: NonMaxSuppression on random boxes, both box formats."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_model, ort_run
from onnx import helper

from facade import native_fallback


@pytest.mark.parametrize("center", [0, 1])
def test_nms_matches_ort(center: int, rng) -> None:
    xy = rng.uniform(0, 10, (2, 40, 2))
    wh = rng.uniform(1, 4, (2, 40, 2))
    boxes = np.concatenate([xy, xy + wh], axis=2) if center == 0 else np.concatenate([xy, wh], axis=2)
    boxes = boxes.astype(np.float32)
    scores = rng.uniform(0, 1, (2, 3, 40)).astype(np.float32)
    inits = {"max": np.array([5], np.int64), "iou": np.array([0.3], np.float32), "st": np.array([0.2], np.float32)}
    node = helper.make_node("NonMaxSuppression", ["boxes", "scores", "max", "iou", "st"], ["sel"],
                            center_point_box=center)
    model = make_model([node], {"boxes": boxes, "scores": scores}, ["sel"], inits, opset=11)
    feeds = {"boxes": boxes, "scores": scores}
    np.testing.assert_array_equal(native_fallback.compile(model).run(feeds)["sel"], ort_run(model, feeds)[0])


@pytest.mark.parametrize("mode", ["avg", "max"])
@pytest.mark.parametrize("ratio", [0, 2])
def test_roi_align_matches_ort(mode: str, ratio: int, rng) -> None:
    x = rng.standard_normal((2, 3, 12, 10)).astype(np.float32)
    corner = rng.uniform(0, 6, (5, 2))
    rois = np.concatenate([corner, corner + rng.uniform(1, 5, (5, 2))], axis=1).astype(np.float32)
    idx = np.array([0, 1, 0, 1, 1], np.int64)
    node = helper.make_node("RoiAlign", ["x", "rois", "idx"], ["y"], mode=mode, sampling_ratio=ratio,
                            output_height=3, output_width=4, spatial_scale=0.9)
    feeds = {"x": x, "rois": rois, "idx": idx}
    model = make_model([node], feeds, ["y"], opset=16)
    np.testing.assert_allclose(native_fallback.compile(model).run(feeds)["y"], ort_run(model, feeds)[0],
                               rtol=1e-4, atol=1e-5)
