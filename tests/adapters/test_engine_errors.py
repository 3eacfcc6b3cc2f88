"""An engine's own exception at run time reaches the caller as a FacadeError naming the target and the node.

The models pass intake (they are valid ONNX); only the fed values make the engine
fail: a Reshape or an Expand to a shape fed at run time that does not fit the input
(a Gather index past the end is refused before the engine, by the base runner). Before the base runner wrapped ``_run``, onnxruntime:cpu let
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
    "expand_to_fed_shape_that_does_not_broadcast": (_model("Expand", "s"), {"s": np.array([5, 5], np.int64)}),
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


def _unknown_domain_relu() -> onnx.ModelProto:
    node = helper.make_node("Relu", ["x"], ["y"], name="relu0", domain="com.unknown")
    graph = helper.make_graph([node], "engine_error", [_vi("x", TensorProto.FLOAT, [2, 3])],
                              [_vi("y", TensorProto.FLOAT, [2, 3])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.unknown", 1)])


_CONVERTERS = {"ncnn:cpu": "pnnx", "mnn:cpu": "mnnconvert", "litert:cpu": "onnx2tf"}


@pytest.mark.parametrize("target", ["ncnn:cpu", "mnn:cpu", pytest.param("litert:cpu", marks=pytest.mark.slow)])
def test_converted_target_refuses_an_operator_nobody_knows_with_a_facade_error(target):
    """MNN converts the node and its conversion check's ONNX Runtime reference then raised ``Fail`` raw."""
    if not _available(target):
        pytest.skip(f"{target} is not available here")
    with pytest.raises(facade.FacadeError) as caught:
        facade.Session(_unknown_domain_relu(), target=target, allow_fallback=False)
    error = caught.value
    # the target, or its converter when the conversion is what refused (pnnx for ncnn, ...)
    assert str(error).startswith((f"{target} |", f"{_CONVERTERS[target]} (")), error
    assert "com.unknown" in str(error) or "Relu" in str(error), error
    raw = error.__cause__ if isinstance(error, facade.TargetUnavailableError) else None
    assert raw is None or isinstance(raw, facade.FacadeError), f"an engine's own exception came through: {raw!r}"
