"""``facade run`` and ``facade explain``: run a model where facade routes it, and say why."""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np

from facade import benchmark
from facade.cli import add_json_flag
from facade.cli.output import emit, summarize
from facade.errors import InputError, format_message
from facade.inputs import seeded_feeds
from facade.session import Session
from facade.tables import format_table
from facade.tolerances import PRECISIONS


def _session_args(p) -> None:
    p.add_argument("model", help="path to an .onnx model (or an engine's native artifact)")
    p.add_argument("--target", help="force a target, e.g. onnxruntime:cpu")
    p.add_argument("--threads", type=int, help="intra-op threads")
    p.add_argument("--policy", metavar="FILE", help="ops policy file (default: FACADE_POLICY, project, user config)")
    p.add_argument("--precision", default="fp32", choices=PRECISIONS,
                   help="lowest precision allowed (default fp32)")
    add_json_flag(p)


def register(sub) -> None:
    p = sub.add_parser("run", help="run a model and print its outputs")
    _session_args(p)
    p.add_argument("--input", action="append", default=[], metavar="NAME=FILE.npy",
                   help="an input array; inputs not given are seeded random (seed 0)")
    p.add_argument("--save", metavar="DIR", help="save each output as DIR/<name>.npy")
    p.add_argument("--repeat", type=int, default=1, help="run N times and report the median latency")
    p.set_defaults(handler=cmd_run)
    p = sub.add_parser("explain", help="show every candidate target and why it won or lost")
    _session_args(p)
    p.set_defaults(handler=cmd_explain)


def open_session(args) -> Session:
    return Session(args.model, target=args.target, threads=args.threads, precision=args.precision,
                   policy=args.policy)


def _read_inputs(pairs: list[str], sess: Session) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The feeds for one run and, by input name, the file each ``--input`` came from.

    Inputs not passed are filled with seeded random values; an error names which inputs the
    user passed and which the CLI filled, so "Received" never lists a name the user did not type.
    """
    given: dict[str, str] = {}
    for pair in pairs:
        name, sep, file = pair.partition("=")
        if not sep:
            raise InputError(format_message("Bad --input", received=repr(pair), expected="NAME=FILE.npy"))
        given[name] = file
    names = [spec.name for spec in sess.inputs]
    unknown = [n for n in given if n not in names]
    if unknown:
        raise InputError(format_message(
            f"The model has no input named {unknown[0]!r}", where=f"--input {unknown[0]}={given[unknown[0]]}",
            received=f"--input for {list(given)}", expected=f"names among the model's inputs {names}",
            hint="Inputs not passed are filled with seeded random values"))
    feeds = seeded_feeds(sess.inputs)
    for name, file in given.items():
        try:
            feeds[name] = np.load(file, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise InputError(format_message(f"Could not read input file for {name!r}", where=file,
                                            received=str(e), expected="a .npy file")) from e
    return feeds, given


def provenance(given: dict[str, str], names: list[str]) -> str:
    """Which inputs came from the user's files and which the CLI filled, for an error message."""
    passed = ", ".join(f"{n} from {f}" for n, f in given.items()) or "none"
    filled = ", ".join(n for n in names if n not in given) or "none"
    return f"Passed with --input: {passed}; filled with seeded random values: {filled}"


def inputs_note(filled: list[str]) -> str:
    """Said whenever the CLI made up inputs, so nobody reads outputs of random data as their own."""
    return (f"inputs {', '.join(filled)}: seeded random values (seed 0); "
            f"pass --input {filled[0]}=FILE.npy to use your own")


def repeated(sess: Session, feeds: dict, repeat: int) -> tuple[dict, list[float]]:
    """Run ``repeat`` times, none of them a hidden warm-up; return the last outputs and every latency in ms."""
    out: dict = {}
    runs = max(1, repeat)
    times = benchmark.time_runs(sess, feeds, 0.0, warmup=0, warmup_s=0.0, min_runs=runs, max_runs=runs, outputs=out)
    return out, times


def cmd_run(args) -> int:
    with open_session(args) as sess:
        feeds, given = _read_inputs(args.input, sess)
        try:
            out, times = repeated(sess, feeds, args.repeat)
        except InputError as e:
            raise InputError(f"{e} {provenance(given, [s.name for s in sess.inputs])}.") from e
        if args.save:
            Path(args.save).mkdir(parents=True, exist_ok=True)
            for name, arr in out.items():
                np.save(Path(args.save) / f"{name.replace('/', '_')}.npy", arr)
        names = [s.name for s in sess.inputs]
        filled = [n for n in names if n not in given]
        data = {"model": sess.model.name, "target": sess.target, "precision": sess.precision,
                "latency_ms": statistics.median(times), "inputs": {"given": given, "random": filled},
                "outputs": {k: summarize(v) for k, v in out.items()}}
        rows = [(k, v["shape"], v["dtype"], *(f"{v[s]:.4g}" if v[s] is not None else "-" for s in ("min", "max", "mean")))
                for k, v in data["outputs"].items()]
        emit(args, data, lambda: "\n".join([
            f"target {sess.target} ({sess.precision}), median latency {data['latency_ms']:.3f} ms",
            *([inputs_note(filled)] if filled else []), "",
            *format_table(("output", "shape", "dtype", "min", "max", "mean"), rows)]))
    return 0


def cmd_explain(args) -> int:
    with open_session(args) as sess:
        trace = sess.explain()
        emit(args, trace.to_dict(), lambda: str(trace))
    return 0
