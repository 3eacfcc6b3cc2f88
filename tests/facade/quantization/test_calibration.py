"""Calibration data: every layout read, every mismatch refused by name, nothing written on a refusal."""

from __future__ import annotations

import numpy as np
import pytest

import facade
from facade.convert import cache
from facade.model import load_model
from facade.quantization.calibration import CalibrationError, load_calibration
from tests.facade.quantization.conftest import image_calibration


@pytest.fixture(scope="module")
def model(cnn):
    return load_model(str(cnn.path))


def test_npz_stacks_split_into_samples_and_hold_the_last_out(model, tmp_path):
    data = load_calibration(image_calibration(tmp_path / "c.npz", samples=10), model)
    calibrate, held_out = data.split()
    assert (len(calibrate), len(held_out)) == (8, 2)
    assert calibrate[0]["image"].shape == (1, 3, 64, 64) and calibrate[0]["image"].dtype == np.float32
    assert len(data.digest) == 64


def test_samples_on_the_batch_axis_and_folder_layouts_give_the_same_digest(model, tmp_path):
    rng = np.random.default_rng(0)
    images = rng.standard_normal((6, 3, 64, 64)).astype(np.float32)
    np.savez(tmp_path / "batch.npz", image=images)  # samples along the model's batch axis (batch 1)
    (tmp_path / "npz").mkdir()
    (tmp_path / "npy").mkdir()
    for i, img in enumerate(images):
        np.savez(tmp_path / "npz" / f"{i:02d}.npz", image=img[None])
        np.save(tmp_path / "npy" / f"{i:02d}.npy", img[None])
    digests = {load_calibration(tmp_path / p, model).digest for p in ("batch.npz", "npz", "npy")}
    assert len(digests) == 1


def test_two_input_model_reads_one_npy_per_input_name(encoder, tmp_path):
    model = load_model(str(encoder.path))
    ids = np.random.default_rng(0).integers(0, 50, size=(6, 2, 16)).astype(np.int64)
    np.save(tmp_path / "input_ids.npy", ids)
    np.save(tmp_path / "attention_mask.npy", np.ones_like(ids))
    data = load_calibration(tmp_path, model)
    assert len(data.samples) == 6 and set(data.samples[0]) == {"input_ids", "attention_mask"}


@pytest.mark.parametrize(("arrays", "says"), [
    ({"pixels": np.zeros((6, 1, 3, 64, 64), np.float32)}, "names do not match the model's inputs"),
    ({"image": np.zeros((6, 1, 3, 64, 64), np.float64)}, "float64"),
    ({"image": np.zeros((6, 1, 3, 32, 32), np.float32)}, "64"),
    ({"image": np.zeros((6, 64, 64), np.float32)}, "wrong rank"),
    ({"image": np.zeros((3, 1, 3, 64, 64), np.float32)}, "Too few calibration samples"),
])
def test_mismatched_data_is_refused_by_name_and_nothing_is_cached(cnn, model, tmp_path, arrays, says):
    np.savez(tmp_path / "bad.npz", **arrays)
    before = sorted(p.name for p in cache.root().iterdir())
    with pytest.raises(CalibrationError, match=says) as info:
        facade.quantize(str(cnn.path), tmp_path / "bad.npz")
    assert isinstance(info.value, facade.FacadeError) and "Expected" in str(info.value)
    assert sorted(p.name for p in cache.root().iterdir()) == before


def test_missing_and_unreadable_data(model, tmp_path):
    with pytest.raises(CalibrationError, match="not found"):
        load_calibration(tmp_path / "nowhere.npz", model)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(CalibrationError, match="cannot be read"):
        load_calibration(tmp_path / "junk.npz", model)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CalibrationError, match=r"holds no \.npz or \.npy"):
        load_calibration(tmp_path / "empty", model)
