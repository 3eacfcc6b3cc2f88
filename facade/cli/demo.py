"""``facade demo``: the built-in MobileNetV2-shaped model, routed, run, explained and cross-checked."""

from __future__ import annotations

import statistics

from facade.cli import add_json_flag
from facade.cli.output import emit
from facade.cli.run import repeated
from facade.errors import FacadeError
from facade.inputs import seeded_feeds
from facade.metrics import relative_max_error
from facade.session import Session
from facade.zoo import model_path


def register(sub) -> None:
    p = sub.add_parser("demo", help="build a MobileNetV2-shaped model, route it, run it, explain it")
    p.add_argument("--repeat", type=int, default=20, help="timed runs for the median latency")
    add_json_flag(p)
    p.set_defaults(handler=cmd_demo)


def cmd_demo(args) -> int:
    path = model_path("mobilenet_v2")
    with Session(path) as sess:
        feeds = seeded_feeds(sess.inputs)
        sess.run(feeds)  # warm-up
        out, times = repeated(sess, feeds, args.repeat)
        trace = sess.explain()
        data = {"model": str(path), "target": sess.target, "precision": sess.precision,
                "latency_ms_median": statistics.median(times), "explain": trace.to_dict()}
    try:
        with Session(path, target="native:cpu") as native:
            reference = native.run(feeds)
        data["agreement_with_native"] = {k: relative_max_error(out[k], reference[k]) for k in out}
    except FacadeError as e:
        data["agreement_with_native"] = f"native:cpu could not run the model: {e}"

    def text() -> str:
        agree = data["agreement_with_native"]
        agree_text = agree if isinstance(agree, str) else ", ".join(
            f"{k}: max abs err / max abs = {v:.2e}" for k, v in agree.items())
        return "\n".join([
            f"model    {path}",
            f"target   {data['target']} ({data['precision']})",
            f"latency  {data['latency_ms_median']:.2f} ms (median of {args.repeat})",
            f"agrees with native:cpu  {agree_text}",
            "",
            str(trace),
        ])

    emit(args, data, text)
    return 0
