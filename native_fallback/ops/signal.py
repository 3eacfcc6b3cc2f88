"""Signal windows: HannWindow, HammingWindow, BlackmanWindow (periodic or symmetric)."""

from __future__ import annotations

import numpy as np

from .. import registry
from ..ir import Node

#: Cosine-sum coefficients a_k of each window: w[n] = sum_k (-1)^k a_k cos(2 pi k n / N).
_COEFFICIENTS = {
    "HannWindow": (0.5, 0.5),
    "HammingWindow": (25 / 46, 21 / 46),
    "BlackmanWindow": (0.42, 0.5, 0.08),
}


def _window(name: str):
    coefficients = _COEFFICIENTS[name]

    def build(node: Node, opset: int):
        from onnx.helper import tensor_dtype_to_np_dtype

        dtype = tensor_dtype_to_np_dtype(node.attrs.get("output_datatype", 1))
        periodic = node.attrs.get("periodic", 1)

        def run(size):
            n = int(np.asarray(size).reshape(-1)[0])
            denominator = n if periodic else n - 1
            k = np.arange(n, dtype=np.float64) * 2 * np.pi / denominator
            w = sum((-1) ** i * a * np.cos(i * k) for i, a in enumerate(coefficients))
            return (np.asarray(w).astype(dtype),)
        return run
    return build


for _name in _COEFFICIENTS:
    registry.register(_name, 17)(_window(_name))
