"""Inference-time no-ops and small utilities: Dropout, Identity-like pass-throughs."""

from __future__ import annotations

import numpy as np

from .. import registry
from ..ir import Node


@registry.register("Dropout", 1)
def dropout(node: Node, opset: int):
    """Dropout at inference: identity, with an all-true mask when asked for."""
    def run(x, ratio=None, training=None):
        if training is not None and bool(np.asarray(training).reshape(-1)[0]) and \
                (ratio is None or float(np.asarray(ratio).reshape(-1)[0]) > 0):
            raise NotImplementedError("Dropout in training mode is random; not an inference operator")
        return (x, np.ones(x.shape, dtype=bool))[: len(node.outputs)]
    return run
