"""``facade conformance run|merge|diff|show``: every model on every target, in one report."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from facade.cli import add_json_flag, fleet
from facade.cli.fleet import add_cluster_options
from facade.cli.options import add_targets_option, check_output_file, check_targets, split_list
from facade.cli.output import emit
from facade.errors import InputError, format_message


def register(sub) -> None:
    p = sub.add_parser("conformance", help="check that every target gives the oracle's answer; reports")
    cmds = p.add_subparsers(dest="conformance_command", metavar="SUBCOMMAND", required=True)

    r = cmds.add_parser("run", help="run models and suites across targets, write a JSON report")
    r.add_argument("models", nargs="*", help=".onnx files (inputs from <stem>.npz or <stem>.npy beside, else seeded), "
                                             "or suite names as for --suite")
    r.add_argument("--suite", action="append", default=[],
                   help="builtin, light, onnx-node or all (repeat or comma-separate; default builtin without models)")
    add_targets_option(r, "all, or targets with optional @precision (ncnn:cpu@fp16)", default="all")
    r.add_argument("--precision", default="fp32", help="precision asked of targets without @precision")
    r.add_argument("--calibration", metavar="DATA",
                   help="samples for @int8 columns (see facade quantize): each engine's int8 artifact from them")
    r.add_argument("--filter", help="only case ids matching this glob, e.g. 'onnx-node/test_conv*'")
    r.add_argument("--seed", type=int, default=0, help="seed of generated inputs and weights (replayable)")
    r.add_argument("--timeout", type=float, default=120.0, help="seconds one case may take on one target")
    r.add_argument("--tolerances", help="JSON file of per-model/per-target tolerance overrides")
    r.add_argument("--fingerprint", help="record this device fingerprint instead of the detected one "
                                         "(also $FACADE_CONFORMANCE_FINGERPRINT)")
    r.add_argument("--out", default="conformance.json", help="report path (default conformance.json)")
    r.add_argument("--no-store", action="store_true", help="do not keep verdicts in the cache for the router")
    r.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    add_cluster_options(r, "the cases")
    add_json_flag(r)
    r.set_defaults(handler=cmd_run)

    m = cmds.add_parser("merge", help="join reports from several devices into one")
    m.add_argument("reports", nargs="+")
    m.add_argument("--out", required=True)
    add_json_flag(m)
    m.set_defaults(handler=cmd_merge)

    d = cmds.add_parser("diff", help="verdicts that got worse (exit status 1) or better between two reports")
    d.add_argument("old")
    d.add_argument("new")
    add_json_flag(d)
    d.set_defaults(handler=cmd_diff)

    s = cmds.add_parser("show", help="a report as Markdown (default) or a self-contained HTML page")
    s.add_argument("report")
    s.add_argument("--html", metavar="OUT.html", help="write the HTML page here")
    s.add_argument("--markdown", action="store_true", help="print the Markdown summary (default without --html)")
    add_json_flag(s)
    s.set_defaults(handler=cmd_show)


def _suites(values: list[str], has_models: bool) -> list[str]:
    from facade.conformance.cases import SUITES

    names = [n.strip() for v in values for n in v.split(",") if n.strip()]
    if "all" in names:
        return list(SUITES)
    return names or ([] if has_models else ["builtin"])


def cmd_run(args) -> int:
    from facade.conformance import cases, gate, runner
    from facade.conformance.markdown import to_markdown
    from facade.tolerances import CLASSES, Tolerances, load_overrides

    if args.precision not in CLASSES:
        raise InputError(format_message("Unknown precision", where="--precision", received=args.precision,
                                        expected=CLASSES))
    # Checked before the run (minutes): the target names and the report's folder.
    targets = check_targets(split_list(args.targets) or ["all"])
    check_output_file(args.out, "--out")
    skipped: dict[str, str] = {}
    # "facade conformance run builtin": a suite's name where no such file exists is that suite.
    named = [m for m in args.models if m in cases.SUITES and not Path(m).exists()]
    models = [m for m in args.models if m not in named]
    found = cases.collect(models, _suites(args.suite + named, bool(models)), seed=args.seed,
                          pattern=args.filter, skipped=skipped)
    tolerances = load_overrides(args.tolerances) if args.tolerances else Tolerances()
    if args.cluster:  # stores nothing in this host's cache: the verdicts are of other devices
        return fleet.conformance(args, runner.parse_columns(targets, args.precision), found, skipped, tolerances)
    started = time.perf_counter()
    report = runner.Runner(runner.parse_columns(targets, args.precision), tolerances=tolerances,
                           timeout=args.timeout, progress=not args.no_progress, fingerprint=args.fingerprint,
                           seed=args.seed, calibration=args.calibration).run(found, skipped)
    path = report.save(args.out)
    if not args.no_store:
        gate.store(report)
    data = {"report": str(path), "cases": len(found), "wall_s": time.perf_counter() - started,
            "passed": bool(report)}
    emit(args, data, lambda: to_markdown(report) + f"\nreport: {path} ({data['wall_s']:.1f} s)")
    return 0


def cmd_merge(args) -> int:
    from facade.conformance.report import Report, merge

    check_output_file(args.out, "--out")
    merged = merge([Report.load(p) for p in args.reports])
    path = merged.save(args.out)
    data = {"report": str(path), "devices": [r["device"]["fingerprint"] for r in merged.runs]}
    emit(args, data, lambda: f"merged {len(args.reports)} reports ({len(merged.runs)} devices) into {path}")
    return 0


def cmd_diff(args) -> int:
    from facade.conformance.report import Report, diff

    found = diff(Report.load(args.old), Report.load(args.new))

    def text() -> str:
        lines = [f"{len(found['regressions'])} regression(s), {len(found['improvements'])} improvement(s)"]
        for kind in ("regressions", "improvements"):
            lines += [f"{kind[:-1]}: {r['device']} {r['case']} {r['target']}@{r['precision']}: "
                      f"{r['old']} -> {r['new']}" for r in found[kind]]
        return "\n".join(lines)

    emit(args, found, text)
    return 1 if found["regressions"] else 0


def cmd_show(args) -> int:
    from facade.cache import atomic_write
    from facade.conformance.html import to_html
    from facade.conformance.markdown import to_markdown
    from facade.conformance.report import Report

    if args.html:
        check_output_file(args.html, "--html")
    report = Report.load(args.report)
    html = str(atomic_write(Path(args.html), to_html(report).encode(), shared=True)) if args.html else None
    markdown = to_markdown(report)
    if getattr(args, "json", False):
        emit(args, {"report": args.report, "passed": bool(report), "html": html, "markdown": markdown}, str)
        return 0
    if html:
        print(f"wrote {html}", file=sys.stderr)
    if args.markdown or not html:
        sys.stdout.write(markdown)
    return 0
