"""A TEST DOUBLE of the Qualcomm SNPE SDK's command-line contract. It is not SNPE, and never runs SNPE.

Facade's ``snpe:*`` targets drive the SDK's ``snpe-onnx-to-dlc`` and
``snpe-net-run`` executables. No SDK exists on this machine, so the contract
tests point ``SNPE_ROOT`` at a directory that :func:`install` writes, whose two
executables follow the SDK's documented formats as strictly as we can state them:

* ``$SNPE_ROOT/bin/x86_64-linux-clang/<tool>``: the SDK's layout (Qualcomm's "Run
  models" page runs ``${QAIRT_ROOT}/bin/x86_64-linux-clang/snpe-net-run``).
* ``snpe-onnx-to-dlc --input_network/-i ONNX [--output_path/-o DLC]``. The
  double's "DLC" is :data:`MAGIC` followed by the ONNX bytes: a stand-in, not
  Qualcomm's container format.
* ``snpe-net-run --container DLC --input_list LIST [--output_dir DIR] [--use_gpu|--use_dsp]``
  (``--container``/``--input_list`` required, output dir default ``./output``).
  Each non-comment line of the list is one inference: ``name:=path`` pairs
  separated by spaces (a bare path only for a one-input network); an optional
  first line starting with ``#`` or ``%`` names the outputs to write. Each input
  file is raw little-endian float32, its size exactly the tensor's, in the DLC's
  layout: 4-D tensors channels last (NHWC), as SNPE's "Input Image Formatting"
  page requires. Outputs go to ``<output_dir>/Result_<line>/<output name>.raw``,
  float32, 4-D ones NHWC; a ``/`` in a name makes a subdirectory.
* Anything else (an unknown flag, a missing file, a malformed line, a wrong
  size, a runtime the double is told is absent) exits non-zero with a message on
  stderr, as the real tool does.

The outputs are computed by ONNX Runtime on the ONNX bytes inside the double's
DLC, so a contract test checks facade's files and layouts, never SNPE's numerics.
Tests that use this double are named ``test_contract_*`` and never count as the
engine having run.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ARCH_DIR = "x86_64-linux-clang"
TOOLS = {"snpe-onnx-to-dlc": "onnx_to_dlc", "snpe-net-run": "net_run"}
# Comma-separated runtimes the double pretends the device has (default: all three).
RUNTIMES_ENV = "SNPE_DOUBLE_RUNTIMES"
# When set, each snpe-net-run call appends its argv as one JSON line to this file.
LOG_ENV = "SNPE_DOUBLE_LOG"


def install(root: Path) -> Path:
    """Write the double SDK under ``root`` (executables run by this interpreter); return ``root``."""
    bindir = root / "bin" / ARCH_DIR
    bindir.mkdir(parents=True, exist_ok=True)
    for tool, entry in TOOLS.items():
        script = bindir / tool
        script.write_text(
            f"#!{sys.executable}\n"
            "import sys\n"
            f"sys.path.insert(0, {str(HERE)!r})\n"
            f"from double import {entry}\n"
            f"sys.exit({entry}(sys.argv[1:]))\n")
        os.chmod(script, 0o755)
    return root
