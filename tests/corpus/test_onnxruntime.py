"""Every corpus model on onnxruntime:cpu through facade agrees with the framework that made it.

QDQ entries' oracle is ONNX Runtime's own output at build time (see
``tests/corpus/builders/qdq.py`` for why); for them this test checks that facade's
session (its feeds, names, dtypes, options) reproduces the plain ONNX Runtime run.
"""

from __future__ import annotations

import pytest

from tests.corpus import registry
from tests.corpus.run import check


@pytest.mark.parametrize("name", registry.names())
def test_onnxruntime_matches_oracle(name, corpus_model):
    ran, agreement = check(corpus_model, "onnxruntime:cpu")
    assert ran == "onnxruntime:cpu"
    assert agreement, f"{name} on onnxruntime:cpu: {agreement}"
