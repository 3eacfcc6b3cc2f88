"""The bad-input corpus: hundreds of malformed models and feeds, each run on every target in a child process.

    nice python benchmarks/bad_inputs.py [--targets onnxruntime:cpu,native:cpu] [--families F ...]
                                         [--limit N] [--timeout S] [--json]

Every case is a model file (written into its own folder, so external-data cases can
point at neighbours) and feeds. Each target runs the cases in one
``facade.conformance.worker`` child (the conformance runner's column process,
``facade.conformance.child.ColumnProcess``): an abort or a hang costs one case, the
child is restarted. Outcomes per case and target:

- ``facade``: a ``facade.FacadeError`` said why (what the README promises);
- ``raw``: some other exception reached the caller (or the router had to wrap an
  engine's own exception at load), a defect;
- ``crash`` / ``hang``: the child died by a signal or exceeded the timeout, a defect;
- ``accepted``: it ran and returned. For an *invalid* case (a model the ONNX spec
  refuses, or a feed that contradicts the model) that is a defect: ``defect`` counts it.

Valid-but-unusual feeds (NaN, inf, non-contiguous views) may be accepted or refused.
``tests/facade/test_bad_input.py`` runs a fast subset in-process through
:func:`run_in_process`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUTCOMES = ("facade", "raw", "crash", "hang", "accepted")
F = TensorProto.FLOAT


@dataclass(frozen=True)
class Case:
    """One bad input: ``build(folder)`` writes the model there and returns its path and the feeds.

    ``invalid``: accepting it (running and returning numbers) is a defect. ``strided``:
    the feeds are given as non-contiguous views.
    """

    name: str
    family: str
    build: Callable[[Path], tuple[Path, dict[str, object]]]
    invalid: bool = True
    strided: bool = False


# ---------------------------------------------------------------- model builders


def _model(nodes, inputs, outputs, inits=(), opset: int = 17) -> onnx.ModelProto:
    graph = helper.make_graph(list(nodes), "bad", list(inputs), list(outputs), list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _w(shape, dtype=np.float32, seed: int = 0, name: str = "W") -> TensorProto:
    rng = np.random.default_rng(seed)
    return numpy_helper.from_array((rng.standard_normal(shape) * 0.1).astype(dtype), name)


def conv_model(*, kernel=None, group=1, w_shape=(4, 3, 3, 3), w_dtype=np.float32, out_dims=(1, 4, 8, 8),
               in_dims=(1, 3, 8, 8), opset=17, in_type=F) -> onnx.ModelProto:
    """x -> Conv(W, pads 1) -> Relu -> y; every argument can contradict the others."""
    attrs = {"pads": [1, 1, 1, 1], "group": group}
    if kernel is not None:
        attrs["kernel_shape"] = list(kernel)
    nodes = [helper.make_node("Conv", ["x", "W"], ["c"], name="conv0", **attrs),
             helper.make_node("Relu", ["c"], ["y"], name="relu0")]
    return _model(nodes, [helper.make_tensor_value_info("x", in_type, list(in_dims))],
                  [helper.make_tensor_value_info("y", F, list(out_dims) if out_dims is not None else None)],
                  [_w(w_shape, w_dtype)], opset)


def unary_model(op: str, dims, out_dims=None, elem=F, opset=17, **attrs) -> onnx.ModelProto:
    """x -> op -> y with declared shapes ``dims`` / ``out_dims``."""
    return _model([helper.make_node(op, ["x"], ["y"], name=f"{op.lower()}0", **attrs)],
                  [helper.make_tensor_value_info("x", elem, list(dims))],
                  [helper.make_tensor_value_info("y", elem, list(out_dims) if out_dims is not None else None)],
                  opset=opset)


def matmul_model() -> onnx.ModelProto:
    """a[2,3] @ B[3,4] + C -> y[2,4]: the valid model of the feed cases."""
    nodes = [helper.make_node("MatMul", ["a", "B"], ["m"], name="mm0"),
             helper.make_node("Add", ["m", "C"], ["y"], name="add0")]
    return _model(nodes, [helper.make_tensor_value_info("a", F, [2, 3])],
                  [helper.make_tensor_value_info("y", F, [2, 4])], [_w((3, 4), name="B"), _w((4,), seed=1, name="C")])


def int_model() -> onnx.ModelProto:
    """i int32[3] + 1 -> o: a non-float input for dtype cases."""
    one = numpy_helper.from_array(np.ones(3, np.int32), "one")
    return _model([helper.make_node("Add", ["i", "one"], ["o"], name="add0")],
                  [helper.make_tensor_value_info("i", TensorProto.INT32, [3])],
                  [helper.make_tensor_value_info("o", TensorProto.INT32, [3])], [one])


def _feeds(proto: onnx.ModelProto) -> dict[str, object]:
    """Small seeded feeds for the graph inputs, dynamic dims as 1, huge dims as 1 (never allocated)."""
    inits = {i.name for i in proto.graph.initializer}
    rng = np.random.default_rng(0)
    out = {}
    for vi in proto.graph.input:
        if vi.name in inits or not vi.type.HasField("tensor_type"):
            continue
        dims = [d.dim_value if d.HasField("dim_value") and 0 <= d.dim_value < 4096 else 1
                for d in vi.type.tensor_type.shape.dim]
        try:
            dtype = helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type)
        except (KeyError, TypeError, ValueError):
            dtype = np.dtype(np.float32)
        out[vi.name] = (np.array(["a"] * int(np.prod(dims)), dtype=object).reshape(dims)
                        if dtype.kind == "O" else rng.standard_normal(dims).astype(dtype))
    return out


def _saved(make: Callable[[], onnx.ModelProto], feeds: Callable[[onnx.ModelProto], dict] | None = None,
           extra: Callable[[Path], None] | None = None):
    """A ``Case.build`` that saves ``make()`` as model.onnx (unchecked) and feeds it ``feeds`` (default: valid)."""

    def build(folder: Path) -> tuple[Path, dict[str, object]]:
        proto = make()
        path = folder / "model.onnx"
        path.write_bytes(proto.SerializeToString())
        if extra is not None:
            extra(folder)
        return path, (feeds or _feeds)(proto)

    return build


def _raw(data: Callable[[], bytes], suffix: str = ".onnx"):
    def build(folder: Path) -> tuple[Path, dict[str, object]]:
        path = folder / f"model{suffix}"
        path.write_bytes(data())
        return path, {"x": np.zeros((1, 3, 8, 8), np.float32)}

    return build


# ---------------------------------------------------------------- families


def _files() -> Iterator[Case]:
    whole = conv_model().SerializeToString()
    for k in range(48):
        cut = max(1, len(whole) * (k + 1) // 50)
        yield Case(f"truncated_{cut}of{len(whole)}", "files", _raw(lambda c=cut: whole[:c]))
    for seed in range(40):
        size = [1, 7, 64, 512, 4096][seed % 5]
        yield Case(f"garbage_{seed}_{size}B", "files",
                   _raw(lambda s=seed, n=size: np.random.default_rng(s).integers(0, 256, n, np.uint8).tobytes()))
    for seed in range(10):  # a valid model with bytes flipped in its middle
        def flipped(s=seed):
            b = bytearray(whole)
            rng = np.random.default_rng(100 + s)
            for i in rng.integers(0, len(b), 8):
                b[i] ^= 0xFF
            return bytes(b)
        # a flip may land in weight bytes and leave a valid model: either outcome is right
        yield Case(f"bitflip_{seed}", "files", _raw(flipped), invalid=False)
    yield Case("empty_file", "files", _raw(lambda: b""))
    yield Case("text_file", "files", _raw(lambda: b"this is not a model\n"))
    yield Case("json_file", "files", _raw(lambda: b'{"graph": {}}'))
    yield Case("empty_modelproto", "files", _raw(lambda: onnx.ModelProto().SerializeToString()))
    yield Case("garbage_tflite", "files", _raw(lambda: b"\x00" * 64, ".tflite"))


def _attributes() -> Iterator[Case]:
    for k in (1, 2, 5, 7):
        yield Case(f"conv_kernel_{k}x{k}_vs_3x3_weights", "attributes", _saved(lambda k=k: conv_model(kernel=(k, k))))
    yield Case("conv_kernel_rank3", "attributes", _saved(lambda: conv_model(kernel=(3, 3, 3))))
    for g in (2, 3, 4, 5, 0, -1):
        yield Case(f"conv_group_{g}", "attributes", _saved(lambda g=g: conv_model(group=g)))
    for shape in ((4, 2, 3, 3), (4, 6, 3, 3), (4, 3, 3), (4, 3, 3, 3, 3), (0, 3, 3, 3)):
        # zero output channels is a legal zero-size Conv: either a result or a refusal is right
        yield Case(f"conv_weights_{'x'.join(map(str, shape))}", "attributes",
                   _saved(lambda s=shape: conv_model(w_shape=s, out_dims=None)), invalid=shape[0] != 0)
    for dtype in (np.int64, np.int32, np.int8, np.bool_):
        yield Case(f"conv_weights_{np.dtype(dtype).name}", "attributes",
                   _saved(lambda d=dtype: conv_model(w_dtype=d, out_dims=None)))
    yield Case("conv_input_int64", "attributes",
               _saved(lambda: conv_model(in_type=TensorProto.INT64, out_dims=None)))
    for axis in (4, 5, 10, -5, -10, 100):  # axis = rank (4) is valid: Flatten's range is [-r, r]
        yield Case(f"flatten_axis_{axis}", "attributes", _saved(lambda a=axis: unary_model("Flatten", [1, 3, 8, 8],
                                                                                          axis=a)), invalid=axis != 4)
    for axis in (4, 7, -5, 100):
        yield Case(f"softmax_axis_{axis}", "attributes", _saved(lambda a=axis: unary_model("Softmax", [1, 3, 8, 8],
                                                                                          axis=a)))
        yield Case(f"logsoftmax_axis_{axis}", "attributes",
                   _saved(lambda a=axis: unary_model("LogSoftmax", [1, 3, 8, 8], axis=a)))
    for axis in (2, 3, -3, 9):
        def concat(a=axis):
            node = helper.make_node("Concat", ["x", "x"], ["y"], name="concat0", axis=a)
            return _model([node], [helper.make_tensor_value_info("x", F, [2, 3])],
                          [helper.make_tensor_value_info("y", F, None)])
        yield Case(f"concat_axis_{axis}", "attributes", _saved(concat))

        def gather(a=axis):
            idx = numpy_helper.from_array(np.array([0, 1], np.int64), "idx")
            node = helper.make_node("Gather", ["x", "idx"], ["y"], name="gather0", axis=a)
            return _model([node], [helper.make_tensor_value_info("x", F, [2, 3])],
                          [helper.make_tensor_value_info("y", F, None)], [idx])
        yield Case(f"gather_axis_{axis}", "attributes", _saved(gather))
    for perm in ([0, 1, 2], [0, 0, 1, 2], [4, 3, 2, 1], [0, 1, 2, 3, 4]):
        yield Case(f"transpose_perm_{'_'.join(map(str, perm))}", "attributes",
                   _saved(lambda p=perm: unary_model("Transpose", [1, 3, 8, 8], perm=p)))
    for op, attrs in (("MaxPool", {"kernel_shape": [0, 0]}), ("MaxPool", {"kernel_shape": [3]}),
                      ("AveragePool", {"kernel_shape": [3, 3], "strides": [0, 0]}),
                      ("MaxPool", {"kernel_shape": [3, 3], "pads": [1, 1]}),
                      ("LeakyRelu", {"alpha": "x"}), ("Relu", {"bogus": 1}),
                      ("Elu", {"alpha": [1.0, 2.0]}), ("ReduceMean", {"axes": [9]}),
                      ("ReduceMax", {"keepdims": 1, "axes": [4]})):
        yield Case(f"{op.lower()}_{'_'.join(attrs)}_{abs(hash(str(attrs))) % 1000}", "attributes",
                   _saved(lambda o=op, a=attrs: unary_model(o, [1, 3, 8, 8], opset=11 if o.startswith("Reduce")
                                                            else 17, **a)))
    for shape in ([5, 5], [-1, -1], [0, 7], [1, 2, 3, 4, 5]):
        def reshape(s=shape):
            target = numpy_helper.from_array(np.array(s, np.int64), "shape")
            node = helper.make_node("Reshape", ["x", "shape"], ["y"], name="reshape0")
            return _model([node], [helper.make_tensor_value_info("x", F, [2, 3])],
                          [helper.make_tensor_value_info("y", F, None)], [target])
        yield Case(f"reshape_to_{'_'.join(map(str, shape))}", "attributes", _saved(reshape))


def _operators() -> Iterator[Case]:
    for op, domain in (("NoSuchOp", ""), ("Frobnicate", ""), ("relu", ""), ("RELU", ""), ("Conv2D", ""),
                       ("Relu", "com.unknown"), ("Custom", "com.example"), ("", ""), ("Relu ", ""),
                       ("Relu", "ai.onnx.ml"), ("LinearRegressor", ""), ("FusedConv", "com.microsoft"),
                       ("Gelu", "ai.facade"), ("Identity", "org.pytorch.aten")):
        def make(o=op, d=domain):
            node = helper.make_node(o, ["x"], ["y"], name="n0", domain=d)
            imports = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(d, 1)] if d else [])
            graph = helper.make_graph([node], "bad", [helper.make_tensor_value_info("x", F, [2, 3])],
                                      [helper.make_tensor_value_info("y", F, [2, 3])])
            return helper.make_model(graph, opset_imports=imports)
        yield Case(f"unknown_op_{op.strip() or 'empty'}_{domain or 'default'}", "operators", _saved(make))
    for n_in in (0, 3):
        yield Case(f"relu_with_{n_in}_inputs", "operators", _saved(lambda n=n_in: _model(
            [helper.make_node("Relu", ["x"] * n, ["y"], name="relu0")],
            [helper.make_tensor_value_info("x", F, [2, 3])], [helper.make_tensor_value_info("y", F, [2, 3])])))


def _graphs() -> Iterator[Case]:
    vi = helper.make_tensor_value_info

    def cycle():
        return _model([helper.make_node("Add", ["x", "b"], ["a"], name="n0"),
                       helper.make_node("Relu", ["a"], ["b"], name="n1"),
                       helper.make_node("Identity", ["a"], ["y"], name="n2")], [vi("x", F, [2])], [vi("y", F, [2])])

    def self_loop():
        return _model([helper.make_node("Add", ["x", "y"], ["y"], name="n0")], [vi("x", F, [2])], [vi("y", F, [2])])

    def undefined():
        return _model([helper.make_node("Add", ["x", "ghost"], ["y"], name="n0")], [vi("x", F, [2])],
                      [vi("y", F, [2])])

    def twice():
        return _model([helper.make_node("Relu", ["x"], ["y"], name="n0"),
                       helper.make_node("Neg", ["x"], ["y"], name="n1")], [vi("x", F, [2])], [vi("y", F, [2])])

    def no_producer():
        return _model([helper.make_node("Relu", ["x"], ["z"], name="n0")], [vi("x", F, [2])], [vi("y", F, [2])])

    def unsorted():
        return _model([helper.make_node("Neg", ["a"], ["y"], name="n1"),
                       helper.make_node("Relu", ["x"], ["a"], name="n0")], [vi("x", F, [2])], [vi("y", F, [2])])

    def dup_input():
        return _model([helper.make_node("Relu", ["x"], ["y"], name="n0")], [vi("x", F, [2]), vi("x", F, [2])],
                      [vi("y", F, [2])])

    def no_outputs():
        return _model([helper.make_node("Relu", ["x"], ["y"], name="n0")], [vi("x", F, [2])], [])

    def untyped():
        return _model([helper.make_node("Relu", ["x"], ["y"], name="n0")],
                      [helper.make_value_info("x", onnx.TypeProto())], [vi("y", F, [2])])

    for fn in (cycle, self_loop, undefined, twice, no_producer, unsorted, dup_input, no_outputs, untyped):
        yield Case(f"graph_{fn.__name__}", "graphs", _saved(fn))


def _shapes() -> Iterator[Case]:
    for out in ([1, 7, 2], [1, 4, 8], [1, 4, 8, 9], [2, 4, 8, 8], [1, 3, 8, 8], [1, 4, 8, 8, 1], [8, 8, 4, 1],
                [1, 4, 16, 16], [4], []):
        yield Case(f"declared_out_{'x'.join(map(str, out)) or 'scalar'}", "shapes",
                   _saved(lambda o=out: conv_model(out_dims=o)))
    for dims in ([1, 3, 8], [1, 3, 8, 8, 8], [3, 8, 8], [1, 5, 8, 8], [1, 1, 8, 8]):
        yield Case(f"declared_in_{'x'.join(map(str, dims))}", "shapes",
                   _saved(lambda d=dims: conv_model(in_dims=d, out_dims=None)))
    for a, b in (([2, 3], [4, 5]), ([2, 3], [2, 4, 3]), ([5], [3])):
        def mm(a=a, b=b):
            w = _w(b, name="B")
            return _model([helper.make_node("MatMul", ["x", "B"], ["y"], name="mm0")],
                          [helper.make_tensor_value_info("x", F, a)], [helper.make_tensor_value_info("y", F, None)],
                          [w])
        yield Case(f"matmul_{'x'.join(map(str, a))}_by_{'x'.join(map(str, b))}", "shapes", _saved(mm))
        def add(a=a, b=b):
            return _model([helper.make_node("Add", ["x", "B"], ["y"], name="add0")],
                          [helper.make_tensor_value_info("x", F, a)], [helper.make_tensor_value_info("y", F, None)],
                          [_w(b, name="B")])
        yield Case(f"add_{'x'.join(map(str, a))}_and_{'x'.join(map(str, b))}", "shapes", _saved(add))
    for dims in ([-1, 3], [1, -3, 8, 8], [-5], [2, -2]):
        yield Case(f"negative_dim_{'_'.join(map(str, dims))}", "shapes",
                   _saved(lambda d=dims: unary_model("Relu", d, d)))
    for dtype, elem in (("float32", F), ("int8", TensorProto.INT8), ("float64", TensorProto.DOUBLE)):
        yield Case(f"huge_relu_1e6x1e6_{dtype}", "shapes",
                   _saved(lambda e=elem: unary_model("Relu", [1_000_000, 1_000_000], [1_000_000, 1_000_000], e)))
    for dims in ([1 << 40], [1 << 20, 1 << 20, 4], [65536, 65536, 65536]):
        yield Case(f"huge_identity_{'x'.join(map(str, dims))}", "shapes",
                   _saved(lambda d=dims: unary_model("Identity", d, d)))
    yield Case("huge_conv_output", "shapes",
               _saved(lambda: conv_model(in_dims=(1, 3, 400_000, 400_000), out_dims=(1, 4, 400_000, 400_000))))

    def huge_expand():
        shape = numpy_helper.from_array(np.array([1_000_000, 1_000_000], np.int64), "shape")
        return _model([helper.make_node("Expand", ["x", "shape"], ["y"], name="expand0")],
                      [helper.make_tensor_value_info("x", F, [1, 1])], [helper.make_tensor_value_info("y", F, None)],
                      [shape])
    yield Case("huge_expand_from_constant", "shapes", _saved(huge_expand))
    yield Case("string_input_relu", "shapes", _saved(lambda: unary_model("Relu", [3], [3], TensorProto.STRING)))


def _opsets() -> Iterator[Case]:
    low, high = _opset_range()
    for opset in (99, 1000, high + 1, high, low, low - 1, 1, 0):
        yield Case(f"opset_{opset}", "opsets", _saved(lambda o=opset: unary_model("Relu", [2, 3], [2, 3], opset=o)),
                   invalid=not low <= opset <= high)
    yield Case("opset_missing_default", "opsets", _saved(lambda: helper.make_model(
        helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "bad",
                          [helper.make_tensor_value_info("x", F, [2])], [helper.make_tensor_value_info("y", F, [2])]),
        opset_imports=[helper.make_opsetid("com.example", 1)])))


def _opset_range() -> tuple[int, int]:
    from facade.intake import opset_range

    return opset_range()


def _external_model(location: str, size: int = 4 * 6, offset: int | None = None) -> onnx.ModelProto:
    model = _model([helper.make_node("Add", ["x", "B"], ["y"], name="add0")],
                   [helper.make_tensor_value_info("x", F, [2, 3])], [helper.make_tensor_value_info("y", F, [2, 3])],
                   [_w((2, 3), name="B")])
    tensor = model.graph.initializer[0]
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("length", str(size))) + (
            (("offset", str(offset)),) if offset is not None else ()):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return model


def _write_weights(name: str, size: int = 24):
    return lambda folder: (folder / name).write_bytes(np.ones(size // 4, np.float32).tobytes())


def _external() -> Iterator[Case]:
    for loc in ("../../../../etc/passwd", "../weights.bin", "/etc/passwd", "sub/../../x.bin", "..",
                "/dev/zero", "/proc/self/environ", "~/.bashrc"):
        yield Case(f"external_{loc.replace('/', '_').strip('_') or 'root'}", "external",
                   _saved(lambda loc=loc: _external_model(loc)))
    for loc in ("missing.bin", "sub/missing.bin", "", "weights.bin\x00.txt"):
        yield Case(f"external_missing_{loc.replace('/', '_') or 'empty'}", "external",
                   _saved(lambda loc=loc: _external_model(loc)))
    yield Case("external_short_file", "external", _saved(lambda: _external_model("w.bin"), extra=_write_weights(
        "w.bin", 8)))
    yield Case("external_offset_past_end", "external",
               _saved(lambda: _external_model("w.bin", offset=4096), extra=_write_weights("w.bin")))
    yield Case("external_is_directory", "external", _saved(lambda: _external_model("d"),
                                                           extra=lambda f: (f / "d").mkdir()))


def _feed_cases(model: Callable[[], onnx.ModelProto], tag: str) -> Iterator[Case]:
    """Feeds that contradict the model (invalid) and unusual-but-valid ones, against a valid model."""
    proto = model()
    good = _feeds(proto)
    name, arr = next(iter(good.items()))

    def with_feeds(make_feeds: Callable[[], dict], label: str, invalid: bool = True, strided: bool = False) -> Case:
        return Case(f"feed_{tag}_{label}", "feeds", _saved(model, lambda _p: make_feeds()), invalid, strided)

    for wrong in (name + "x", name.upper(), "", "0", "input"):
        yield with_feeds(lambda w=wrong: {w: arr}, f"name_{wrong or 'empty'}")
    yield with_feeds(lambda: {}, "none")
    yield with_feeds(lambda: {**good, "extra": arr}, "extra_name")
    shapes = [arr.shape[:-1], (*arr.shape, 1), (1,) * arr.ndim, tuple(d + 1 for d in arr.shape),
              tuple(reversed(arr.shape)), (), (0, *arr.shape[1:]), (*arr.shape[:-1], 0), (7,)]
    dims = next(vi for vi in proto.graph.input if vi.name == name).type.tensor_type.shape.dim
    symbolic = {i for i, d in enumerate(dims) if not d.HasField("dim_value")}
    for shape in dict.fromkeys(shapes):
        if shape == arr.shape:
            continue
        # differing only in symbolic dims (a batch of 0 included) is a valid feed: run per spec or refuse
        fits = len(shape) == arr.ndim and all(a == b or i in symbolic for i, (a, b) in enumerate(zip(shape, arr.shape, strict=True)))
        yield with_feeds(lambda s=shape: {name: np.zeros(s, arr.dtype)}, f"shape_{'x'.join(map(str, shape)) or 's'}",
                         invalid=not fits)
    for dtype in (np.float64, np.int64, np.uint64, np.complex64, np.bool_, np.float16, np.int16, np.uint32,
                  np.str_, np.bytes_, np.datetime64, np.void):
        if np.dtype(dtype) == arr.dtype or np.can_cast(dtype, arr.dtype, "safe"):
            continue
        yield with_feeds(lambda d=dtype: {name: np.zeros(arr.shape, d)}, f"dtype_{np.dtype(dtype).name}")
    yield with_feeds(lambda: {name: np.empty(arr.shape, object)}, "object_empty")
    yield with_feeds(lambda: {name: np.array(arr.tolist(), object)}, "object_numbers")
    yield with_feeds(lambda: {name: np.full(arr.shape, "a", object)}, "object_strings")
    if arr.dtype.kind == "f":
        for label, value in (("nan", np.nan), ("inf", np.inf), ("neg_inf", -np.inf), ("max", np.finfo(arr.dtype).max),
                             ("tiny", np.finfo(arr.dtype).tiny)):
            yield with_feeds(lambda v=value: {name: np.full(arr.shape, v, arr.dtype)}, f"all_{label}", invalid=False)
        yield with_feeds(lambda: {name: np.where(np.arange(arr.size).reshape(arr.shape) % 2, np.nan, arr)},
                         "some_nan", invalid=False)
    yield with_feeds(lambda: good, "strided", invalid=False, strided=True)
    yield with_feeds(lambda: good, "valid", invalid=False)


def pair_model() -> onnx.ModelProto:
    """a[N,4] * b[N,4] -> y: two inputs sharing a symbolic dim, for feeds that disagree on it."""
    vi = helper.make_tensor_value_info
    return _model([helper.make_node("Mul", ["a", "b"], ["y"], name="mul0")],
                  [vi("a", F, ["N", 4]), vi("b", F, ["N", 4])], [vi("y", F, ["N", 4])])


def gather_model() -> onnx.ModelProto:
    """Gather(x[2,3], i[2]) -> y[2,3]: indices come from a feed, so only run time can check them."""
    vi = helper.make_tensor_value_info
    return _model([helper.make_node("Gather", ["x", "i"], ["y"], name="gather0")],
                  [vi("x", F, [2, 3]), vi("i", TensorProto.INT64, [2])], [vi("y", F, [2, 3])])


def _feeds_family() -> Iterator[Case]:
    yield from _feed_cases(conv_model, "conv")
    yield from _feed_cases(lambda: conv_model(in_dims=("N", 3, 8, 8), out_dims=("N", 4, 8, 8)), "conv_batchN")
    yield from _feed_cases(matmul_model, "matmul")
    yield from _feed_cases(int_model, "int")
    yield from _feed_cases(pair_model, "pair")
    yield Case("feed_pair_symbol_disagrees", "feeds", _saved(pair_model, lambda _p: {
        "a": np.zeros((2, 4), np.float32), "b": np.zeros((3, 4), np.float32)}))
    for index in (7, -9):  # valid model, index fed past the end: the engine must refuse, not read memory
        yield Case(f"feed_gather_index_{index}", "feeds", _saved(gather_model, lambda _p, i=index: {
            "x": np.ones((2, 3), np.float32), "i": np.array([0, i], np.int64)}))
    yield Case("feed_pair_batch_0", "feeds", _saved(pair_model, lambda _p: {
        "a": np.zeros((0, 4), np.float32), "b": np.zeros((0, 4), np.float32)}), invalid=False)


FAMILIES: dict[str, Callable[[], Iterator[Case]]] = {
    "files": _files, "attributes": _attributes, "operators": _operators, "graphs": _graphs, "shapes": _shapes,
    "opsets": _opsets, "external": _external, "feeds": _feeds_family,
}


def cases(families: list[str] | None = None) -> list[Case]:
    """Every case of ``families`` (default all), in a fixed order with unique names."""
    found = [c for fam in (families or FAMILIES) for c in FAMILIES[fam]()]
    names = Counter(c.name for c in found)
    dup = [n for n, k in names.items() if k > 1]
    if dup:
        raise ValueError(f"duplicate bad-input case names: {dup[:5]}")
    return found


# ---------------------------------------------------------------- running


def verdict(case: Case, outcome: str) -> bool:
    """Whether ``outcome`` is acceptable for ``case``: a FacadeError always; accepting only a valid case."""
    return outcome == "facade" or (outcome == "accepted" and not case.invalid)


def run_in_process(case: Case, target: str, folder: Path) -> tuple[str, str]:
    """Run ``case`` on ``target`` in this process; (outcome, detail). Only for cases that cannot crash it."""
    import facade

    path, feeds = case.build(folder)
    if case.strided:
        feeds = {n: np.repeat(a, 2, axis=-1)[..., ::2] for n, a in feeds.items()}
    stage = "load"
    try:
        with facade.Session(str(path), target=target, allow_fallback=False) as sess:
            stage = "run"
            sess.run(feeds)
    except facade.FacadeError as e:
        if case.invalid and case.family != "feeds" and stage == "run":
            return "accepted", f"model loaded, refused only at run: {e}"
        return "facade", str(e)
    except Exception as e:  # the defect this corpus looks for
        return "raw", f"{type(e).__name__}: {e}"
    return "accepted", "ran and returned"


def _outcome(case: Case, reply: dict) -> tuple[str, str]:
    from facade.conformance.child import ChildFailure

    if isinstance(reply, ChildFailure):
        return ("hang" if "timed out" in reply.error else "crash"), reply.error
    if reply["status"] == "ok":
        return "accepted", "ran and returned"
    if not reply.get("facade"):
        return "raw", reply.get("error", "")
    if case.invalid and case.family != "feeds" and reply.get("stage") == "run":
        return "accepted", f"model loaded, refused only at run: {reply.get('error', '')}"
    return "facade", reply.get("error", "")


def run_children(selected: list[Case], targets: list[str], timeout: float, work: Path) -> list[dict]:
    """Every case on every target, each target in one restartable worker child; a row per (case, target)."""
    from facade.conformance.child import ChildFailure, ColumnProcess

    rows = []
    for target in targets:
        child = ColumnProcess(target, "fp32", work / f"{target.replace(':', '_')}.log")
        hello = child.start()
        if isinstance(hello, ChildFailure) or not hello.get("available"):
            print(f"{target}: unavailable ({getattr(hello, 'error', None) or hello.get('reason')})", file=sys.stderr)
            child.stop()
            continue
        try:
            for k, case in enumerate(selected):
                folder = work / target.replace(":", "_") / f"{k:04d}"
                folder.mkdir(parents=True)
                path, feeds = case.build(folder)
                names = list(feeds)
                np.savez(folder / "feeds.npz", **{f"i{j}": np.asarray(feeds[n]) for j, n in enumerate(names)})
                reply = child.ask({"case": case.name, "model": str(path), "feeds": str(folder / "feeds.npz"),
                                   "inputs": names, "out": str(folder / "out.npz"), "strided": case.strided}, timeout)
                outcome, detail = _outcome(case, reply)
                rows.append({"case": case.name, "family": case.family, "target": target, "outcome": outcome,
                             "ok": verdict(case, outcome), "detail": detail[:400]})
        finally:
            child.stop()
    return rows


def table(rows: list[dict], targets: list[str]) -> str:
    """Markdown counts per target: each outcome, and defects (raw, crash, hang, invalid accepted)."""
    lines = ["| target | cases | " + " | ".join(OUTCOMES) + " | defects |", "|---" * (len(OUTCOMES) + 3) + "|"]
    for t in targets:
        mine = [r for r in rows if r["target"] == t]
        if not mine:
            continue
        counts = Counter(r["outcome"] for r in mine)
        lines.append(f"| {t} | {len(mine)} | " + " | ".join(str(counts[o]) for o in OUTCOMES)
                     + f" | {sum(not r['ok'] for r in mine)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", default="onnxruntime:cpu,native:cpu")
    parser.add_argument("--families", nargs="*", choices=list(FAMILIES))
    parser.add_argument("--limit", type=int, default=0, help="first N cases only")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per case before it counts as a hang")
    parser.add_argument("--json", help="write every row to this file")
    args = parser.parse_args(argv)
    selected = cases(args.families)[: args.limit or None]
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    print(f"{len(selected)} cases x {len(targets)} targets", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="facade-bad-") as tmp:
        rows = run_children(selected, targets, args.timeout, Path(tmp))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    print(table(rows, targets))
    for r in rows:
        if not r["ok"]:
            print(f"DEFECT {r['target']} {r['case']}: {r['outcome']}: {r['detail'][:200]}")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
