"""``facade bench``: load time, conversion time, latency p50/p90 and peak memory per target.

Each target is measured in its own child process (``python -m facade.cli.measure``),
so one engine's memory or a crashing driver does not touch the next row. Peak
memory is the growth of the child's peak resident set size (``VmHWM`` in
/proc/self/status on Linux, else ``resource.getrusage(RUSAGE_SELF).ru_maxrss``,
which Linux carries over from the parent across exec) from just before the
session is created to after the last timed run: the engine library, the loaded
model and the largest activations, not Python and facade themselves.
"""

from __future__ import annotations

from pathlib import Path

from facade.cli import add_json_flag, fleet
from facade.cli.fleet import add_cluster_options
from facade.cli.measure import candidates, exit_status, latency_table, measure_rows
from facade.cli.options import add_targets_option, check_targets, split_list
from facade.cli.output import emit
from facade.devices import devices
from facade.model import load_model


def register(sub) -> None:
    p = sub.add_parser("bench", help="time a model on each target: load, conversion, p50/p90 latency, peak memory",
                       description=__doc__.split("\n\n", 1)[1])
    p.add_argument("model", help="path to an .onnx model")
    add_targets_option(p, "targets to measure (default: every candidate the router ranks here)")
    p.add_argument("--budget", type=float, default=2.0, help="seconds of timed runs per target (default 2)")
    p.add_argument("--plot", metavar="OUT.png|OUT.svg", help="also draw p50/p90 latency per target")
    p.add_argument("--precision", metavar="LIST",
                   help="fp32,fp16,int8: one row per target and precision, with the accuracy drop against fp32")
    p.add_argument("--calibration", metavar="DATA", help="samples for int8 and the held-out accuracy figures")
    add_cluster_options(p, "the measurements (one table per node)")
    add_json_flag(p)
    p.set_defaults(handler=cmd_bench)


def cmd_bench(args) -> int:
    # Everything that can be checked is checked before the first (slow) measurement.
    chosen = check_targets(split_list(args.targets))
    if args.plot:
        from facade.cli.plot import check_plot_path

        check_plot_path(Path(args.plot))
    model = load_model(args.model)
    if args.cluster:
        return fleet.bench(args, chosen, model.name)
    targets, refused = candidates(model, chosen)
    if args.precision is not None:  # latency and accuracy drop per target and precision
        from facade.cli import bench_precision

        return bench_precision.cmd(args, targets)
    rows = measure_rows(Path(args.model).resolve(), targets, args.budget) + refused
    data = {"model": model.name, "device_fingerprint": devices().fingerprint, "results": rows}
    if args.plot:
        from facade.cli.plot import plot_latency

        data["plot"] = str(plot_latency(rows, Path(args.plot), title=f"{model.name} on {devices().fingerprint}"))

    def text() -> str:
        plotted = ["", f"plot written to {data['plot']}"] if args.plot else []
        return "\n".join([f"model {model.name}", "", *latency_table(rows), *plotted])

    emit(args, data, text)
    return exit_status(rows)
