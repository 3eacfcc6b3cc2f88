"""native:cpu against onnxruntime:cpu: latency, peak intermediate memory, GFLOP/s vs numpy's sgemm.

    python benchmarks/native_vs_ort.py [--threads 1] [--runs 10] [--models squeezenet,resnet50,...]

Both engines run in this one process with the same BLAS/intra-op thread count;
latency is the median of ``--runs`` timed runs after a warm-up. Ratios > 1 mean
native is slower. GFLOP/s counts 2 FLOPs per multiply-add of Conv and Gemm.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import onnx

from facade import native_fallback
from facade.native_fallback import models
from facade.native_fallback.program import blas_threads

#: Latency ratio ceilings native/ORT from the issue (1 thread).
TARGETS = {"squeezenet": 2.5, "resnet50": 2.5, "mobilenetv2": 3.0, "shufflenet": 3.0}


def median_ms(fn, runs: int) -> float:
    """Median wall time of ``fn`` in ms after one warm-up call."""
    return interleaved_ms([fn], runs)[0]


def interleaved_ms(fns: list, runs: int) -> list[float]:
    """Median ms of each function, timed in alternation so both see the same machine load."""
    for fn in fns:
        fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(runs):
        for fn, bucket in zip(fns, times, strict=True):
            t0 = time.perf_counter()
            fn()
            bucket.append((time.perf_counter() - t0) * 1e3)
    return [statistics.median(t) for t in times]


def model_flops(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> float:
    """Multiply-add FLOPs of Conv/Gemm/MatMul, from the shapes of one native run."""
    prog = native_fallback.compile(model, optimize=False)
    values = {**prog._constants, **prog.run(feeds, intermediate=True), **feeds}
    total = 0.0
    for node in prog.graph.nodes:
        if node.op_type == "Conv":
            w, y = values[node.inputs[1]], values[node.outputs[0]]
            total += 2.0 * y.size * int(np.prod(w.shape[1:]))
        elif node.op_type in ("Gemm", "MatMul"):
            a, y = values[node.inputs[0]], values[node.outputs[0]]
            k = a.shape[0] if node.attrs.get("transA", 0) else a.shape[-1]
            total += 2.0 * y.size * k
    return total


def sgemm_gflops(threads: int, n: int = 2048) -> float:
    """numpy's own float32 GEMM rate on this machine: the ceiling for our kernels."""
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    out = np.empty_like(a)
    with blas_threads(threads):
        ms = median_ms(lambda: np.matmul(a, a, out=out), 5)
    return 2.0 * n**3 / (ms * 1e6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--models", default="squeezenet,resnet50,shufflenet,mobilenetv2")
    args = parser.parse_args()
    import onnxruntime as ort

    peak = sgemm_gflops(args.threads)
    print(f"numpy sgemm 2048x2048, {args.threads} thread(s): {peak:.1f} GFLOP/s")
    print(f"{'model':12} {'native ms':>10} {'ort ms':>8} {'ratio':>6} {'target':>6} {'GFLOP/s':>8} "
          f"{'% sgemm':>8} {'peak MB':>8} {'no-reuse MB':>11} {'max err':>9}")
    for name in args.models.split(","):
        model = models.benchmark_model(name)
        feeds = models.sample_input(model)
        prog = native_fallback.compile(model, threads=args.threads)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = args.threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        ours = prog.run(feeds)[prog.output_names[0]]
        ref = sess.run(None, feeds)[0]
        err = float(np.abs(ours - ref).max() / max(np.abs(ref).max(), 1e-30))
        native_ms, ort_ms = interleaved_ms([lambda prog=prog, feeds=feeds: prog.run(feeds),
                                            lambda sess=sess, feeds=feeds: sess.run(None, feeds)], args.runs)
        gflops = model_flops(model, feeds) / (native_ms * 1e6)
        mem = prog.memory_report()
        ratio = native_ms / ort_ms
        print(f"{name:12} {native_ms:10.1f} {ort_ms:8.1f} {ratio:6.2f} {TARGETS.get(name, 0):6.1f} {gflops:8.1f} "
              f"{100 * gflops / peak:7.0f}% {mem['planned_peak_bytes'] / 2**20:8.1f} "
              f"{mem['no_reuse_bytes'] / 2**20:11.1f} {err:9.1e}")


if __name__ == "__main__":
    main()
