"""Facade: one Session/Tensor API over on-device inference engines.

>>> import facade
>>> sess = facade.Session("model.onnx")       # routed to the best target here
>>> out = sess.run({"input": x})               # numpy in, numpy out
>>> sess.target, print(sess.explain())         # where it ran, and why
"""

from facade.adapters.base import Adapter, Runner
from facade.adapters.catalogue import all_targets
from facade.adapters.catalogue import lookup as target_info
from facade.adapters.registry import register_adapter
from facade.devices import DeviceFacts, devices
from facade.errors import (
    ArgumentError,
    ConversionError,
    EngineError,
    FacadeError,
    FacadeInternalError,
    InputError,
    ModelError,
    NoTargetError,
    PolicyError,
    SessionStateError,
    TargetError,
    TargetUnavailableError,
    UnknownTargetError,
    UnsupportedModelError,
)
from facade.model import Model, load_model
from facade.offline import silence_this_process
from facade.quantization import CalibrationError, QuantizedModel, quantize
from facade.router import plan, target_availability
from facade.session import Session
from facade.targets import Availability, LoadOptions
from facade.tensor import Tensor, TensorSpec
from facade.trace import Trace

# Engines are imported only when used (never above), so this runs before any of them starts:
# ONNX Runtime reads its telemetry switch once, when it is first imported.
silence_this_process()

__version__ = "0.1.0"

__all__ = [
    "Adapter", "ArgumentError", "Availability", "CalibrationError", "ConversionError", "DeviceFacts", "EngineError",
    "FacadeError", "FacadeInternalError", "InputError", "LoadOptions", "Model", "ModelError", "NoTargetError",
    "PolicyError", "QuantizedModel", "Runner", "Session", "SessionStateError", "TargetError",
    "TargetUnavailableError", "Tensor", "TensorSpec", "Trace", "UnknownTargetError", "UnsupportedModelError",
    "__version__", "all_targets", "devices", "load_model", "plan", "quantize", "register_adapter", "target_availability",
    "target_info",
]
