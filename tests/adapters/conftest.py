"""Engine tests share one artifact cache per test run, so each model is converted once."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def _artifact_cache(tmp_path_factory) -> None:
    mp = pytest.MonkeyPatch()
    mp.setenv("FACADE_CACHE_DIR", str(tmp_path_factory.mktemp("facade-cache")))
    yield
    mp.undo()
