"""Where native:cpu spends its time: milliseconds per operator type and the slowest nodes.

    python benchmarks/native_profile.py [--model resnet50] [--threads 1] [--runs 10] [--top 15]

Uses ``Program.run(..., profile=...)``; times are per run (total over runs / runs).
"""

from __future__ import annotations

import argparse
from collections import defaultdict

from facade import native_fallback, zoo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    model = zoo.benchmark_model(args.model)
    feeds = zoo.sample_input(model)
    prog = native_fallback.compile(model, threads=args.threads)
    prog.run(feeds)
    per_node: dict[str, float] = {}
    for _ in range(args.runs):
        prog.run(feeds, profile=per_node)
    per_op: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for label, seconds in per_node.items():
        op = label.rsplit("(", 1)[1].rstrip(")")
        per_op[op] += seconds
        counts[op] += 1
    total = sum(per_node.values())
    print(f"{args.model}: {1e3 * total / args.runs:.2f} ms in kernels per run")
    for op, seconds in sorted(per_op.items(), key=lambda kv: -kv[1]):
        print(f"  {op:24} {counts[op]:4} nodes {1e3 * seconds / args.runs:8.2f} ms {100 * seconds / total:5.1f}%")
    print("slowest nodes:")
    for label, seconds in sorted(per_node.items(), key=lambda kv: -kv[1])[: args.top]:
        print(f"  {label:60} {1e3 * seconds / args.runs:8.2f} ms")


if __name__ == "__main__":
    main()
