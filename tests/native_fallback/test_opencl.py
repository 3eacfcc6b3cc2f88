"""native:opencl on PoCL (or any OpenCL device): probe, per-operator kernels, whole models."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from facade import native_fallback, zoo
from facade.native_fallback import node_suite

OK, REASON = native_fallback.opencl_available()
pytestmark = pytest.mark.skipif(not OK, reason=f"no OpenCL here: {REASON}")

_CASES = [c for c in node_suite.cases() if node_suite.in_scope(c.model, c.data) and node_suite.claimed_by_opencl(c)]


def test_import_does_not_load_pyopencl() -> None:
    code = "import sys, facade.native_fallback as nf; nf.opencl_available(); print('pyopencl' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_probe_is_cached_and_explains() -> None:
    assert native_fallback.opencl_available() is native_fallback.opencl_available()
    assert "OpenCL device" in REASON


@pytest.mark.parametrize("case", _CASES, ids=[c.name for c in _CASES])
def test_claimed_node_cases_pass(case: node_suite.Case) -> None:
    status, detail = node_suite.run_case(case, node_suite.native_runner(device="opencl"))
    assert status == "pass", detail


@pytest.mark.parametrize("name", ["squeezenet", "mobilenetv2"])
def test_model_runs_mostly_on_device_and_matches_numpy(name: str) -> None:
    model = zoo.benchmark_model(name)
    feeds = zoo.sample_input(model)
    prog = native_fallback.compile(model, device="opencl")
    got = prog.run(feeds)[prog.output_names[0]]
    want = native_fallback.compile(model).run(feeds)[prog.output_names[0]]
    assert len(prog.device_ops) >= 0.9 * len(prog.steps)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * np.abs(want).max())


def test_zero_d_results_stay_zero_d() -> None:
    """A 0-d tensor uploaded to the device kept shape (1,), so scalar arithmetic came back 1-d."""
    from onnx import TensorProto, helper

    nodes = [helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0), helper.make_node("Div", ["s", "n"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3]),
                                           helper.make_tensor_value_info("n", TensorProto.FLOAT, [])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    out = native_fallback.compile(model, device="opencl").run({"x": np.ones(3, np.float32), "n": np.float32(2)})
    assert out["y"].shape == () and out["y"] == 1.5


def test_every_run_uses_the_device_kernels_not_only_the_first() -> None:
    """The compiled schedule once ran numpy's kernels on every run after the first (which records buffer
    sizes and took the OpenCL path): native:opencl silently computed on the CPU. The same input twice must
    give the same bits, since OpenCL's and numpy's convolutions round differently."""
    model = zoo.benchmark_model("squeezenet")
    feeds = zoo.sample_input(model)
    prog = native_fallback.compile(model, device="opencl")
    name = prog.output_names[0]
    first, second = prog.run(feeds)[name], prog.run(feeds)[name]
    host = native_fallback.compile(model).run(feeds)[name]
    assert not np.array_equal(first, host), "OpenCL and numpy agree to the bit here: the check below proves nothing"
    np.testing.assert_array_equal(second, first)
