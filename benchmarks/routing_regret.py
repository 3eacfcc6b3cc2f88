"""Routing regret of ``select = "benchmark"``: the chosen target's latency against the fastest acceptable one.

For each built-in model, a Session routes with ``select = "benchmark"`` in a fresh
cache (so it measures), then every target it timed is loaded again and run side
by side, interleaved round by round so that machine noise hits all alike. Regret
is ``p50(chosen) / p50(fastest) - 1``; done when every model is within 10%.

Run: python benchmarks/routing_regret.py [--rounds 20] [--models mlp,...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile

BLOCK_S = 0.05


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="interleaved rounds of timed blocks per model")
    parser.add_argument("--models", default=None, help="comma-separated built-in models (default: all)")
    args = parser.parse_args()
    os.environ["FACADE_CACHE_DIR"] = tempfile.mkdtemp(prefix="facade-regret-")
    import facade
    from facade.benchmark import time_runs
    from facade.inputs import seeded_feeds
    from facade.zoo import model_path
    from facade.zoo.cnn import MODELS as BUILTIN

    worst = 0.0
    print(f"{'model':<22} {'chosen':<18} {'fastest':<18} {'p50 chosen ms':>14} {'p50 fastest ms':>15} {'regret':>8}")
    for name in args.models.split(",") if args.models else BUILTIN:
        path = model_path(name)
        with facade.Session(path, policy={"select": "benchmark"}) as routed:
            chosen = routed.target
            timed = [e.target for e in routed.explain().ranked()
                     if any(n.startswith("benchmark p50") for n in e.notes)]
        sessions = {t: facade.Session(path, target=t) for t in timed}
        feeds = seeded_feeds(sessions[chosen].inputs)
        times: dict[str, list[float]] = {t: [] for t in timed}
        # Time-bounded blocks per target, interleaved round by round. Each block warms up
        # for time_runs' default warm-up (longer than any engine's idle spin), so a target is
        # never timed against the worker threads of the one timed before it.
        for _ in range(args.rounds):
            for t, s in sessions.items():
                times[t] += time_runs(s, feeds, BLOCK_S, max_runs=10**6)
        p50 = {t: statistics.median(v) for t, v in times.items()}
        fastest = min(p50, key=p50.get)
        regret = p50[chosen] / p50[fastest] - 1
        worst = max(worst, regret)
        print(f"{name:<22} {chosen:<18} {fastest:<18} {p50[chosen]:>14.3f} {p50[fastest]:>15.3f} {regret:>7.1%}"
              f"   (timed: {', '.join(f'{t} {v:.3f}' for t, v in p50.items())})")
        for s in sessions.values():
            s.close()
    print(f"worst regret {worst:.1%} ({'within' if worst <= 0.10 else 'OVER'} the 10% bound)")
    return 0 if worst <= 0.10 else 1


if __name__ == "__main__":
    sys.exit(main())
