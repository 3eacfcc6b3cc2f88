"""Every corpus model on native:cpu and native:opencl, without fallback, agrees with its oracle within 1e-4.

A failure here is a native engine bug: its minimal repro goes in
/work/notes/corpus_native.md; the test stays, so it turns green with the fix.
"""

from __future__ import annotations

import pytest

from tests.corpus import registry
from tests.corpus.run import check


@pytest.mark.parametrize("name", registry.names())
def test_native_cpu_matches_oracle(name, corpus_model):
    ran, agreement = check(corpus_model, "native:cpu")
    assert ran == "native:cpu"
    assert agreement, f"{name} on native:cpu: {agreement}"


@pytest.mark.parametrize("name", registry.names())
def test_native_opencl_matches_oracle(name, corpus_model):
    """native:opencl (PoCL here) on every corpus model: 25 s over the corpus with PoCL's kernel cache
    empty, measured on two busy cores, so it stays in the default run."""
    ran, agreement = check(corpus_model, "native:opencl")
    assert ran == "native:opencl"
    assert agreement, f"{name} on native:opencl: {agreement}"
