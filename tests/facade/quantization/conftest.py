"""Quantization tests: corpus models (cached builders) and calibration data generated here, per test run."""

from __future__ import annotations

import numpy as np
import pytest

from tests.corpus import registry, store


def corpus(name: str) -> store.CorpusModel:
    """A corpus entry, built into its on-disk cache if missing (a child process; torch stays out of here)."""
    failures = store.ensure([registry.lookup(name)])
    if failures:
        pytest.fail(f"corpus model {name} did not build: {failures[name]}")
    return store.load(name)


@pytest.fixture(scope="session")
def cnn() -> store.CorpusModel:
    return corpus("mobilenet_v3")


@pytest.fixture(scope="session")
def encoder() -> store.CorpusModel:
    return corpus("transformer_encoder")


def image_calibration(path, samples: int = 12, seed: int = 1, scale: float = 1.0):
    """``samples`` images shaped like the corpus CNN's input, stacked under its input name."""
    rng = np.random.default_rng(seed)
    np.savez(path, image=(scale * rng.standard_normal((samples, 1, 3, 64, 64))).astype(np.float32))
    return path


@pytest.fixture(scope="session")
def cnn_data(tmp_path_factory):
    return image_calibration(tmp_path_factory.mktemp("calib") / "images.npz")


@pytest.fixture(scope="session")
def encoder_data(tmp_path_factory):
    rng = np.random.default_rng(3)
    path = tmp_path_factory.mktemp("calib") / "tokens.npz"
    np.savez(path, input_ids=rng.integers(0, 50, size=(8, 2, 16)).astype(np.int64),
             attention_mask=np.ones((8, 2, 16), np.int64))
    return path
