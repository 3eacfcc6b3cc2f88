"""The corpus fixture: build what the cache lacks (once per run, in a child process), then load."""

from __future__ import annotations

import pytest

from tests.corpus import registry, store
from tests.corpus.store import CorpusModel


@pytest.fixture(scope="session")
def corpus_failures() -> dict[str, str]:
    """``{name: why}`` for entries that could not be built; every entry is built once per cache key."""
    return store.ensure(list(registry.ENTRIES))


@pytest.fixture
def corpus_model(request, corpus_failures) -> CorpusModel:
    """The built entry named by the test's ``name`` parameter; a build failure fails the test."""
    name = request.node.callspec.params["name"]
    if name in corpus_failures:
        pytest.fail(f"corpus model {name} did not build: {corpus_failures[name]}")
    return store.load(name)
