"""Overhead of facade.Session.run over the raw ONNX Runtime call, on a ~1 ms model.

Both run the same model in the same process on the same thread count; rounds
alternate between them so machine noise hits both alike. Prints the medians and
their ratio (goal: below 1.05).

Run: python benchmarks/overhead.py [--rounds 30] [--calls 50]
"""

from __future__ import annotations

import argparse
import statistics
import time

import onnxruntime as ort

import facade
from facade.builtin_models import mobilenet_v2
from facade.inputs import seeded_feeds


def per_call_ms(fn, calls: int) -> float:
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) * 1e3 / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    model = mobilenet_v2(resolution=128, width=0.5, classes=100)
    sess = facade.Session(model, target="onnxruntime:cpu", threads=args.threads)
    feeds = seeded_feeds(sess.inputs)
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = args.threads, 1
    raw = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.outputs]

    def raw_call():
        return raw.run(names, feeds)

    def facade_call():
        return sess.run(feeds)

    for fn in (raw_call, facade_call):
        per_call_ms(fn, args.calls)  # warm-up
    raw_ms, facade_ms = [], []
    for _ in range(args.rounds):
        raw_ms.append(per_call_ms(raw_call, args.calls))
        facade_ms.append(per_call_ms(facade_call, args.calls))
    r, f = statistics.median(raw_ms), statistics.median(facade_ms)
    print(f"model: MobileNetV2-shaped, width 0.5, 128x128, {args.threads} thread(s); "
          f"{args.rounds} rounds x {args.calls} calls, medians of per-call means")
    print(f"onnxruntime raw     {r:8.4f} ms")
    print(f"facade Session.run  {f:8.4f} ms")
    print(f"ratio facade/raw    {f / r:8.4f}  (overhead {1e3 * (f - r):+.1f} us per call)")


if __name__ == "__main__":
    main()
