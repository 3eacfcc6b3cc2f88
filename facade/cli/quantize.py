"""``facade quantize``: a QDQ model made here with calibration data, and its accuracy against fp32."""

from __future__ import annotations

import shutil
from pathlib import Path

from facade.cli import add_json_flag
from facade.cli.output import emit
from facade.quantization import ACTIVATIONS, CONFIGS, SCHEMES, quantize


def register(sub) -> None:
    p = sub.add_parser("quantize", help="quantize an ONNX model to int8 QDQ with calibration data (cached)",
                       description="Post-training quantization with onnxruntime.quantization. The last samples "
                                   "of DATA are held out: the printed cosine, max relative error and top-1 "
                                   "agreement against the fp32 model are measured on them.")
    p.add_argument("model", help="path to an .onnx model")
    p.add_argument("--calibration", required=True, metavar="DATA",
                   help="an .npz with one array per input name (samples stacked), or a folder of .npz/.npy files")
    p.add_argument("--out", type=Path, help="also copy the QDQ model to this path")
    p.add_argument("--scheme", default="static", choices=SCHEMES, help="static (calibrated, default) or dynamic")
    p.add_argument("--activations", default="uint8", choices=ACTIVATIONS, help="activation type (static)")
    p.add_argument("--per-channel", action="store_true", help="per-channel weight scales")
    p.add_argument("--config", default="onnxruntime", choices=CONFIGS,
                   help="QDQ recipe: onnxruntime (CPU) or qnn (QNN HTP's get_qnn_qdq_config)")
    add_json_flag(p)
    p.set_defaults(handler=cmd_quantize)


def cmd_quantize(args) -> int:
    q = quantize(args.model, args.calibration, scheme=args.scheme, activations=args.activations,
                 per_channel=args.per_channel, config=args.config)
    path = q.path
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(q.path, args.out)  # not copy2: the cache's 0600 is not for people
        path = args.out
    data = {"model": args.model, "quantized": str(path), "cached": q.cached, "options": q.options,
            "key": q.artifact.key, "accuracy": q.accuracy.to_dict(), "calibration": q.artifact.io["calibration"]}
    emit(args, data, lambda: "\n".join([
        f"{args.model} -> int8 QDQ ({args.scheme}, {args.activations} activations"
        f"{', per channel' if args.per_channel else ''}, {args.config}){' (from cache)' if q.cached else ''}",
        f"accuracy: {q.accuracy.describe()}", str(path)]))
    return 0
