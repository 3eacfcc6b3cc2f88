"""The IO contract every converted artifact is read through: names, layouts, batches, static shapes.

The ``invoke`` functions here stand in for the engine call only, to pin the
mapping rules; every adapter's own tests run the same contract on its real engine.
"""

from __future__ import annotations

import numpy as np
import pytest

from facade.adapters.io_contract import Binding, IOContract, find_permutation, match_names
from facade.errors import ConversionError, InputError
from facade.tensor import TensorSpec

F32 = np.dtype(np.float32)


def spec(name: str, *shape) -> TensorSpec:
    return TensorSpec(name, tuple(shape), F32)


def test_names_match_exactly_then_sanitized_then_by_position():
    assert match_names(["x", "y:0"], ["y_0", "x"]) == {"x": "x", "y:0": "y_0"}
    assert match_names(["a", "b"], ["in0", "in1"]) == {"a": "in0", "b": "in1"}
    with pytest.raises(ConversionError, match="do not match"):
        match_names(["a", "b"], ["in0"])


def test_channels_last_is_found_and_preferred_when_both_fit():
    assert find_permutation([1, 3, 8, 4], [1, 8, 4, 3], prefer_channels_last=True) == (0, 2, 3, 1)
    assert find_permutation([1, 3, 3, 3], [1, 3, 3, 3], prefer_channels_last=True) == (0, 2, 3, 1)
    assert find_permutation([1, 3, 3, 3], [1, 3, 3, 3], prefer_channels_last=False) is None
    with pytest.raises(ConversionError, match="No layout"):
        find_permutation([1, 3, 8, 4], [1, 5, 8, 4], prefer_channels_last=True)


def test_a_dynamic_batch_runs_sample_by_sample_and_is_stacked_in_onnx_layout():
    perm = (0, 2, 3, 1)
    contract = IOContract(inputs=(Binding(spec("x", "N", 2, 3, 3), "in", perm),),
                          outputs=(Binding(spec("y", "N", 2, 3, 3), "out", perm),), per_sample=True)
    seen = []

    def invoke(feeds):
        seen.append(feeds["in"].shape)
        return {"out": feeds["in"] * 2}

    x = np.arange(3 * 2 * 3 * 3, dtype=np.float32).reshape(3, 2, 3, 3)
    out = contract.run({"x": x}, invoke, "t:cpu")
    assert seen == [(1, 3, 3, 2)] * 3
    np.testing.assert_array_equal(out["y"], x * 2)


def test_a_fixed_leading_dim_is_data_passed_whole_and_other_inputs_are_not_split():
    contract = IOContract(inputs=(Binding(spec("a", 4, 5), "a"), Binding(spec("b", "N", 5), "b")),
                          outputs=(Binding(spec("s", "N", 4, 5), "s"),), per_sample=True)
    a = np.ones((4, 5), np.float32)
    b = np.arange(10, dtype=np.float32).reshape(2, 5)

    def invoke(feeds):
        assert feeds["a"].shape == (4, 5) and feeds["b"].shape == (1, 5)
        return {"s": (feeds["a"] + feeds["b"])[None]}

    np.testing.assert_array_equal(contract.run({"a": a, "b": b}, invoke, "t:cpu")["s"], (a + b[:, None]))


def test_inputs_that_disagree_on_the_batch_are_refused_by_name():
    contract = IOContract(inputs=(Binding(spec("p", "N", 2), "p"), Binding(spec("q", "N", 2), "q")),
                          outputs=(Binding(spec("r", "N", 2), "r"),), per_sample=True)
    with pytest.raises(InputError, match=r"disagree on the batch size.*'p': 2, 'q': 3"):
        contract.run({"p": np.zeros((2, 2), np.float32), "q": np.zeros((3, 2), np.float32)}, dict, "t:cpu")


def test_a_static_artifact_refuses_other_shapes_naming_the_fixed_shape_in_onnx_layout():
    contract = IOContract(inputs=(Binding(spec("x", "N", 3, "H", "W"), "in", (0, 2, 3, 1), static_shape=(1, 1, 1, 3)),),
                          outputs=(Binding(spec("y", "N", 10), "out"),), per_sample=True)
    with pytest.raises(InputError, match=r"converted with static shapes.*Received: \[1, 3, 5, 5\].*"
                                         r"Expected: \[1, 3, 1, 1\]"):
        contract.run({"x": np.zeros((1, 3, 5, 5), np.float32)}, dict, "litert:cpu")


def test_tensors_without_a_batch_axis_drop_it_and_restore_unit_dims():
    contract = IOContract(inputs=(Binding(spec("x", 2, 3), "in0", batch_axis=False),),
                          outputs=(Binding(spec("y", 2, 1, 3), "out0", batch_axis=False),),
                          per_sample=True, output_shapes={"y": (1, 1, 3)})
    x = np.arange(6, dtype=np.float32).reshape(2, 3)

    def invoke(feeds):
        assert feeds["in0"].shape == (3,)
        return {"out0": feeds["in0"] + 1}

    np.testing.assert_array_equal(contract.run({"x": x}, invoke, "ncnn:cpu")["y"], (x + 1)[:, None, :])


def test_outputs_come_back_in_onnx_order_and_dtype_as_arrays_the_caller_owns():
    buffer = np.zeros(2, np.float16)
    contract = IOContract(inputs=(Binding(spec("x", 2), "x"),),
                          outputs=(Binding(spec("second", 2), "o2"), Binding(spec("first", 2), "o1")))
    out = contract.run({"x": np.ones(2, np.float32)}, lambda feeds: {"o1": buffer, "o2": buffer}, "t:cpu")
    assert list(out) == ["second", "first"]
    assert out["first"].dtype == F32
    buffer[:] = 7
    assert not out["first"].any()


def test_outputs_are_copied_unless_the_engine_hands_out_fresh_arrays():
    buffer = np.arange(6, dtype=np.float32).reshape(2, 3)  # an engine that reuses this buffer on every call
    binding = (Binding(spec("y", 2, 3), "y"),)
    reused = IOContract(inputs=(), outputs=binding)
    fresh = IOContract(inputs=(), outputs=binding, fresh_outputs=True)
    assert not np.shares_memory(reused.run({}, lambda _: {"y": buffer}, "here")["y"], buffer)
    assert fresh.run({}, lambda _: {"y": buffer}, "here")["y"] is buffer


def test_an_input_is_transposed_and_cast_in_one_copy_and_only_wanted_outputs_are_mapped():
    binding = Binding(spec("x", 1, 3, 2, 2), "x", perm=(0, 2, 3, 1), engine_dtype=np.dtype(np.float16))
    arr = np.arange(12, dtype=np.float32).reshape(1, 3, 2, 2)
    moved = binding.to_engine(arr)
    assert moved.dtype == np.float16 and moved.flags.c_contiguous and moved.shape == (1, 2, 2, 3)
    np.testing.assert_array_equal(moved, arr.transpose(0, 2, 3, 1).astype(np.float16))
    same = Binding(spec("x", 2, 3), "x")
    kept = np.zeros((2, 3), np.float32)
    assert same.to_engine(kept) is kept  # nothing to change: no copy
    contract = IOContract(inputs=(), outputs=(Binding(spec("p", 2), "p"), Binding(spec("q", 2), "q")))
    out = contract.run({}, lambda _: {"p": np.zeros(2, np.float32), "q": np.ones(2, np.float32)}, "here", ("q",))
    assert list(out) == ["q"]
