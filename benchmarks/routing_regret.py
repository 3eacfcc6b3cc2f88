"""Routing regret of ``select = "benchmark"``: the chosen target's latency against the fastest acceptable one.

For each built-in model, a Session routes with ``select = "benchmark"`` in a fresh
cache (so it measures), then every target it timed is loaded again and run side
by side, interleaved round by round so that machine noise hits all alike. Regret
is ``p50(chosen) / p50(fastest) - 1``; done when every model is within 10%.

Run: python benchmarks/routing_regret.py [--rounds 60]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=60, help="interleaved timed rounds per model")
    args = parser.parse_args()
    os.environ["FACADE_CACHE_DIR"] = tempfile.mkdtemp(prefix="facade-regret-")
    import facade
    from facade.builtin_models import BUILTIN, builtin_model_path
    from facade.inputs import seeded_feeds

    worst = 0.0
    print(f"{'model':<22} {'chosen':<18} {'fastest':<18} {'p50 chosen ms':>14} {'p50 fastest ms':>15} {'regret':>8}")
    for name in BUILTIN:
        path = builtin_model_path(name)
        with facade.Session(path, policy={"select": "benchmark"}) as routed:
            chosen = routed.target
            timed = [e.target for e in routed.explain().ranked()
                     if any(n.startswith("benchmark p50") for n in e.notes)]
        sessions = {t: facade.Session(path, target=t) for t in timed}
        feeds = seeded_feeds(sessions[chosen].inputs)
        times: dict[str, list[float]] = {t: [] for t in timed}
        for s in sessions.values():
            s.run(feeds)  # warm-up
        for _ in range(args.rounds):
            for t, s in sessions.items():
                t0 = time.perf_counter()
                s.run(feeds)
                times[t].append((time.perf_counter() - t0) * 1e3)
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
