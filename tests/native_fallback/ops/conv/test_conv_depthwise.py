"""Depthwise convolution channels-last with asymmetric padding."""

from __future__ import annotations

import numpy as np
from conv_cases import to_last

from facade import native_fallback
from facade.native_fallback.ops.conv import conv


def test_depthwise_channels_last_with_asymmetric_pads(rng) -> None:
    """SAME_UPPER on an even input pads more at the end: each stride phase gets its own border."""
    x = rng.standard_normal((1, 6, 10, 9)).astype(np.float32)
    w = rng.standard_normal((6, 1, 3, 3)).astype(np.float32)
    node = native_fallback.ir.Node("Conv", ["x", "w"], ["y"], attrs=dict(strides=[2, 3], group=6,
                                                                          auto_pad="SAME_UPPER"))
    want = conv(x, w, None, node)
    got = conv(to_last(x), w, None, node, in_last=True, out_last=True)
    np.testing.assert_allclose(got, to_last(want), rtol=1e-5, atol=1e-5)
