"""``facade convert`` and ``facade cache``: converting models ahead of time, and the artifact cache."""

from __future__ import annotations

import shutil
from pathlib import Path

from facade.cli import add_json_flag
from facade.cli.output import emit
from facade.convert import BY_FORMAT, cache, get_converter
from facade.convert.verify import describe
from facade.model import load_model
from facade.tables import format_table


def register(sub) -> None:
    p = sub.add_parser("convert", help="convert an ONNX model to an engine's format (cached)")
    p.add_argument("model", help="path to an .onnx file")
    p.add_argument("--to", required=True, choices=list(BY_FORMAT),
                   help="target format: ncnn (pnnx), mnn, tflite (onnx2tf), coreml, dlc (SNPE)")
    p.add_argument("--precision", default="fp32", choices=["fp32", "fp16"], help="artifact precision")
    p.add_argument("--out", type=Path, help="also copy the artifact's files into this directory")
    add_json_flag(p)
    p.set_defaults(handler=cmd_convert)
    p = sub.add_parser("cache", help="list or clear converted artifacts")
    p.add_argument("action", choices=["ls", "clear"])
    add_json_flag(p)
    p.set_defaults(handler=cmd_cache)


def cmd_convert(args) -> int:
    model = load_model(args.model)
    converter = get_converter(BY_FORMAT[args.to])
    options = converter.options_for(args.precision)
    was_cached = cache.lookup(model, converter, options) is not None
    artifact = cache.obtain(model, converter, options)
    files = [artifact.main]
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        files = []
        for name in artifact.manifest["files"]:
            dest = args.out / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(artifact.path / name, dest)  # not copy2: the cache's 0600 is not for people
            files.append(dest)
    data = {"model": model.name, "format": args.to, "converter": converter.name,
            "version": artifact.manifest["version"], "key": artifact.key, "cached": was_cached,
            "seconds": artifact.manifest.get("seconds"), "artifact": str(artifact.main),
            "files": [str(f) for f in files],
            "verification": "; ".join(f"{t}: {describe(v)}" for t, v in artifact.verdicts.items())
            or converter.unverified_reason()}
    emit(args, data, lambda: "\n".join([
        f"{model.name} -> {args.to} with {converter.name} ({data['version']})"
        f"{' (from cache)' if was_cached else ''}", data["verification"], *(str(f) for f in files)]))
    return 0


def cmd_cache(args) -> int:
    if args.action == "clear":
        removed = cache.clear()
        emit(args, {"removed": removed}, lambda: f"removed {removed} cached artifact(s) from {cache.root()}")
        return 0
    rows = [{"key": a.key[:12], "model": a.manifest.get("model"), "converter": a.manifest.get("converter"),
             "version": a.manifest.get("version"), "status": a.manifest.get("status"),
             "verdicts": {t: v["ok"] for t, v in a.verdicts.items()}, "path": str(a.path)}
            for a in cache.entries()]
    emit(args, {"root": str(cache.root()), "entries": rows}, lambda: "\n".join(
        [f"cache: {cache.root()}", "", *format_table(
            ("key", "model", "converter", "status", "verified"),
            [(r["key"], str(r["model"]), r["converter"], r["status"],
              ", ".join(f"{t} {'ok' if ok else 'DIVERGED'}" for t, ok in r["verdicts"].items()) or "-")
             for r in rows])]))
    return 0
