"""One model through every available target: output agreement with ONNX Runtime and latency.

    python examples/every_engine.py [MODEL.onnx]

Without a model, facade's built-in MobileNetV2-shaped model (at 96x96) is used.
A target that refuses the model (converter missing, or a conversion that diverged)
is listed with its reason instead of a number.
"""

from __future__ import annotations

import sys
import time

import facade
from facade.errors import FacadeError
from facade.inputs import seeded_feeds
from facade.metrics import relative_max_error
from facade.zoo import mobilenet_v2


def main(model=None) -> int:
    model = model or mobilenet_v2(resolution=96, width=0.5, classes=100)
    reference = facade.Session(model, target="onnxruntime:cpu")
    feeds = seeded_feeds(reference.inputs, seed=1)
    expected = reference.run(feeds)
    print(f"{'target':22} {'agreement':>12} {'latency ms':>11}  notes")
    for target in facade.all_targets():
        try:
            sess = facade.Session(model, target=target)
        except FacadeError as e:
            print(f"{target:22} {'-':>12} {'-':>11}  {str(e).split(' | ', 1)[-1][:110]}")
            continue
        sess.run(feeds)
        start = time.perf_counter()
        out = sess.run(feeds)
        ms = (time.perf_counter() - start) * 1e3
        err = max(relative_max_error(out[k], v) for k, v in expected.items())
        print(f"{target:22} {err:12.2e} {ms:11.2f}  {sess.precision}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else None))
