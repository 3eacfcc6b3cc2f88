"""ConvTranspose against ORT."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_model, ort_run
from onnx import helper

from facade import native_fallback


@pytest.mark.parametrize("attrs", [dict(strides=[2, 2]), dict(strides=[2, 2], output_padding=[1, 1]),
                                   dict(group=2, pads=[1, 1, 1, 1])])
def test_conv_transpose(attrs: dict, rng) -> None:
    x = rng.standard_normal((1, 4, 5, 5)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    model = make_model([helper.make_node("ConvTranspose", ["x", "w"], ["y"], **attrs)], {"x": x}, ["y"], {"w": w})
    np.testing.assert_allclose(native_fallback.compile(model).run({"x": x})["y"], ort_run(model, {"x": x})[0],
                               rtol=1e-4, atol=1e-4)
