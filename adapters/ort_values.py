"""ml_dtypes arrays (bfloat16, float8, int4) in and out of ONNX Runtime, which numpy cannot name.

ONNX Runtime's Python binding maps numpy dtypes to tensor types by numpy's type
number, and ml_dtypes' types have none it knows: a bfloat16 feed dies in
``session.run`` with "Numpy_type 256 can't be converted to MLDataType". ORT does
have these tensor types, so feeds go in as raw bytes tagged with their ONNX element
type (``OrtValue.ortvalue_from_numpy_with_onnx_type``) and outputs come back as raw
bytes read through ``OrtValue.data_ptr()`` (``OrtValue.numpy()`` refuses bfloat16
and three of the float8 types), viewed as the ml_dtypes type again.

int4/uint4 are packed two to a byte, low nibble first (ONNX's layout); ml_dtypes
keeps one per byte, so they are packed on the way in and unpacked on the way out.
Types ORT has no tensor type for (float4, float8e8m0, int2...) are refused by name.
"""

from __future__ import annotations

import ctypes
from collections.abc import Mapping

import numpy as np
from onnx import TensorProto

from facade.errors import UnsupportedModelError, format_message

# ml_dtypes name -> ONNX element type, for the types ONNX Runtime (1.32) has tensors of.
# Measured: ORT also *loads* int4/uint4 models (Cast, DequantizeLinear) but has no CPU
# kernel for float4e2m1 and rejects float8e8m0/int2/uint2 graphs as invalid.
ORT_TYPES: Mapping[str, int] = {
    "bfloat16": TensorProto.BFLOAT16,
    "float8_e4m3fn": TensorProto.FLOAT8E4M3FN,
    "float8_e4m3fnuz": TensorProto.FLOAT8E4M3FNUZ,
    "float8_e5m2": TensorProto.FLOAT8E5M2,
    "float8_e5m2fnuz": TensorProto.FLOAT8E5M2FNUZ,
    "int4": TensorProto.INT4,
    "uint4": TensorProto.UINT4,
}
_PACKED = ("int4", "uint4")


def is_extended(dtype: np.dtype) -> bool:
    """Whether numpy has no dtype of its own for it (an ml_dtypes type; ORT's binding cannot take it)."""
    return np.dtype(dtype).type.__module__.startswith("ml_dtypes")


def needs_ort_values(dtypes) -> bool:
    """Whether any of these input/output dtypes must go through OrtValues."""
    return any(is_extended(d) for d in dtypes)


def check_representable(name: str, dtype: np.dtype, where: str, role: str = "input",
                         container: tuple[str, ...] = ()) -> None:
    """Refuse, by name, an ml_dtypes type ONNX Runtime has no tensor type for, or one inside a sequence or
    optional (OrtValues are made here from single arrays only; ORT's binding takes containers of numpy types)."""
    if container and is_extended(dtype):
        raise UnsupportedModelError(format_message(
            f"{role} {name!r} is a {' of '.join(container)} of {np.dtype(dtype).name}; facade passes ONNX Runtime "
            "sequences and optionals of numpy dtypes only", where=where,
            received=f"{' of '.join(container)} of {np.dtype(dtype).name}", expected="a numpy element type",
            hint="Run it on native:cpu, which computes in these types"))
    if is_extended(dtype) and np.dtype(dtype).name not in ORT_TYPES:
        raise UnsupportedModelError(format_message(
            f"{role} {name!r} is {np.dtype(dtype).name}; ONNX Runtime has no tensor type for it",
            where=where, received=np.dtype(dtype).name, expected=f"one of {', '.join(ORT_TYPES)} among ml_dtypes types",
            hint="Run it on native:cpu, which computes in these types"))


def _pack_nibbles(arr: np.ndarray) -> np.ndarray:
    """int4/uint4 values one per byte -> ONNX's packed bytes (element 2k in the low nibble of byte k)."""
    flat = arr.reshape(-1).view(np.uint8) & 0x0F
    if flat.size % 2:
        flat = np.concatenate([flat, np.zeros(1, np.uint8)])
    return (flat[0::2] | (flat[1::2] << 4)).astype(np.uint8)


def _unpack_nibbles(packed: np.ndarray, count: int, dtype: np.dtype) -> np.ndarray:
    """ONNX's packed int4/uint4 bytes -> ``count`` values of ml_dtypes ``dtype`` (sign-extended for int4)."""
    low, high = packed & 0x0F, packed >> 4
    nibbles = np.stack([low, high], axis=1).reshape(-1)[:count]
    if np.dtype(dtype).name == "int4":
        nibbles = np.where(nibbles >= 8, nibbles.astype(np.int16) - 16, nibbles).astype(np.int8)
    return nibbles.astype(np.int8 if np.dtype(dtype).name == "int4" else np.uint8).astype(dtype)


def to_ort_value(ort, arr: np.ndarray):
    """An OrtValue holding ``arr`` (an ml_dtypes array) as its ONNX element type.

    For int4/uint4, ORT takes the tensor's shape from the array and reads its first
    ``ceil(n / 2)`` bytes as packed data, so the packed bytes go into a uint8 buffer
    of the array's own shape.
    """
    name = arr.dtype.name
    if name in _PACKED:
        packed = _pack_nibbles(arr)
        raw = np.zeros(arr.shape, np.uint8)
        raw.reshape(-1)[:packed.size] = packed
    else:
        raw = np.ascontiguousarray(arr).view(np.uint8 if arr.dtype.itemsize == 1 else np.uint16)
    return ort.OrtValue.ortvalue_from_numpy_with_onnx_type(raw, ORT_TYPES[name])


def from_ort_value(value, dtype: np.dtype) -> np.ndarray:
    """A numpy array of ``dtype`` copied out of an OrtValue in CPU memory."""
    dtype = np.dtype(dtype)
    if not is_extended(dtype):
        return value.numpy()
    if value.device_name().lower() != "cpu":  # data_ptr() would point into device memory
        raise UnsupportedModelError(format_message(
            f"An output of type {dtype.name} came back in {value.device_name()} memory, which facade cannot read",
            received=value.device_name(), expected="cpu"))
    shape = tuple(value.shape())
    size = value.tensor_size_in_bytes()
    raw = np.frombuffer((ctypes.c_uint8 * size).from_address(value.data_ptr()), np.uint8).copy() if size else \
        np.zeros(0, np.uint8)
    if dtype.name in _PACKED:
        return _unpack_nibbles(raw, int(np.prod(shape, dtype=np.int64)), dtype).reshape(shape)
    return raw.view(dtype).reshape(shape)


def run_with_ort_values(ort, session, names: list[str], feeds: dict[str, np.ndarray],
                        output_dtypes: Mapping[str, np.dtype]) -> list[np.ndarray]:
    """``session.run`` for feeds or outputs numpy's ORT binding cannot take, through OrtValues."""
    values = {k: to_ort_value(ort, v) if is_extended(v.dtype) else ort.OrtValue.ortvalue_from_numpy(v)
              for k, v in feeds.items()}
    outs = session.run_with_ort_values(names, values)
    return [from_ort_value(o, output_dtypes[n]) for n, o in zip(names, outs, strict=True)]
