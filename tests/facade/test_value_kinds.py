"""Sequence and optional graph inputs/outputs through ``facade.Session``: lists of arrays and None."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import facade
from facade.errors import InputError, TargetError
from facade.inputs import seeded_feeds
from facade.tensor import TensorSpec


def _model(nodes, inputs, outputs, opset: int = 18) -> onnx.ModelProto:
    model = helper.make_model(helper.make_graph(nodes, "kinds", inputs, outputs),
                              opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    return model


def _seq(name: str, dims=None) -> onnx.ValueInfoProto:
    return helper.make_value_info(name, helper.make_sequence_type_proto(
        helper.make_tensor_type_proto(TensorProto.FLOAT, dims)))


def _opt(name: str) -> onnx.ValueInfoProto:
    return helper.make_value_info(name, helper.make_optional_type_proto(
        helper.make_tensor_type_proto(TensorProto.FLOAT, [2])))


@pytest.fixture(scope="module")
def concat_seq() -> onnx.ModelProto:
    """A sequence in, its tensors joined and the sequence extended out."""
    nodes = [helper.make_node("ConcatFromSequence", ["seq"], ["joined"], axis=0),
             helper.make_node("SequenceInsert", ["seq", "joined"], ["longer"])]
    return _model(nodes, [_seq("seq", ["n"])],
                  [helper.make_tensor_value_info("joined", TensorProto.FLOAT, ["m"]), _seq("longer", ["k"])])


def test_sequence_in_and_out_as_lists(concat_seq) -> None:
    sess = facade.Session(concat_seq, target="native:cpu", allow_fallback=False)
    assert sess.inputs[0].container == ("sequence",)
    assert "sequence of float32" in sess.inputs[0].describe()
    a, b = np.arange(3, dtype=np.float32), np.arange(2, dtype=np.float32)  # elements may differ in size
    out = sess.run({"seq": [a, b]})
    np.testing.assert_array_equal(out["joined"], np.concatenate([a, b]))
    assert isinstance(out["longer"], list) and len(out["longer"]) == 3
    np.testing.assert_array_equal(out["longer"][2], np.concatenate([a, b]))


def test_sequence_feed_is_validated_per_element(concat_seq) -> None:
    sess = facade.Session(concat_seq, target="native:cpu", allow_fallback=False)
    with pytest.raises(InputError, match="is a sequence: feed a list of arrays"):
        sess.run({"seq": np.zeros(3, np.float32)})
    with pytest.raises(InputError, match="cannot be cast safely"):
        sess.run({"seq": [np.zeros(3, np.float64)]})
    with pytest.raises(InputError, match="wrong rank"):
        sess.run({"seq": [np.zeros((1, 3), np.float32)]})


def test_written_sequence_is_copied(concat_seq) -> None:
    sess = facade.Session(concat_seq, target="native:cpu", allow_fallback=False)
    a = np.ones(2, np.float32)
    sess.input("seq").write([a])
    a[:] = 7
    sess.run()
    np.testing.assert_array_equal(sess.output("joined").read(), [1, 1])


@pytest.mark.parametrize(("value", "present"), [(None, False), (np.ones(2, np.float32), True)])
def test_optional_input_as_none_or_value(value, present) -> None:
    nodes = [helper.make_node("OptionalHasElement", ["opt"], ["has"])]
    model = _model(nodes, [_opt("opt")], [helper.make_tensor_value_info("has", TensorProto.BOOL, [])])
    sess = facade.Session(model, target="native:cpu", allow_fallback=False)
    assert bool(sess.run({"opt": value})["has"]) is present


def test_written_empty_optional_is_none() -> None:
    nodes = [helper.make_node("OptionalHasElement", ["opt"], ["has"])]
    model = _model(nodes, [_opt("opt")], [helper.make_tensor_value_info("has", TensorProto.BOOL, [])])
    sess = facade.Session(model, target="native:cpu", allow_fallback=False)
    sess.input("opt").write(None)
    assert not sess.run()["has"]


def test_empty_optional_output_is_none() -> None:
    nodes = [helper.make_node("Optional", [], ["opt"], type=helper.make_tensor_type_proto(TensorProto.FLOAT, [2]))]
    model = _model(nodes, [], [_opt("opt")])
    assert facade.Session(model, target="native:cpu", allow_fallback=False).run({})["opt"] is None


def test_seeded_feeds_make_a_list_for_a_sequence() -> None:
    spec = TensorSpec("s", (2,), np.dtype(np.float32), container=("sequence",))
    feeds = seeded_feeds([spec])
    assert isinstance(feeds["s"], list) and all(f.shape == (2,) for f in feeds["s"])


def test_a_target_without_sequences_refuses_by_name(concat_seq) -> None:
    target = "ncnn:cpu"
    with pytest.raises(TargetError, match=r"ncnn:cpu \|.*sequence inputs are not supported \(seq: sequence of"):
        facade.Session(concat_seq, target=target, allow_fallback=False)
