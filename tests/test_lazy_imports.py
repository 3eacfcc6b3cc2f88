"""Knowing about engines never imports them: importing every facade module loads no engine.

Every module means every file of the four folders (the same list as
tests/test_import_layers.py), CLI and native subpackages included. The only
modules left out are those whose one job is to drive an engine, listed below with
why; nothing on the way to routing imports them.
"""

import subprocess
import sys

from tests.test_import_layers import MODULES

ENGINES = ["onnxruntime", "onnxruntime_qnn", "ai_edge_litert", "tflite_runtime", "ncnn", "MNN", "coremltools",
           "pyopencl", "tensorflow", "torch"]
# Modules that are an engine's own binding, imported only when that engine runs.
ENGINE_BINDINGS = {
    "facade.native_fallback.opencl.runtime": "the native engine's OpenCL runtime: it is the pyopencl binding",
    "facade.native_fallback.opencl.ops": "OpenCL kernels, built on the runtime above",
    "facade.native_fallback.opencl.program": "the OpenCL program, imported by native_fallback.compile for a device",
    "facade.quantization.child": "the quantization child process's entry point, run only in that child",
}

CODE = """
import importlib, sys
names, engines = sys.argv[1].split(","), sys.argv[2].split(",")
import facade
for name in names:
    importlib.import_module(name)
facade.all_targets()
print(sorted(m for m in engines if m in sys.modules))
"""


def test_importing_every_module_and_listing_targets_imports_no_engine():
    names = sorted(m for m in MODULES if m not in ENGINE_BINDINGS and not m.endswith("__main__"))
    assert {"facade.cli.bench", "facade.native_fallback.ops.conv", "facade.conformance.worker"} & set(names)
    done = subprocess.run([sys.executable, "-c", CODE, ",".join(names), ",".join(ENGINES)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_engine_bindings_are_modules():
    assert set(ENGINE_BINDINGS) <= set(MODULES)
