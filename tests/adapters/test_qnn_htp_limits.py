"""QNN's HTP simulator: a size bound before session creation, and NaN/inf flagged where HTP flushes them."""

from __future__ import annotations

import json
import time
import warnings

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import facade
from facade.adapters.non_finite import NonFiniteWarning
from facade.cli import main
from facade.errors import TargetError, UnsupportedModelError
from facade.zoo.conformance import non_finite, non_finite_feeds

HTP = "onnxruntime:qnn-htp"


def relu(shape: list[int]) -> onnx.ModelProto:
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "relu",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def htp_session(model) -> facade.Session:
    try:
        return facade.Session(model, target=HTP, allow_fallback=False)
    except UnsupportedModelError:
        raise
    except TargetError as e:
        pytest.skip(f"{HTP} is not available here: {e}")


@pytest.fixture(scope="module")
def htp_available():
    with htp_session(relu([1, 8])):
        pass


def test_a_model_too_large_for_the_simulator_is_refused_at_once(htp_available):
    """1e9 elements in one tensor (4 GiB: under the memory bound of intake): creation would take minutes."""
    began = time.perf_counter()
    with pytest.raises(UnsupportedModelError, match=r"too large for QNN's HTP simulator.*'x' of shape \[1, 64, 4096"):
        facade.Session(relu([1, 64, 4096, 4096]), target=HTP, allow_fallback=False)
    assert time.perf_counter() - began < 30


def test_a_1e12_element_model_is_refused_within_a_minute():
    began = time.perf_counter()
    with pytest.raises(facade.FacadeError):
        facade.Session(relu([1000000, 1000000]), target=HTP, allow_fallback=False)
    assert time.perf_counter() - began < 60


def test_nan_and_inf_feeds_are_flagged_on_htp_and_noted_in_explain(htp_available):
    feeds = non_finite_feeds()
    with htp_session(non_finite()) as sess, pytest.warns(NonFiniteWarning, match="inputs x"):
        out = sess.run(feeds)["y"]
    assert "non-finite values seen (inputs x" in str(sess.explain())
    # What the flag is for: HTP's output for the NaN channel is finite (the CPU's is NaN).
    assert np.isfinite(out[:, 0]).all()


def test_the_cpu_keeps_nan_and_is_not_flagged():
    with facade.Session(non_finite(), target="onnxruntime:cpu") as sess, warnings.catch_warnings():
        warnings.simplefilter("error", NonFiniteWarning)
        out = sess.run(non_finite_feeds())["y"]
    assert np.isnan(out[:, 0]).all() and np.isposinf(out[:, 1]).all()


def test_conformance_fails_htp_on_the_non_finite_case(htp_available, tmp_path):
    out = tmp_path / "r.json"
    main(["conformance", "run", "--suite", "builtin", "--filter", "builtin/non_finite", "--targets",
          f"onnxruntime:cpu,{HTP}", "--out", str(out), "--no-store", "--no-progress", "--json"])
    results = {r["target"]: r for r in json.loads(out.read_text())["runs"][0]["results"]}
    assert results["onnxruntime:cpu"]["verdict"] == "pass"
    assert results[HTP]["verdict"] != "pass", results[HTP]
