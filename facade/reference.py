"""The one reference for "what should this ONNX model output": ONNX Runtime's CPU provider, else the native engine.

Conversion verification, the zoo's BatchNorm calibration and the tests compare
against it. Routing is not used on purpose: on a GPU machine a routed session
would first convert a one-off graph for a GPU engine, and a reference must be
the plainest reading of the model there is. Without ONNX Runtime the native
engine runs it in float64 (its own oracle precision).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import onnx

from facade.model import Model


def reference_outputs(model: Model | onnx.ModelProto, feeds: Mapping[str, object]) -> dict[str, np.ndarray]:
    """Every graph output of ``model`` for ``feeds``, by name in ONNX order."""
    proto = model.proto if isinstance(model, Model) else model
    names = [o.name for o in proto.graph.output]
    try:
        import onnxruntime as ort
    except ImportError:
        from facade import native_fallback

        return native_fallback.compile(proto, dtype="float64").run(dict(feeds))
    data = model.serialized() if isinstance(model, Model) else proto.SerializeToString()
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return dict(zip(names, sess.run(names, dict(feeds)), strict=True))
