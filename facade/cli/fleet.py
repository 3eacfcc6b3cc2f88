"""``--cluster`` and ``--nodes`` for ``facade conformance run`` and ``facade bench``: the same job on every Ray node.

Ray is imported only when ``--cluster`` is given (:mod:`facade.conformance.fleet`), so the
core install stays light; without Ray the option says which pip line installs it.
"""

from __future__ import annotations

from pathlib import Path

from facade.cli.options import split_list
from facade.cli.output import emit


def add_cluster_options(parser, what: str) -> None:
    """``--cluster ADDRESS`` and ``--nodes PATTERNS`` on ``parser``; ``what`` says what each node runs."""
    parser.add_argument("--cluster", metavar="ADDRESS",
                        help=f"run {what} on every node of a Ray cluster: auto, HOST:PORT or ray://HOST:PORT "
                             "(needs pip install 'facade-runtime[fleet]')")
    parser.add_argument("--nodes", metavar="PATTERNS",
                        help="with --cluster: only nodes whose label (facade.label), node id, host name or "
                             "fingerprint matches one of these comma-separated globs or prefixes")


def conformance(args, columns, cases, skipped: dict[str, str], tolerances) -> int:
    """``facade conformance run --cluster``: one run per node in the report; exit 1 when a case was lost."""
    from facade.conformance.fleet import run_fleet
    from facade.conformance.markdown import to_markdown

    done = run_fleet(args.cluster, columns, cases, skipped, out=Path(args.out), tolerances=tolerances,
                     timeout=args.timeout, seed=args.seed, nodes=split_list(args.nodes),
                     progress=not args.no_progress, fingerprint=args.fingerprint)
    lost = [{"node": r["device"]["node"]["label"], **x} for r in done.report.runs for x in r["lost"]]
    data = {"report": str(Path(args.out)), "cases": len(cases), "nodes": done.nodes, "retried": done.retried,
            "lost": lost, "unreachable": done.unreachable, "passed": bool(done.report) and not lost}

    def text() -> str:
        lines = [to_markdown(done.report), "nodes:"]
        lines += [f"  {n['label']} ({n['id'][:12]}, host {n['host']}, fingerprint {n['fingerprint']}): "
                  f"{n['cases']} case(s), {n['state']}" for n in done.nodes]
        lines += [f"  {u['label']} ({u['id'][:12]}): did not take part: {u['reason']}" for u in done.unreachable]
        lines += [f"retried: {r['case']} (from {r['from']}: {r['reason']})" for r in done.retried]
        lines += [f"lost: {x['node']} {x['id']}: {x['reason']}" for x in lost]
        return "\n".join([*lines, f"report: {data['report']}"])

    emit(args, data, text)
    return 1 if lost else 0
