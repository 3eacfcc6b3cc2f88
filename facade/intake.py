"""Model intake: every check an ONNX model passes once, before any engine sees it.

Engines disagree on what they tolerate (ONNX Runtime runs a Conv whose weights
contradict its ``kernel_shape`` until ``run()``, the native engine ran opset 99,
QNN's simulator hangs allocating 1e12 elements), so facade refuses what the ONNX
spec refuses in one place, with a :class:`~facade.errors.ModelError` that names
the tensor or node:

1. opset of the default domain within the range this installation supports;
2. external data resolved inside the model's folder (no ``../`` escapes), each file present;
3. declared dimensions non-negative;
4. ``onnx.checker.check_model(full_check=True)``: structure, operator schemas, and
   strict shape inference, where a declared shape contradicting the inferred one is
   reported with the tensor's name and both shapes;
5. operator checks inference leaves to engines (:mod:`facade.graph_checks`: Conv weights vs
   ``kernel_shape``, ``group`` and channels; Transpose ``perm``; Reshape element counts);
6. every statically known tensor bounded in bytes (:func:`max_tensor_bytes`).

Results are cached per model digest: a second ``Session`` on the same bytes costs
a dictionary look-up, so full checks on large models are paid once per process.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
from onnx import shape_inference

from facade import graph_checks
from facade.errors import ModelError, format_message

# Opset floor: the oldest in onnx's own backend test data (its pytorch-converted models are
# opset 6, and ONNX Runtime, the reference of every conversion check, runs them); nothing older
# is exercised on any target, so an opset-1 model would run on untested kernels.
MIN_OPSET = 6
# The one checker complaint we tolerate: a graph input/output declared without a shape.
_LENIENT = "Field 'shape' of 'type' is required but missing"
_ENV_BOUND = "FACADE_MAX_TENSOR_BYTES"
_checked: set[str] = set()


def opset_range() -> tuple[int, int]:
    """Default-domain opsets accepted: from :data:`MIN_OPSET` to the newest the installed onnx knows."""
    return MIN_OPSET, onnx.defs.onnx_opset_version()


def max_tensor_bytes() -> int:
    """The largest single tensor a model may declare, in bytes.

    ``$FACADE_MAX_TENSOR_BYTES`` if set, else the machine's physical memory: a tensor
    that cannot fit in RAM can only fail later, inside an engine, as an abort or a hang.
    """
    env = os.environ.get(_ENV_BOUND)
    if env:
        try:
            return int(float(env))
        except ValueError as e:
            raise ModelError(format_message(f"${_ENV_BOUND} is not a number", received=env,
                                            expected="a byte count such as 8e9")) from e
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 64 << 30


def validate(proto: onnx.ModelProto, where: str, digest: str, base_dir: Path | None) -> onnx.ModelProto:
    """Run every intake check on ``proto`` (external data is loaded from ``base_dir``); return it.

    Raises:
        ModelError: the first check that fails, naming the tensor, node or file.
    """
    try:
        _require_graph(proto, where)
        _check_opset(proto, where)
        _load_external(proto, where, base_dir)
        if digest in _checked:
            return proto
        _check_declared_dims(proto, where)
        _check_model(proto, where)
        inferred = _inferred(proto)
        graph_checks.check_nodes(proto, inferred, where)
        _check_sizes(inferred, where)
    except ModelError:
        raise
    except Exception as e:  # onnx's C++ checks raise decode and value errors on corrupt protos
        raise ModelError(format_message("Model could not be checked (corrupt or unreadable fields)", where=where,
                                        received=f"{type(e).__name__}: {e}",
                                        expected="a well-formed ONNX model")) from e
    _checked.add(digest)
    return proto


def _inferred(proto: onnx.ModelProto) -> onnx.ModelProto:
    """``proto`` with inferred shapes (already validated strictly; this pass only reads them)."""
    try:
        return shape_inference.infer_shapes(proto)
    except shape_inference.InferenceError:
        return proto


def _require_graph(proto: onnx.ModelProto, where: str) -> None:
    if not proto.HasField("graph") or not proto.graph.output:
        raise ModelError(format_message("Model has no graph or no outputs (truncated or not ONNX?)", where=where,
                                        received=f"ir_version={proto.ir_version}, nodes={len(proto.graph.node)}",
                                        expected="an ONNX ModelProto with a graph"))


def _check_opset(proto: onnx.ModelProto, where: str) -> None:
    low, high = opset_range()
    versions = [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")]
    if not versions:
        return  # the checker reports a missing default-domain import if a node needs one
    if not low <= versions[0] <= high:
        raise ModelError(format_message("Model's ONNX opset is outside the supported range", where=where,
                                        received=f"opset {versions[0]}", expected=f"opset {low} to {high}"))


def _external_tensors(proto: onnx.ModelProto) -> list[onnx.TensorProto]:
    return [t for t in onnx.external_data_helper._get_all_tensors(proto)
            if t.data_location == onnx.TensorProto.EXTERNAL]


def _load_external(proto: onnx.ModelProto, where: str, base_dir: Path | None) -> None:
    """Resolve every external-data location inside ``base_dir``, then load the data in place."""
    tensors = _external_tensors(proto)
    if not tensors:
        return
    if base_dir is None:
        raise ModelError(format_message(
            f"Tensor {tensors[0].name!r} keeps its data in an external file, but the model has no folder",
            where=where, received="a model given as bytes or a ModelProto",
            expected="the model's path, with its data files beside it"))
    root = base_dir.resolve()
    for t in tensors:
        info = {e.key: e.value for e in t.external_data}
        location = info.get("location", "")
        path = None if not location or "\x00" in location else (root / location).resolve()
        if path is None or Path(location).is_absolute() or not path.is_relative_to(root):
            raise ModelError(format_message(
                f"External data of tensor {t.name!r} points outside the model's folder", where=where,
                received=f"location {location!r}", expected=f"a file inside {root}"))
        if not path.is_file():
            raise ModelError(format_message(
                f"External data file of tensor {t.name!r} is missing", where=where,
                received=f"{location!r} (no file at {path})", expected="the data file beside the model"))
    try:
        onnx.load_external_data_for_model(proto, str(root))
    except (OSError, ValueError) as e:
        raise ModelError(format_message("External data of the model could not be read", where=where,
                                        received=str(e), expected="its data files beside the model")) from e


def _value_infos(graph: onnx.GraphProto) -> list[tuple[str, onnx.ValueInfoProto]]:
    return ([("input", v) for v in graph.input] + [("output", v) for v in graph.output]
            + [("value", v) for v in graph.value_info])


def _dims(vi: onnx.ValueInfoProto) -> list[int | str] | None:
    tt = vi.type.tensor_type
    if not vi.type.HasField("tensor_type") or not tt.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in tt.shape.dim]


def _check_declared_dims(proto: onnx.ModelProto, where: str) -> None:
    for role, vi in _value_infos(proto.graph):
        dims = _dims(vi)
        if dims and any(isinstance(d, int) and d < 0 for d in dims):
            raise ModelError(format_message(f"Model declares a negative dimension for {role} {vi.name!r}",
                                            where=where, received=dims, expected="dimensions >= 0"))


def _check_model(proto: onnx.ModelProto, where: str) -> None:
    """The checker with strict shape inference; a contradiction gets the tensor and both shapes."""
    try:
        onnx.checker.check_model(proto, full_check=True)
        return
    except onnx.checker.ValidationError as e:
        first = str(e).strip().splitlines()[0]
        if _LENIENT not in first:
            raise ModelError(format_message("Model failed ONNX validation", where=where, received=first,
                                            expected="a model that onnx.checker accepts")) from e
    except shape_inference.InferenceError as e:
        _raise_contradiction(proto, where, e)
    # Exporters omit output shapes: check the rest without the tolerated complaint's field.
    try:
        shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)
    except shape_inference.InferenceError as e:
        _raise_contradiction(proto, where, e)


def _raise_contradiction(proto: onnx.ModelProto, where: str, error: Exception) -> None:
    """Name the declared tensor whose shape inference contradicts, with both shapes, else quote onnx."""
    bare = onnx.ModelProto()
    bare.CopyFrom(proto)
    declared = {}
    for vi in [*bare.graph.output, *bare.graph.value_info]:
        if vi.type.HasField("tensor_type") and vi.type.tensor_type.HasField("shape"):
            declared[vi.name] = _dims(vi)
            vi.type.tensor_type.ClearField("shape")
    try:
        inferred = shape_inference.infer_shapes(bare, strict_mode=True)
    except shape_inference.InferenceError:
        inferred = None
    if inferred is not None:
        found = {vi.name: _dims(vi) for vi in [*inferred.graph.output, *inferred.graph.value_info]}
        for name, dims in declared.items():
            got = found.get(name)
            if got is None or dims is None:
                continue
            if len(got) != len(dims) or any(isinstance(a, int) and isinstance(b, int) and a != b
                                            for a, b in zip(dims, got, strict=False)):
                raise ModelError(format_message(
                    f"Declared shape of {name!r} contradicts the shape the graph computes", where=where,
                    received=f"declared {dims}", expected=f"{got} (inferred from the graph)")) from error
    message = " ".join(str(error).split())[:600]
    raise ModelError(format_message("Model failed ONNX shape inference", where=where, received=message,
                                    expected="types, shapes and attributes that each operator's schema allows")) from error


def _check_sizes(inferred: onnx.ModelProto, where: str) -> None:
    """Refuse a tensor whose static size exceeds :func:`max_tensor_bytes`, before any engine allocates."""
    bound = max_tensor_bytes()
    for role, vi in _value_infos(inferred.graph):
        dims = _dims(vi)
        if not dims or not all(isinstance(d, int) for d in dims):
            continue
        elem = vi.type.tensor_type.elem_type
        try:
            itemsize = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem)).itemsize
        except (KeyError, TypeError, ValueError):
            itemsize = 1
        count = int(np.prod(dims, dtype=object))
        if count * itemsize > bound:
            raise ModelError(format_message(
                f"Tensor {vi.name!r} ({role}) is too large to allocate", where=where,
                received=f"shape {dims}: {count:.3g} elements, {count * itemsize / 2**30:.4g} GiB",
                expected=f"at most {bound / 2**30:.4g} GiB per tensor (physical memory; override with "
                         f"${_ENV_BOUND})"))
