"""Every bad input named in the walking-skeleton issue raises a FacadeError subclass saying what and where."""

import numpy as np
import pytest

import facade
from facade.zoo import small as models
from tests import bad_corpus


@pytest.fixture(scope="module")
def sess():
    with facade.Session(models.conv_relu(), target="onnxruntime:cpu") as s:
        yield s


GOOD = np.zeros((1, 3, 8, 8), np.float32)


def test_wrong_input_name_suggests_the_right_one(sess):
    with pytest.raises(facade.InputError, match=r"Unknown input name 'xx'.*Did you mean 'x'"):
        sess.run({"xx": GOOD})


def test_missing_input(sess):
    with pytest.raises(facade.InputError, match=r"Missing input 'a'.*Expected.*a: float32"):
        facade.Session(models.two_outputs(), target="onnxruntime:cpu").run({"b": np.ones((1, 3), np.float32)})


def test_extra_input(sess):
    with pytest.raises(facade.InputError, match="Unknown input name 'extra'"):
        sess.run({"x": GOOD, "extra": GOOD})


def test_unsafe_dtype_is_refused_with_a_hint(sess):
    with pytest.raises(facade.InputError, match=r"Received: float64. Expected: float32.*astype"):
        sess.run({"x": GOOD.astype(np.float64)})


@pytest.mark.parametrize("dtype", [np.float16, np.uint8, np.int8])
def test_safe_casts_are_accepted(sess, dtype):
    assert sess.run({"x": GOOD.astype(dtype)})["y"].dtype == np.float32


def test_int_input_casts():
    s = facade.Session(models.int_input(), target="onnxruntime:cpu")
    assert s.run({"i": np.array([1, 2, 3], np.int8)})["o"].tolist() == [1, 2, 3]
    assert s.run({"i": [4, 5, 6]})["o"].dtype == np.int32  # lists take the input's dtype
    with pytest.raises(facade.InputError, match="int64"):
        s.run({"i": np.array([1, 2, 3], np.int64)})


def test_shape_contradicting_static_dims(sess):
    with pytest.raises(facade.InputError, match=r"static dimension \(axis 1\).*Received: shape \[1, 4, 8, 8\]"):
        sess.run({"x": np.zeros((1, 4, 8, 8), np.float32)})


def test_wrong_rank(sess):
    with pytest.raises(facade.InputError, match="rank"):
        sess.run({"x": np.zeros((3, 8, 8), np.float32)})


def test_symbolic_dim_must_agree_across_inputs():
    s = facade.Session(models.symbolic_pair(), target="onnxruntime:cpu")
    assert s.run({"p": np.ones((5, 4), np.float32), "q": np.ones((5, 4), np.float32)})["r"].shape == (5, 4)
    with pytest.raises(facade.InputError, match=r"Symbolic dimension 'n' has two sizes"):
        s.run({"p": np.ones((5, 4), np.float32), "q": np.ones((2, 4), np.float32)})


def test_non_contiguous_arrays_are_accepted(sess):
    big = np.random.default_rng(0).standard_normal((1, 3, 16, 16)).astype(np.float32)
    view = big[:, :, ::2, ::2]
    assert not view.flags.c_contiguous
    np.testing.assert_array_equal(sess.run({"x": view})["y"], sess.run({"x": view.copy()})["y"])


def test_feeds_must_be_a_mapping(sess):
    with pytest.raises(facade.InputError, match="mapping"):
        sess.run([GOOD])


def test_missing_path(tmp_path):
    with pytest.raises(facade.ModelError, match="not found"):
        facade.Session(tmp_path / "nope.onnx")


def test_empty_file(tmp_path):
    (tmp_path / "empty.onnx").write_bytes(b"")
    with pytest.raises(facade.ModelError, match="empty"):
        facade.Session(tmp_path / "empty.onnx")


