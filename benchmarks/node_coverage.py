"""Node-suite coverage per operator: native:cpu next to onnxruntime:cpu.

    python benchmarks/node_coverage.py            # per-operator table + totals
    python benchmarks/node_coverage.py --failures # also list every non-passing case

Columns: pass/fail/unsupported counts per engine, and whether the native kernel
is our own or bridged to onnx.reference.
"""

from __future__ import annotations

import argparse
import collections

import numpy as np
import onnx

from facade.native_fallback import node_suite, registry


def ort_runner() -> node_suite.Runner:
    """Run a case model on ONNX Runtime's CPU provider, directly."""
    import onnxruntime as ort

    def run(model: onnx.ModelProto, ins: list[np.ndarray]) -> list[np.ndarray]:
        opts = ort.SessionOptions()
        opts.log_severity_level = 4
        sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        names = [i.name for i in sess.get_inputs()]
        return sess.run(None, dict(zip(names, ins, strict=False)))
    return run


def ort_status(case: node_suite.Case, runner: node_suite.Runner) -> str:
    """ORT's verdict; a load failure naming a missing kernel counts as unsupported."""
    status, detail = node_suite.run_case(case, runner)
    if status == "fail" and ("NOT_IMPLEMENTED" in detail or "Could not find an implementation" in detail):
        return "unsupported"
    return status


def kernel_kind(op: str, opset: int) -> str:
    """'native', 'bridged' or '-' for the kernel the registry picks."""
    entry = registry.lookup("", op, opset)
    return "-" if entry is None else ("native" if entry.native else "bridged")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--failures", action="store_true", help="list every non-passing native case")
    args = parser.parse_args()
    cases = [c for c in node_suite.cases() if node_suite.in_scope(c.model, c.data)]
    native, ort = node_suite.native_runner(), ort_runner()
    table: dict[str, dict[str, collections.Counter]] = collections.defaultdict(
        lambda: {"native": collections.Counter(), "ort": collections.Counter()})
    kinds: dict[str, str] = {}
    failures = []
    for case in cases:
        status, detail = node_suite.run_case(case, native)
        table[case.op]["native"][status] += 1
        table[case.op]["ort"][ort_status(case, ort)] += 1
        opset = next(o.version for o in case.model.opset_import if o.domain in ("", "ai.onnx"))
        kinds[case.op] = kernel_kind(case.op, opset)
        if status != "pass":
            failures.append((case.op, case.name, status, detail))
    print(f"{'operator':28} {'kernel':8} {'native p/f/u':>14} {'ort p/f/u':>12}")
    totals = {"native": collections.Counter(), "ort": collections.Counter()}
    for op in sorted(table):
        row = table[op]
        cells = []
        for eng in ("native", "ort"):
            c = row[eng]
            totals[eng].update(c)
            cells.append(f"{c['pass']}/{c['fail']}/{c['unsupported']}")
        print(f"{op:28} {kinds[op]:8} {cells[0]:>14} {cells[1]:>12}")
    n = len(cases)
    for eng in ("native", "ort"):
        t = totals[eng]
        print(f"{eng}:cpu  pass {t['pass']}/{n} ({100 * t['pass'] / n:.1f}%)  fail {t['fail']}  "
              f"unsupported {t['unsupported']}")
    ops = collections.Counter(kinds.values())
    print(f"operators tested: {len(kinds)}  native kernels: {ops['native']}  bridged: {ops['bridged']}")
    if args.failures:
        known = node_suite.known_failures()
        for op, name, status, detail in failures:
            print(f"  {status:11} {op:22} {name}  {'[known] ' if name in known else ''}{detail[:100]}")


if __name__ == "__main__":
    main()
