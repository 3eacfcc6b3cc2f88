"""Sequence operators against ONNX Runtime: positions, chunked splits, and a refusal naming the node."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from facade import native_fallback
from facade.errors import ModelError


def _model(nodes: list, inits: dict[str, np.ndarray]) -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [5, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph(nodes, "seq", [x], [y], [numpy_helper.from_array(v, k) for k, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _ort(model: onnx.ModelProto, feeds: dict) -> np.ndarray:
    import onnxruntime as ort

    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]


@pytest.mark.parametrize(("split", "insert_at", "erase_at", "take"), [
    (np.array(2, np.int64), -1, 0, -1),      # chunks 2, 2, 1; insert before the last; erase the first
    (np.array([1, 4], np.int64), 0, -1, 0),  # sizes
])
def test_split_insert_erase_at_match_ort(split, insert_at: int, erase_at: int, take: int) -> None:
    nodes = [helper.make_node("SplitToSequence", ["x", "split"], ["s"]),
             helper.make_node("SequenceInsert", ["s", "x", "ins"], ["s2"]),
             helper.make_node("SequenceErase", ["s2", "era"], ["s3"]),
             helper.make_node("SequenceAt", ["s3", "at"], ["y"])]
    inits = {"split": split, "ins": np.array(insert_at, np.int64), "era": np.array(erase_at, np.int64),
             "at": np.array(take, np.int64)}
    model = _model(nodes, inits)
    x = np.arange(10, dtype=np.float32).reshape(5, 2)
    got = native_fallback.compile(model).run({"x": x})["y"]
    np.testing.assert_array_equal(got, _ort(model, {"x": x}))


def test_position_outside_the_sequence_is_refused_naming_the_node() -> None:
    nodes = [helper.make_node("SplitToSequence", ["x"], ["s"], keepdims=0),
             helper.make_node("SequenceAt", ["s", "at"], ["y"], name="pick")]
    model = _model(nodes, {"at": np.array(7, np.int64)})
    with pytest.raises(ModelError, match=r"node 'pick' \(SequenceAt\).*position 7 is outside a sequence of length 5"):
        native_fallback.compile(model).run({"x": np.zeros((5, 2), np.float32)})