def test_truncated_file(tmp_path):
    data = models.conv_relu().SerializeToString()
    (tmp_path / "cut.onnx").write_bytes(data[: len(data) // 2])
    with pytest.raises(facade.ModelError, match=r"cut\.onnx"):
        facade.Session(tmp_path / "cut.onnx")


def test_not_onnx(tmp_path):
    (tmp_path / "text.onnx").write_text("this is not a model\n" * 10)
    with pytest.raises(facade.ModelError, match="not a valid ONNX"):
        facade.Session(tmp_path / "text.onnx")


def test_bad_model_argument_type():
    with pytest.raises(facade.ModelError, match="Received: int"):
        facade.Session(42)


def test_unknown_target_suggests_the_closest():
    with pytest.raises(facade.UnknownTargetError, match=r"Did you mean 'onnxruntime:cpu'"):
        facade.Session(models.conv_relu(), target="onnxruntim:cpu")


def test_forced_unavailable_target_says_why():
    with pytest.raises(facade.TargetUnavailableError, match=r"onnxruntime:coreml.*macOS"):
        facade.Session(models.conv_relu(), target="onnxruntime:coreml")


def test_bad_session_arguments():
    with pytest.raises(facade.InputError, match="precision"):
        facade.Session(models.conv_relu(), precision="fp8")
    with pytest.raises(facade.InputError, match="threads"):
        facade.Session(models.conv_relu(), threads=0)


def test_every_error_is_a_facade_error_and_internal_errors_are_not():
    for cls in (facade.InputError, facade.ModelError, facade.UnknownTargetError, facade.TargetUnavailableError,
                facade.NoTargetError, facade.PolicyError, facade.ConversionError, facade.SessionStateError):
        assert issubclass(cls, facade.FacadeError)
    assert not issubclass(facade.FacadeInternalError, facade.FacadeError)


# The bad-input corpus (benchmarks/bad_inputs.py), a fast subset in-process: every family, and the
# cases the reliability issue named. The full corpus runs each case in a child on every target.
_CORPUS = bad_corpus.load()
_NAMED = {"declared_out_1x7x2", "opset_99", "opset_1", "conv_kernel_5x5_vs_3x3_weights", "flatten_axis_10",
          "conv_weights_int64", "negative_dim_-1_3", "huge_relu_1e6x1e6_float32", "string_input_relu",
          "external_.._.._.._.._etc_passwd", "external_missing_missing.bin", "conv_group_3",
          "feed_gather_index_7", "feed_gather_index_-9"}
_FAST = [c for k, c in enumerate(_CORPUS.cases()) if c.name in _NAMED or k % 12 == 0]


@pytest.mark.parametrize("target", ["native:cpu", "onnxruntime:cpu"])
@pytest.mark.parametrize("case", _FAST, ids=lambda c: c.name)
def test_bad_input_corpus_is_refused_by_name(case, target, tmp_path):
    outcome, detail = _CORPUS.run_in_process(case, target, tmp_path)
    assert _CORPUS.verdict(case, outcome), f"{case.name} on {target}: {outcome}: {detail}"
    if case.invalid:
        assert outcome == "facade", detail


def test_the_corpus_is_large_and_covers_every_family():
    found = _CORPUS.cases()
    assert len(found) >= 400
    assert {c.family for c in found} == set(_CORPUS.FAMILIES)
    assert {c.name for c in found} >= _NAMED


@pytest.mark.parametrize("target", ["onnxruntime:cpu", "native:cpu", "mnn:cpu"])
def test_fed_gather_indices_past_the_end_are_refused_on_every_target(target, tmp_path):
    """MNN read past the tensor and returned numbers for these; the base runner now checks the feed."""
    case = next(c for c in _CORPUS.cases(["feeds"]) if c.name == "feed_gather_index_7")
    outcome, detail = _CORPUS.run_in_process(case, target, tmp_path)
    assert outcome == "facade", detail
    assert "Input 'i' indexes Gather node 'gather0' out of range" in detail
    assert "Received: indices from 0 to 7. Expected: indices in [-2, 1]" in detail
