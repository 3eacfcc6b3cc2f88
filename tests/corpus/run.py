"""Running a corpus model through ``facade.Session`` the way the tests and the benchmark do."""

from __future__ import annotations

import numpy as np

import facade
from tests.corpus.compare import Agreement, agreement
from tests.corpus.store import CorpusModel


def run(model: CorpusModel, target: str | None) -> tuple[str, dict[str, np.ndarray]]:
    """The target that ran and its outputs; ``target=None`` lets the router choose (fallback on)."""
    kwargs = {} if target is None else {"target": target, "allow_fallback": False}
    with facade.Session(str(model.path), **kwargs) as sess:
        outputs = sess.run(model.feeds)
        return sess.target, outputs


def check(model: CorpusModel, target: str | None) -> tuple[str, Agreement]:
    """Run ``model`` on ``target`` and score it against the oracle."""
    ran, outputs = run(model, target)
    return ran, agreement(outputs, model.oracle)
