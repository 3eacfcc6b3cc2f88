"""Conversion of ONNX models into each engine's own format, with each engine's own converter.

One module per converter (:mod:`.pnnx` for ncnn, :mod:`.mnn`, :mod:`.onnx2tf` for
TFLite, :mod:`.coreml`, :mod:`.snpe`), every one run in a child process with a
timeout; artifacts live in a content-addressed cache (:mod:`.cache`) and are
verified against the ONNX model before anything trusts them (:mod:`.verify`).
Converters are named here by dotted path so that knowing about one imports nothing.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import MappingProxyType

from facade.convert.base import Converter
from facade.errors import ConversionError, format_message

CONVERTERS: Mapping[str, str] = MappingProxyType({
    "pnnx": "facade.convert.pnnx:PnnxConverter",
    "mnnconvert": "facade.convert.mnn:MnnConverter",
    "onnx2tf": "facade.convert.onnx2tf:Onnx2TfConverter",
    "coremltools": "facade.convert.coreml:CoreMlConverter",
    "snpe-onnx-to-dlc": "facade.convert.snpe:SnpeConverter",
})
# `facade convert --to FORMAT` names the format; each format has one converter.
BY_FORMAT: Mapping[str, str] = MappingProxyType({
    "ncnn": "pnnx", "mnn": "mnnconvert", "tflite": "onnx2tf", "coreml": "coremltools", "dlc": "snpe-onnx-to-dlc",
})
_instances: dict[str, Converter] = {}


def get_converter(name: str) -> Converter:
    """The converter called ``name`` (see :data:`CONVERTERS`), created on first use."""
    if name not in CONVERTERS:
        raise ConversionError(format_message("Unknown converter", received=repr(name), available=CONVERTERS))
    if name not in _instances:
        module, _, cls = CONVERTERS[name].partition(":")
        _instances[name] = getattr(importlib.import_module(module), cls)()
    return _instances[name]
