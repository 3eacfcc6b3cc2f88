"""The two executables of the SNPE SDK test double (see the package docstring): a stand-in, not SNPE."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import onnx

MAGIC = b"FACADE-TEST-DOUBLE-DLC/1 (not a Qualcomm DLC)\n"
RUNTIME_FLAGS = {"--use_gpu": "gpu", "--use_dsp": "dsp"}
VALUE_FLAGS = ("--container", "--input_list", "--output_dir")


class Refused(Exception):
    """A call the documented contract does not allow: the tool prints it and exits 1."""


def _fail(tool: str, message: str) -> int:
    print(f"{tool} (facade test double): error: {message}", file=sys.stderr)
    return 1


def onnx_to_dlc(argv: list[str]) -> int:
    """``snpe-onnx-to-dlc``: check the ONNX model has static input shapes, write the double's DLC."""
    parser = argparse.ArgumentParser(prog="snpe-onnx-to-dlc")
    parser.add_argument("--input_network", "-i", required=True)
    parser.add_argument("--output_path", "-o")
    args = parser.parse_args(argv)  # unknown flags: argparse exits 2, as the SDK's Python converter does
    src = Path(args.input_network)
    try:
        proto = onnx.load(src)
        onnx.checker.check_model(proto)
    except Exception as e:
        return _fail("snpe-onnx-to-dlc", f"cannot read ONNX model {src}: {e}")
    for spec in _graph_inputs(proto):
        if any(d <= 0 for d in spec[1]):
            return _fail("snpe-onnx-to-dlc", f"input {spec[0]!r} has a dynamic shape {spec[1]}; give -d")
    dest = Path(args.output_path) if args.output_path else src.with_suffix(".dlc")
    dest.write_bytes(MAGIC + proto.SerializeToString())
    print(f"INFO: Conversion completed successfully (test double): {dest}")
    return 0


def net_run(argv: list[str]) -> int:
    """``snpe-net-run``: validate the flags, the input list and every raw file; write Result_<i>/."""
    try:
        opts, runtime = _parse_net_run(argv)
        _log(argv, opts)
        present = os.environ.get("SNPE_DOUBLE_RUNTIMES", "cpu,gpu,dsp").split(",")
        if runtime not in present:
            raise Refused(f"the {runtime.upper()} runtime is not present on this device")
        proto = _read_dlc(Path(opts["--container"]))
        inputs = dict(_graph_inputs(proto))
        outputs, lines = _read_input_list(Path(opts["--input_list"]), proto)
        import onnxruntime as ort

        sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
        out_dir = Path(opts.get("--output_dir", "output"))
        for i, pairs in enumerate(lines):
            feeds = {name: _read_raw(Path(path), name, inputs[name]) for name, path in pairs.items()}
            for name, value in zip(outputs, sess.run(outputs, feeds), strict=True):
                dest = Path(f"{out_dir}/Result_{i}/{name}.raw")  # joined as strings: "/" nests
                dest.parent.mkdir(parents=True, exist_ok=True)
                _to_snpe(np.asarray(value, dtype=np.float32)).astype("<f4").tofile(dest)
    except Refused as e:
        return _fail("snpe-net-run", str(e))
    return 0


def _parse_net_run(argv: list[str]) -> tuple[dict[str, str], str]:
    opts: dict[str, str] = {}
    runtime = "cpu"
    it = iter(argv)
    for arg in it:
        flag, eq, value = arg.partition("=")
        if flag in VALUE_FLAGS:
            value = value if eq else next(it, None)
            if not value:
                raise Refused(f"option {flag} needs a value")
            opts[flag] = value
        elif arg in RUNTIME_FLAGS:
            if runtime != "cpu":
                raise Refused("more than one runtime flag given")
            runtime = RUNTIME_FLAGS[arg]
        else:
            raise Refused(f"unknown option {arg!r}")
    for required in ("--container", "--input_list"):
        if required not in opts:
            raise Refused(f"missing required argument {required}")
    return opts, runtime


