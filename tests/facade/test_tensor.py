"""FeedCheck: the once-per-call feed validation gives what validate_feeds gives, taking its short path only
for feeds that are already right."""

from __future__ import annotations

import numpy as np
import pytest

from facade.errors import InputError
from facade.tensor import FeedCheck, TensorSpec, validate_feeds

SPECS = [TensorSpec("a", ("n", 3), np.dtype(np.float32)), TensorSpec("b", ("n", 2), np.dtype(np.float32))]


def test_exact_contiguous_arrays_pass_through_untouched_in_spec_order():
    a, b = np.zeros((4, 3), np.float32), np.ones((4, 2), np.float32)
    out = FeedCheck(SPECS)({"b": b, "a": a}, "here")
    assert list(out) == ["a", "b"] and out["a"] is a and out["b"] is b


@pytest.mark.parametrize("feeds", [
    {"a": np.zeros((3, 4), np.float32).T, "b": np.ones((4, 2), np.float32)},  # not contiguous: copied
    {"a": np.zeros((4, 3), np.float16), "b": np.ones((4, 2), np.float32)},  # safe cast
    {"a": [[0.0] * 3] * 4, "b": np.ones((4, 2), np.float32)},  # a list
])
def test_feeds_that_need_work_get_the_same_result_as_validate_feeds(feeds):
    got, want = FeedCheck(SPECS)(feeds, "here"), validate_feeds(SPECS, feeds, "here")
    for name in want:
        assert got[name].dtype == want[name].dtype and got[name].flags.c_contiguous
        np.testing.assert_array_equal(got[name], want[name])


@pytest.mark.parametrize(("feeds", "message"), [
    ({"a": np.zeros((4, 3), np.float64), "b": np.ones((4, 2), np.float32)}, "cannot be cast safely"),
    ({"a": np.zeros((4, 3), np.float32), "b": np.ones((5, 2), np.float32)}, "two sizes in one call"),
    ({"a": np.zeros((4, 4), np.float32), "b": np.ones((4, 2), np.float32)}, "static dimension"),
    ({"a": np.zeros((4, 3), np.float32)}, "Missing input 'b'"),
    ({"a": np.zeros((4, 3), np.float32), "b": np.ones((4, 2), np.float32), "c": 1}, "Unknown input name 'c'"),
])
def test_bad_feeds_raise_what_validate_feeds_raises(feeds, message):
    with pytest.raises(InputError, match=message):
        FeedCheck(SPECS)(feeds, "here")
    with pytest.raises(InputError, match=message):
        validate_feeds(SPECS, feeds, "here")


def test_written_values_are_checked_only_for_presence_and_shared_dims():
    check = FeedCheck(SPECS)
    a, b = np.zeros((4, 3), np.float32), np.ones((4, 2), np.float32)
    assert check.joined({"b": b, "a": a}, "here") == {"a": a, "b": b}
    with pytest.raises(InputError, match="Missing input 'b'"):
        check.joined({"a": a}, "here")
    with pytest.raises(InputError, match="two sizes in one call"):
        check.joined({"a": a, "b": np.ones((5, 2), np.float32)}, "here")
