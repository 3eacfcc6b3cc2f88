"""The quantizer's child process: ORT's pre-processing, then its QDQ quantizer (run as a script).

Usage: ``python child.py SRC DEST CALIBRATION.npz OPTIONS_JSON``. Imports only onnx,
numpy and onnxruntime (never facade), so a quantizer crash or hang ends here. The
calibration file holds arrays ``s<i>_<k>``: sample ``i``, input ``k`` in model order.
"""

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnx.version_converter
from onnxruntime.quantization import (
    CalibrationDataReader,
    QuantFormat,
    QuantType,
    quantize,
    quantize_dynamic,
    quantize_static,
)
from onnxruntime.quantization.execution_providers.qnn import get_qnn_qdq_config
from onnxruntime.quantization.shape_inference import quant_pre_process

# ONNX Runtime 1.32 implements QuantizeLinear/DequantizeLinear up to opset 21 (the quantizer writes the
# model's own opset: DequantizeLinear-28 at onnx's default opset, which ORT then cannot load).
MAX_OPSET = 21
ACTIVATIONS = {"uint8": QuantType.QUInt8, "uint16": QuantType.QUInt16}


class Reader(CalibrationDataReader):
    def __init__(self, path, names):
        with np.load(path) as data:
            count = len({k.split("_", 1)[0] for k in data.files})
            self.samples = [{n: data[f"s{i}_{k}"] for k, n in enumerate(names)} for i in range(count)]
        self.index = 0

    def get_next(self):
        if self.index >= len(self.samples):
            return None
        self.index += 1
        return self.samples[self.index - 1]

    def rewind(self):
        self.index = 0


def main(src, dest, calibration, options):
    options = json.loads(options)
    model = onnx.load(src)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    with tempfile.TemporaryDirectory() as tmp:
        if opset > MAX_OPSET:
            model = onnx.version_converter.convert_version(model, MAX_OPSET)
            print(f"facade: opset {opset} -> {MAX_OPSET} before quantizing")
        pre = str(Path(tmp) / "pre.onnx")
        onnx.save(model, str(Path(tmp) / "in.onnx"))
        try:
            quant_pre_process(str(Path(tmp) / "in.onnx"), pre)
        except Exception as e:  # ORT's symbolic shape inference asserts on some exports (a Reshape of unknown rank)
            print(f"facade: symbolic shape inference failed ({type(e).__name__}: {e}); pre-processing without it")
            quant_pre_process(str(Path(tmp) / "in.onnx"), pre, skip_symbolic_shape=True)
        names = [i.name for i in onnx.load(pre).graph.input
                 if i.name not in {t.name for t in onnx.load(pre).graph.initializer}]
        if options["scheme"] == "dynamic":
            quantize_dynamic(pre, dest, weight_type=QuantType.QInt8, per_channel=options["per_channel"])
            return
        reader = Reader(calibration, names)
        activations = ACTIVATIONS[options["activations"]]
        if options["flavour"] == "qnn":
            config = get_qnn_qdq_config(pre, reader, activation_type=activations, weight_type=QuantType.QUInt8,
                                        per_channel=options["per_channel"])
            quantize(pre, dest, config)
            return
        extra = {"UseQDQContribOps": True} if activations == QuantType.QUInt16 and opset < MAX_OPSET else {}
        quantize_static(pre, dest, reader, quant_format=QuantFormat.QDQ, activation_type=activations,
                        weight_type=QuantType.QInt8, per_channel=options["per_channel"], extra_options=extra)


if __name__ == "__main__":
    main(*sys.argv[1:5])
