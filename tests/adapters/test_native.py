"""native:cpu through a Session: its threads are the engine's own (BLAS held at one thread while the
session lives, the limit found before restored on close), and the result does not depend on them."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper
from threadpoolctl import threadpool_info

import facade


def _blas_threads() -> list[int]:
    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


def _conv_model():
    rng = np.random.default_rng(0)
    w = helper.make_tensor("w", TensorProto.FLOAT, [32, 16, 3, 3], rng.standard_normal(32 * 16 * 9).tolist())
    graph = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"], pads=[1] * 4)], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, 40, 40])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_a_threaded_session_holds_blas_at_one_thread_until_closed() -> None:
    model = _conv_model()
    x = np.random.default_rng(1).standard_normal((1, 16, 40, 40)).astype(np.float32)
    before = _blas_threads()
    one = facade.Session(model, target="native:cpu", threads=1)
    three = facade.Session(model, target="native:cpu", threads=3)
    assert all(n == 1 for n in _blas_threads())
    np.testing.assert_allclose(three.run({"x": x})["y"], one.run({"x": x})["y"], rtol=1e-4, atol=1e-4)
    one.close()
    three.close()
    assert _blas_threads() == before
