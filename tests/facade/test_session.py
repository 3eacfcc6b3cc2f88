import numpy as np
import pytest

import facade
from facade.zoo import small as models


@pytest.fixture
def sess():
    with facade.Session(models.conv_relu(), target="onnxruntime:cpu") as s:
        yield s


def test_run_returns_onnx_names_shapes_and_dtypes(sess):
    x = np.random.default_rng(1).standard_normal((1, 3, 8, 8)).astype(np.float32)
    out = sess.run({"x": x})
    assert list(out) == ["y"]
    assert out["y"].shape == (1, 4, 8, 8) and out["y"].dtype == np.float32
    assert (out["y"] >= 0).all()


def test_metadata_describes_the_onnx_contract(sess):
    (spec,) = sess.inputs
    assert (spec.name, spec.shape, spec.dtype, spec.layout) == ("x", (1, 3, 8, 8), np.dtype("float32"), "NCHW")
    assert sess.outputs[0].name == "y"
    assert sess.target == "onnxruntime:cpu" and sess.precision == "fp32"


def test_symbolic_dims_are_reported_as_names():
    with facade.Session(models.conv_relu(batch="N"), target="onnxruntime:cpu") as s:
        assert s.inputs[0].shape == ("N", 3, 8, 8)
        assert s.run({"x": np.ones((3, 3, 8, 8), np.float32)})["y"].shape == (3, 4, 8, 8)


def test_handle_io_matches_dict_io(sess):
    x = np.random.default_rng(2).standard_normal((1, 3, 8, 8)).astype(np.float32)
    buf = x.copy()
    sess.input(0).write(buf)
    buf[:] = 0  # write() copied: the caller may reuse its buffer
    sess.run()
    np.testing.assert_array_equal(sess.output("y").read(), sess.run({"x": x})["y"])
    assert sess.input("x").read().any()


def test_outputs_keep_onnx_order_and_can_be_selected():
    with facade.Session(models.two_outputs(), target="onnxruntime:cpu") as s:
        a, b = np.ones((2, 3), np.float32), np.full((1, 3), 2, np.float32)
        assert list(s.run({"a": a, "b": b})) == ["sum", "prod"]
        assert list(s.run({"a": a, "b": b}, output_names=["prod"])) == ["prod"]


def test_explain_is_structured_and_readable(sess):
    trace = sess.explain()
    data = trace.to_dict()
    assert data["chosen"] == "onnxruntime:cpu"
    listed = {c["target"] for c in data["candidates"]} | {r["target"] for r in data["rejected"]}
    assert listed == {"onnxruntime:cpu"}  # forced: only the forced target is judged
    assert "onnxruntime:cpu" in str(trace) and "chosen" in str(trace)


def test_routed_explain_lists_every_target_with_a_reason():
    with facade.Session(models.conv_relu()) as s:
        data = s.explain().to_dict()
    entries = data["candidates"] + data["rejected"]
    assert {e["target"] for e in entries} >= set(facade.all_targets())
    assert all(e["reason"] for e in entries)
    assert data["chosen"] == data["candidates"][0]["target"]


def test_closed_session_refuses_to_run():
    s = facade.Session(models.conv_relu(), target="onnxruntime:cpu")
    s.close()
    s.close()  # idempotent
    with pytest.raises(facade.SessionStateError, match="closed"):
        s.run({"x": np.zeros((1, 3, 8, 8), np.float32)})


def test_read_before_run_is_a_state_error(sess):
    with pytest.raises(facade.SessionStateError, match="run"):
        sess.output(0).read()
    with pytest.raises(facade.SessionStateError, match="output"):
        sess.output(0).write(np.zeros(1))


def test_model_accepted_as_path_bytes_and_proto(tmp_path):
    proto = models.conv_relu()
    path = tmp_path / "m.onnx"
    path.write_bytes(proto.SerializeToString())
    digests = {facade.Session(m, target="onnxruntime:cpu").model.sha256
               for m in (proto, proto.SerializeToString(), path, str(path))}
    assert len(digests) == 1
