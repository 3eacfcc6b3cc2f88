"""Overhead of facade.Session.run over the raw ONNX Runtime call, on a ~1 ms model.

Both run the same model in the same process on the same thread count. The raw
baseline is the plain call a user writes: ``InferenceSession(bytes, options,
providers=["CPUExecutionProvider"]).run(names, feeds)``.

Measured here (2-core shared box and a 16-core one): two InferenceSessions of
the same model differ by up to ~5% in speed between them, whoever wraps them
(where the arena and packed weights land), which is more than the overhead being
measured. So ``--instances`` sessions of each kind are made, every round times
each of them for ``--calls`` calls in a shuffled order (machine noise hits all
alike), and the ratio is of the medians pooled over all instances. ``--pin CPU``
keeps the process on one core (Linux), which removes migration noise.
Goal: ratio <= 1.01 (median of three runs).

Run: python benchmarks/overhead.py [--rounds 40] [--calls 50] [--instances 4] [--pin 1]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time

import onnxruntime as ort

import facade
from facade.inputs import seeded_feeds
from facade.zoo import mobilenet_v2


def per_call_ms(fn, calls: int) -> float:
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) * 1e3 / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--instances", type=int, default=4, help="sessions of each kind, pooled")
    parser.add_argument("--pin", type=int, metavar="CPU", help="run on this core only (Linux)")
    args = parser.parse_args()
    if args.pin is not None:
        os.sched_setaffinity(0, {args.pin})

    model = mobilenet_v2(resolution=128, width=0.5, classes=100)
    data = model.SerializeToString()
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = args.threads, 1
    calls: dict[str, object] = {}
    for i in range(args.instances):  # made alternately, so neither kind gets the earlier memory
        raw = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        sess = facade.Session(model, target="onnxruntime:cpu", threads=args.threads)
        feeds = seeded_feeds(sess.inputs)
        names = [o.name for o in sess.outputs]
        calls[f"raw{i}"] = lambda raw=raw, names=names, feeds=feeds: raw.run(names, feeds)
        calls[f"facade{i}"] = lambda sess=sess, feeds=feeds: sess.run(feeds)

    for fn in calls.values():
        per_call_ms(fn, args.calls)  # warm-up
    times: dict[str, list[float]] = {k: [] for k in calls}
    order = list(calls)
    rng = random.Random(0)
    for _ in range(args.rounds):
        rng.shuffle(order)
        for key in order:
            times[key].append(per_call_ms(calls[key], args.calls))
    raw_ms = [t for k, v in times.items() if k.startswith("raw") for t in v]
    facade_ms = [t for k, v in times.items() if k.startswith("facade") for t in v]
    r, f = statistics.median(raw_ms), statistics.median(facade_ms)
    spread = [statistics.median(v) for v in times.values()]
    print(f"model: MobileNetV2-shaped, width 0.5, 128x128, {args.threads} thread(s); {args.instances} sessions of "
          f"each kind x {args.rounds} rounds x {args.calls} calls, medians of per-call means"
          + (f", pinned to CPU {args.pin}" if args.pin is not None else ""))
    print(f"sessions' own medians: {min(spread):.4f} .. {max(spread):.4f} ms")
    print(f"onnxruntime raw     {r:8.4f} ms")
    print(f"facade Session.run  {f:8.4f} ms")
    print(f"ratio facade/raw    {f / r:8.4f}  (overhead {1e3 * (f - r):+.1f} us per call)")


if __name__ == "__main__":
    main()
