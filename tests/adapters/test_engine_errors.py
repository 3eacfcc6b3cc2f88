"""An engine's own exception at run time reaches the caller as a FacadeError naming the target and the node.

The models pass intake (they are valid ONNX); only the fed values make the engine
fail: a Reshape to a shape fed at run time with another element count, a Gather
index past the end. Before the base runner wrapped ``_run``, onnxruntime:cpu let
``onnxruntime...Fail`` / ``InvalidArgument`` through.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import facade
from facade.devices import devices
from facade.router import target_availability

_vi = helper.make_tensor_value_info
IN_PROCESS = ["onnxruntime:cpu", "native:cpu", "native:opencl"]


def _model(op: str, second: str) -> onnx.ModelProto:
    node = helper.make_node(op, ["x", second], ["y"], name=f"{op.lower()}0")
    graph = helper.make_graph([node], "engine_error", [_vi("x", TensorProto.FLOAT, [2, 3]),
                                                       _vi(second, TensorProto.INT64, [2])],
                              [_vi("y", TensorProto.FLOAT, None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


CASES = {
    "reshape_to_fed_shape_of_other_size": (_model("Reshape", "s"), {"s": np.array([5, 5], np.int64)}),
    "gather_index_past_the_end": (_model("Gather", "i"), {"i": np.array([0, 7], np.int64)}),
}


def _available(target: str) -> bool:
    return bool(target_availability(target, devices())[0])


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("target", IN_PROCESS)
def test_run_time_engine_failure_is_a_facade_error_naming_target_and_node(target, case):
    if not _available(target):
        pytest.skip(f"{target} is not available here")
    model, feeds = CASES[case]
    with facade.Session(model, target=target, allow_fallback=False) as sess, \
            pytest.raises(facade.FacadeError) as caught:
        sess.run({"x": np.zeros((2, 3), np.float32), **feeds})
    message = str(caught.value)
    assert target.split(":")[0] in message, message
    assert f"{model.graph.node[0].name}" in message, message
    assert caught.value.__cause__ is not None  # the engine's own exception is kept


def test_engine_error_quotes_the_engine_and_keeps_its_type():
    model, feeds = CASES["reshape_to_fed_shape_of_other_size"]
    expected = r"onnxruntime:cpu \| the engine failed to run the model at Reshape node 'reshape0'.*Received: Fail: "
    with facade.Session(model, target="onnxruntime:cpu", allow_fallback=False) as sess, \
            pytest.raises(facade.EngineError, match=expected):
        sess.run({"x": np.zeros((2, 3), np.float32), **feeds})