def _log(argv: list[str], opts: dict[str, str]) -> None:
    """Record the call for the contract tests: argv, the input list's lines, each listed file's bytes."""
    path = os.environ.get("SNPE_DOUBLE_LOG")
    if not path:
        return
    listing = Path(opts["--input_list"])
    lines = [ln for ln in listing.read_text().splitlines() if ln.strip()] if listing.is_file() else []
    files = {tok.partition(":=")[2] or tok for ln in lines if ln[0] not in "#%" for tok in ln.split()}
    inputs = {f: Path(f).read_bytes().hex() for f in files if Path(f).is_file() and Path(f).stat().st_size < 1 << 20}
    with open(path, "a") as f:
        f.write(json.dumps({"argv": argv, "input_list": lines, "inputs": inputs}) + "\n")


def _read_dlc(path: Path) -> onnx.ModelProto:
    if not path.is_file():
        raise Refused(f"container {path} does not exist")
    blob = path.read_bytes()
    if not blob.startswith(MAGIC):
        raise Refused(f"{path} is not a DLC written by the double's snpe-onnx-to-dlc")
    return onnx.load_from_string(blob[len(MAGIC):])


def _graph_inputs(proto: onnx.ModelProto) -> list[tuple[str, tuple[int, ...]]]:
    inits = {t.name for t in proto.graph.initializer}
    return [(vi.name, tuple(d.dim_value if d.HasField("dim_value") else -1 for d in vi.type.tensor_type.shape.dim))
            for vi in proto.graph.input if vi.name not in inits]


def _read_input_list(path: Path, proto: onnx.ModelProto) -> tuple[list[str], list[dict[str, str]]]:
    """The outputs to write and, per inference, input name -> raw file path."""
    if not path.is_file():
        raise Refused(f"input list {path} does not exist")
    names = [n for n, _ in _graph_inputs(proto)]
    outputs = [o.name for o in proto.graph.output]
    lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    if lines and lines[0][0] in "#%":
        wanted = lines.pop(0)[1:].split()
        unknown = sorted(set(wanted) - set(outputs))
        if unknown:
            raise Refused(f"input list names outputs the network lacks: {unknown}")
        outputs = wanted
    if not lines:
        raise Refused(f"input list {path} lists no inputs")
    parsed = []
    for n, line in enumerate(lines, 1):
        tokens = line.split()
        if len(tokens) == 1 and ":=" not in tokens[0] and len(names) == 1:
            parsed.append({names[0]: tokens[0]})
            continue
        pairs: dict[str, str] = {}
        for token in tokens:
            name, sep, file = token.partition(":=")
            if not sep or not name or not file:
                raise Refused(f"input list line {n}: {token!r} is not <input name>:=<path>")
            if name in pairs:
                raise Refused(f"input list line {n}: input {name!r} given twice")
            pairs[name] = file
        if set(pairs) != set(names):
            raise Refused(f"input list line {n}: inputs {sorted(pairs)} do not match the network's {sorted(names)}")
        parsed.append(pairs)
    return outputs, parsed


def _read_raw(path: Path, name: str, shape: tuple[int, ...]) -> np.ndarray:
    if not path.is_file():
        raise Refused(f"input file {path} for {name!r} does not exist")
    snpe_shape = _snpe_shape(shape)
    want = int(np.prod(snpe_shape)) * 4
    got = path.stat().st_size
    if got != want:
        raise Refused(f"input file {path} for {name!r} has {got} bytes; float32 {list(snpe_shape)} needs {want}")
    arr = np.fromfile(path, dtype="<f4").reshape(snpe_shape)
    return arr.transpose(0, 3, 1, 2) if arr.ndim == 4 else arr  # the DLC's NHWC -> the ONNX graph's NCHW


def _snpe_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (shape[0], shape[2], shape[3], shape[1]) if len(shape) == 4 else shape


def _to_snpe(arr: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(arr.transpose(0, 2, 3, 1)) if arr.ndim == 4 else arr
