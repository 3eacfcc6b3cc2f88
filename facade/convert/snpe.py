"""ONNX to SNPE DLC with ``snpe-onnx-to-dlc`` from the Qualcomm AI runtime SDK (``$SNPE_ROOT``)."""

from __future__ import annotations

import os
import platform
import shutil
from collections.abc import Mapping
from pathlib import Path

import onnx

from facade.adapters.base import Availability
from facade.convert.base import Converter, move

DLC = "model.dlc"


def sdk_tool(name: str) -> Path | None:
    """A tool of the SNPE SDK: ``$SNPE_ROOT/bin/<arch>-<os>/<name>``, else on PATH."""
    root = os.environ.get("SNPE_ROOT")
    if root:
        arch = "x86_64-linux-clang" if platform.machine() in ("x86_64", "AMD64") else "aarch64-android"
        for candidate in (Path(root) / "bin" / arch / name, *(Path(root) / "bin").glob(f"*/{name}")):
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return candidate
    found = shutil.which(name)
    return Path(found) if found else None


def sdk_version() -> str:
    """The SDK's version from its root folder name (e.g. ``.../2.26.0.240828``) or ``unknown``."""
    root = os.environ.get("SNPE_ROOT")
    return Path(root).name if root else "unknown"


class SnpeConverter(Converter):
    name = "snpe-onnx-to-dlc"
    produces = "dlc"

    def available(self) -> Availability:
        if sdk_tool("snpe-onnx-to-dlc") is None:
            return Availability.no("the Qualcomm SNPE SDK is not installed (set SNPE_ROOT to it)")
        return Availability.yes()

    def version(self) -> str:
        return sdk_version()

    def command(self, src: Path, workdir: Path, options: Mapping[str, object], prepared: onnx.ModelProto) -> list[str]:
        return [str(sdk_tool("snpe-onnx-to-dlc")), "--input_network", str(src), "--output_path", str(workdir / DLC)]

    def collect(self, workdir: Path, dest: Path, options: Mapping[str, object]) -> str:
        move(workdir, dest, DLC)
        return DLC
