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


def _bench_here(model: bytes, chosen: list[str], budget_s: float, fingerprint: str | None) -> dict:
    """On the node (a Ray task): the model measured on this node's targets, as ``facade bench`` does here."""
    import socket
    import tempfile

    from facade.cli.measure import candidates, measure_rows
    from facade.devices import devices
    from facade.model import load_model

    with tempfile.TemporaryDirectory(prefix="facade-fleet-bench-") as tmp:
        path = Path(tmp, "model.onnx")
        path.write_bytes(model)
        targets, refused = candidates(load_model(path), chosen)
        rows = measure_rows(path, targets, budget_s, progress=False) + refused
    return {"host": socket.gethostname(), "device_fingerprint": fingerprint or devices().fingerprint,
            "results": rows}


def bench(args, chosen: list[str], model_name: str) -> int:
    """``facade bench --cluster``: every selected node measures the model on its own targets; a table per node."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from facade.cli.measure import exit_status, latency_table
    from facade.conformance.fleet import FleetError, alive_nodes, connect, selected
    from facade.errors import format_message
    from facade.progress import Progress

    if args.precision is not None or args.plot:
        raise FleetError(format_message("--cluster measures fp32 latency tables", where="--cluster",
                                        received="--precision" if args.precision is not None else "--plot",
                                        expected="bench --cluster without --precision and --plot"))
    model = Path(args.model).read_bytes()
    ray = connect(args.cluster)
    try:
        nodes = [n for n in alive_nodes(ray) if selected(n.names(), split_list(args.nodes))]
        if not nodes:
            raise FleetError(format_message("No alive node matches --nodes", where="--cluster",
                                            received=args.nodes, expected="a label, node id, host or fingerprint"))
        task = ray.remote(_bench_here)
        pending = {task.options(num_cpus=0, max_retries=0, scheduling_strategy=NodeAffinitySchedulingStrategy(
            n.id, soft=False)).remote(model, chosen, args.budget, n.fingerprint): n for n in nodes}
        tables, unreachable = [], []
        with Progress(len(pending), enabled=not getattr(args, "no_progress", False)) as bar:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                node = pending.pop(ready[0])
                try:
                    tables.append({"label": node.label, "id": node.id, **ray.get(ready[0])})
                except ray.exceptions.RayError as e:
                    unreachable.append({"label": node.label, "id": node.id, "reason": str(e).splitlines()[-1]})
                bar.step(f"{node.label}: " + ("done" if tables and tables[-1]["id"] == node.id else "failed"))
    finally:
        ray.shutdown()
    order = {n.id: k for k, n in enumerate(nodes)}
    tables.sort(key=lambda t: order[t["id"]])
    data = {"model": model_name, "nodes": tables, "unreachable": unreachable}

    def text() -> str:
        lines = [f"model {model_name}"]
        for t in tables:
            lines += ["", f"node {t['label']} ({t['id'][:12]}, host {t['host']}, "
                          f"fingerprint {t['device_fingerprint']})", *latency_table(t["results"])]
        lines += [f"node {u['label']} ({u['id'][:12]}): not measured: {u['reason']}" for u in unreachable]
        return "\n".join(lines)

    emit(args, data, text)
    return max([exit_status(t["results"]) for t in tables] + [1 if unreachable or not tables else 0])
