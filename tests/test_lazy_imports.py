"""Knowing about engines never imports them: importing every facade module loads no engine."""

import subprocess
import sys

ENGINES = ["onnxruntime", "onnxruntime_qnn", "ai_edge_litert", "tflite_runtime", "ncnn", "MNN", "coremltools",
           "pyopencl", "tensorflow", "torch"]

CODE = f"""
import importlib, pkgutil, sys
import facade, facade.adapters, facade.native_fallback, facade.conformance
for pkg in (facade, facade.adapters, facade.conformance):
    for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
        if ".cli" in info.name or info.name.endswith("__main__") or "worker" in info.name:
            continue
        importlib.import_module(info.name)
facade.all_targets()
print(sorted(m for m in {ENGINES!r} if m in sys.modules))
"""


def test_importing_facade_and_listing_targets_imports_no_engine():
    done = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
