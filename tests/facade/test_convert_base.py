"""What facade hands converters (opset 13 or newer) and what it reads back from them (pnnx's batch axes)."""

from __future__ import annotations

import onnxruntime as ort
import pytest

from facade.convert import cache, get_converter
from facade.convert.prepare import MIN_OPSET, upgraded
from facade.inputs import seeded_feeds
from facade.model import load_model
from facade.zoo import small as models


def _run(proto, feeds):
    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)


def test_old_models_are_upgraded_with_their_meaning_kept():
    old = models.opset9_softmax()
    new = upgraded(old)
    assert new.opset_import[0].version == MIN_OPSET
    feeds = seeded_feeds(load_model(old).inputs)
    assert abs(_run(new, feeds)[0] - _run(old, feeds)[0]).max() < 1e-7


def test_current_models_are_left_alone():
    proto = models.cnn()
    assert upgraded(proto) is proto


@pytest.mark.skipif(not get_converter("pnnx").available(), reason="pnnx not installed")
@pytest.mark.parametrize(("make", "index"), [(models.cnn, 0), (models.fixed_rows, 233)])
def test_pnnx_says_which_blobs_lost_their_batch_axis(make, index):
    """pnnx strips the batch axis a convolution reads (0) and keeps a [4, 16] MatMul input whole (233)."""
    artifact = cache.obtain(load_model(make()), get_converter("pnnx"), {})
    assert set(artifact.io["batch_index"].values()) == {index}
    assert {"in0", "out0", "out1"} <= set(artifact.io["batch_index"])
