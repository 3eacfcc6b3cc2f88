"""Auto-routing (``facade.Session(path)``, no target) gives the oracle's answer on every corpus model,
whichever target it picks."""

from __future__ import annotations

import pytest

from tests.corpus import registry
from tests.corpus.run import check


@pytest.mark.parametrize("name", registry.names())
def test_auto_routing_matches_oracle(name, corpus_model):
    ran, agreement = check(corpus_model, None)
    assert agreement, f"{name} routed to {ran}: {agreement}"
