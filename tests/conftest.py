"""Shared fixtures: an isolated cache directory for the whole run."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Every test run gets its own FACADE_CACHE_DIR so no user cache is read or written."""
    mp = pytest.MonkeyPatch()
    mp.setenv("FACADE_CACHE_DIR", str(tmp_path_factory.mktemp("facade-cache")))
    yield
    mp.undo()
