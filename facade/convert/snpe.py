"""ONNX to SNPE DLC with ``snpe-onnx-to-dlc`` from the Qualcomm AI runtime SDK (``$SNPE_ROOT``)."""

from __future__ import annotations

import os
import platform
import shutil
from collections.abc import Mapping
from pathlib import Path

import onnx

from facade.convert.base import Converter, move
from facade.targets import Availability

DLC = "model.dlc"


def _arch_dir() -> str:
    return "x86_64-linux-clang" if platform.machine() in ("x86_64", "AMD64") else "aarch64-android"


def sdk_tool(name: str) -> Path | None:
    """A tool of the SNPE SDK: ``$SNPE_ROOT/bin/<arch>-<os>/<name>``, else on PATH."""
    root = os.environ.get("SNPE_ROOT")
    if root:
        for candidate in (Path(root) / "bin" / _arch_dir() / name, *(Path(root) / "bin").glob(f"*/{name}")):
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return candidate
    found = shutil.which(name)
    return Path(found) if found else None


def sdk_availability(name: str) -> Availability:
    """Availability of SDK tool ``name``, saying where it was looked for when it is missing."""
    if sdk_tool(name) is not None:
        return Availability.yes()
    root = os.environ.get("SNPE_ROOT")
    where = (f"SNPE_ROOT={root} has no executable bin/{_arch_dir()}/{name}" if root
             else "SNPE_ROOT is not set")
    return Availability.no(f"the Qualcomm SNPE SDK is not installed ({where}, and {name} is not on PATH)")


def sdk_version() -> str:
    """The SDK's version from its root folder name (e.g. ``.../2.26.0.240828``) or ``unknown``."""
    root = os.environ.get("SNPE_ROOT")
    return Path(root).name if root else "unknown"


class SnpeConverter(Converter):
    name = "snpe-onnx-to-dlc"
    produces = "dlc"

    def available(self) -> Availability:
        return sdk_availability("snpe-onnx-to-dlc")

    def version(self) -> str:
        return sdk_version()

    def command(self, src: Path, workdir: Path, options: Mapping[str, object], prepared: onnx.ModelProto) -> list[str]:
        return [str(sdk_tool("snpe-onnx-to-dlc")), "--input_network", str(src), "--output_path", str(workdir / DLC)]

    def collect(self, workdir: Path, dest: Path, options: Mapping[str, object]) -> str:
        move(workdir, dest, DLC)
        return DLC
