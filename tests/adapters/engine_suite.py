"""The suite every engine's tests reuse (STYLE.md pattern 10): subclass, set ``target``, done.

Each case runs the real engine on a model the engine's authors never saw and
compares with ONNX Runtime: output names, order and shapes, and values within
1e-4 relative max error at fp32. Where a converter gets a model wrong, the target
must refuse it with the measured divergence: ``known_refusals`` lists those
models, with the reason, as data.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import pytest

import facade
from facade.errors import FacadeError
from facade.inputs import seeded_feeds
from facade.metrics import relative_max_error
from facade.reference import reference_outputs
from facade.zoo import small as models

MODELS = {"cnn": models.cnn, "cnn_dynamic_batch": lambda: models.cnn(batch="N"), "two_inputs": models.two_inputs,
          "fixed_rows": models.fixed_rows, "opset9_softmax": models.opset9_softmax}


class EngineSuite:
    """Abstract: subclasses set ``target``; ``known_refusals`` maps model name -> why the converter fails it."""

    target: str
    known_refusals: Mapping[str, str] = MappingProxyType({})
    batch = 2  # feeds for dynamic dims, so engines without a batch axis are tested on several samples

    @pytest.mark.parametrize("name", sorted(MODELS))
    def test_matches_onnxruntime_or_refuses(self, name):
        proto = MODELS[name]()
        try:
            sess = facade.Session(proto, target=self.target)
        except FacadeError as e:
            assert name in self.known_refusals, f"{self.target} refused {name}: {e}"
            assert self.target in str(e)  # a reasoned refusal, never a wrong answer
            return
        assert name not in self.known_refusals, f"{self.target} now accepts {name}: update known_refusals"
        feeds = seeded_feeds(sess.inputs, seed=7, dynamic=self.batch)
        want = reference_outputs(proto, feeds)
        got = sess.run(feeds)
        assert list(got) == [o.name for o in proto.graph.output]
        for k, v in want.items():
            assert got[k].shape == v.shape and got[k].dtype == v.dtype
            assert relative_max_error(got[k], v) <= 1e-4, (k, relative_max_error(got[k], v))
        assert sess.precision == "fp32"
        assert any("conversion verified" in n or "placement verified" in n or self.target.startswith("native")
                   or self.target == "onnxruntime:cpu"
                   for n in [*sess.explain().entry(self.target).notes, ""])

    def test_refusal_is_cached_and_explained(self):
        """A refused model stays refused in a second session, from the cached verdict, with the reason."""
        for name in self.known_refusals:
            for _ in range(2):
                with pytest.raises(FacadeError, match=self.target):
                    facade.Session(MODELS[name](), target=self.target)

    def test_threads_option_is_accepted(self):
        sess = facade.Session(models.cnn(), target=self.target, threads=1)
        out = sess.run(seeded_feeds(sess.inputs))
        assert set(out) == {"logits", "features"}
