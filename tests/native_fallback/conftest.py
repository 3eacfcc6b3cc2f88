"""Shared helpers: build one-node or small models with onnx.helper and run them on both engines."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper


def make_model(nodes: list[onnx.NodeProto], inputs: dict[str, np.ndarray], outputs: list[str],
               initializers: dict[str, np.ndarray] | None = None, opset: int = 17) -> onnx.ModelProto:
    """A model from nodes, with typed inputs taken from example arrays."""
    vi = [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), list(v.shape))
          for k, v in inputs.items()]
    outs = [helper.make_empty_tensor_value_info(o) for o in outputs]
    inits = [numpy_helper.from_array(v, k) for k, v in (initializers or {}).items()]
    model = helper.make_model(helper.make_graph(nodes, "t", vi, outs, inits),
                              opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    # Output types come from onnx's shape inference, so each test names outputs only.
    try:
        inferred = {v.name: v for v in onnx.shape_inference.infer_shapes(model).graph.value_info}
    except onnx.shape_inference.InferenceError:  # custom domains: the test does not need types
        inferred = {}
    typed = [inferred.get(o) or helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs]
    del model.graph.output[:]
    model.graph.output.extend(typed)
    return model


def ort_run(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """ONNX Runtime's CPU answer, the reference these tests trust."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"]).run(None, feeds)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
