"""Device facts: what hardware this process runs on, found cheaply and safely.

Detection reads files and package metadata in-process; anything that loads a GPU
driver (Vulkan, OpenCL) runs in a child process with a timeout (see
:mod:`facade.gpu_probe`), because a broken driver may crash or hang whoever loads
it. Results are cached for the life of the process.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import platform
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from facade import childproc

_SOFTWARE_VULKAN = ("llvmpipe", "lavapipe", "swiftshader")
_X86_FEATURES = {"avx2": "avx2", "fma": "fma", "f16c": "f16c", "avx512f": "avx512f",
                 "avx512_vnni": "avx512_vnni", "avx_vnni": "avx_vnni", "avx512_bf16": "avx512_bf16",
                 "amx_tile": "amx"}
_ARM_FEATURES = {"asimd": "neon", "asimddp": "dotprod", "asimdhp": "fp16", "fphp": "fp16",
                 "i8mm": "i8mm", "sve": "sve", "bf16": "bf16"}


@dataclass(frozen=True)
class GpuDevice:
    """One device behind a GPU compute API (Vulkan or OpenCL)."""

    api: str
    name: str
    vendor: str
    type: str  # integrated | discrete | virtual | cpu | gpu | other
    driver_version: str

    @property
    def software(self) -> bool:
        """True when the "GPU" is really the CPU: a software rasterizer or a CPU OpenCL driver."""
        return self.type == "cpu" or any(s in self.name.lower() for s in _SOFTWARE_VULKAN)


@dataclass(frozen=True)
class Accelerator:
    """An NPU or DSP runtime found on this device, and whether it is only a simulator."""

    kind: str  # qnn-htp | qnn-gpu | snpe | nnapi | ane
    detail: str
    simulated: bool = False


@dataclass(frozen=True)
class DeviceFacts:
    """What detection found. ``fingerprint`` identifies the hardware/driver combination."""

    os: str
    arch: str
    cpu_model: str
    cores: int
    clusters: tuple[tuple[int, ...], ...]
    big_cores: int
    cpu_features: tuple[str, ...]
    gpus: tuple[GpuDevice, ...]
    accelerators: tuple[Accelerator, ...]
    android_api: int | None = None
    soc: str = ""
    probe_errors: tuple[str, ...] = field(default=())

    @property
    def fingerprint(self) -> str:
        stable = asdict(self)
        del stable["probe_errors"]
        return hashlib.sha256(json.dumps(stable, sort_keys=True).encode()).hexdigest()[:16]

    def gpu_devices(self, api: str) -> list[GpuDevice]:
        return [g for g in self.gpus if g.api == api]

    def accelerator(self, kind: str) -> Accelerator | None:
        return next((a for a in self.accelerators if a.kind == kind), None)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["fingerprint"] = self.fingerprint
        return d


def _os_name() -> str:
    if hasattr(sys, "getandroidapilevel") or os.environ.get("ANDROID_ROOT"):
        return "android"
    return {"darwin": "macos", "win32": "windows", "ios": "ios", "android": "android"}.get(
        sys.platform, "linux" if sys.platform.startswith("linux") else sys.platform
    )


def _arch() -> str:
    m = platform.machine().lower()
    return {"amd64": "x86_64", "aarch64": "arm64", "armv8l": "arm64"}.get(m, m)


def _read(path: str) -> str:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""


def _cpuinfo() -> tuple[str, tuple[str, ...], str]:
    """CPU model, normalized ISA features and SoC string from /proc/cpuinfo (Linux/Android)."""
    text = _read("/proc/cpuinfo")
    model, soc, flags = platform.processor(), "", set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip().lower(), value.strip()
        if key in ("model name", "cpu model") and not model:
            model = value
        elif key == "model name":
            model = model or value
        elif key == "hardware":
            soc = value
        elif key in ("flags", "features"):
            table = _X86_FEATURES if key == "flags" else _ARM_FEATURES
            flags |= {table[f] for f in value.split() if f in table}
    if not text and sys.platform == "darwin" and _arch() == "arm64":
        flags |= {"neon", "dotprod", "fp16"}
    return model or platform.machine(), tuple(sorted(flags)), soc


def _clusters(cores: int) -> tuple[tuple[tuple[int, ...], ...], int]:
    """Group cores by max frequency (big.LITTLE); the fastest group is the big cluster."""
    freq: dict[int, list[int]] = {}
    for cpu in range(cores):
        khz = _read(f"/sys/devices/system/cpu/cpu{cpu}/cpufreq/cpuinfo_max_freq").strip()
        if not khz.isdigit():
            return (tuple(range(cores)),), cores
        freq.setdefault(int(khz), []).append(cpu)
    groups = [tuple(freq[k]) for k in sorted(freq)]
    return tuple(groups), len(groups[-1])


def _probe_gpus(api: str) -> tuple[list[GpuDevice], str | None]:
    """Run :mod:`facade.gpu_probe` in a child so a crashing driver cannot take us down."""
    script = Path(__file__).with_name("gpu_probe.py")
    limit = childproc.timeout("device")
    try:
        done = childproc.run([sys.executable, "-I", str(script), api], timeout_s=limit)
    except OSError as e:
        return [], f"{api}: the probe could not start: {e}"
    if done.hung:
        return [], f"{api}: probe hung for more than {limit:.0f} s"
    if not done.ok:
        return [], f"{api}: {done.last_line(limit=10_000) or f'exit status {done.returncode}'}"
    try:
        raw = json.loads(done.stdout)
    except json.JSONDecodeError:
        return [], f"{api}: probe printed no JSON"
    return [
        GpuDevice(api=api, name=d.get("name", ""), vendor=str(d.get("vendor", d.get("vendor_id", ""))),
                  type=d.get("type", "other"), driver_version=str(d.get("driver_version", "")))
        for d in raw
    ], None


def package_dir(module: str) -> Path | None:
    """Where an installed package lives, found without importing it."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    return Path(spec.origin).parent if spec and spec.origin else None


def _accelerators(os_name: str, arch: str, android_api: int | None) -> list[Accelerator]:
    found = []
    qnn = package_dir("onnxruntime_qnn")
    if qnn is not None and any((qnn / lib).exists() for lib in ("libQnnHtp.so", "QnnHtp.dll")):
        # The HTP backend shipped for x86-64 is Qualcomm's simulator: real, but slow.
        simulated = arch != "arm64"
        found.append(Accelerator("qnn-htp", "QNN HTP backend (onnxruntime-qnn)" + (", x86-64 simulator" if simulated else ""), simulated))
    snpe_root = os.environ.get("SNPE_ROOT") or os.environ.get("QNN_SDK_ROOT")
    if snpe_root and Path(snpe_root, "bin").is_dir():
        found.append(Accelerator("snpe", f"Qualcomm AI runtime SDK at {snpe_root}", arch != "arm64"))
    if os_name == "android" and (android_api or 0) >= 27:
        found.append(Accelerator("nnapi", f"Android NNAPI (API level {android_api})"))
    if os_name in ("macos", "ios") and arch == "arm64":
        found.append(Accelerator("ane", "Apple Neural Engine (Apple silicon)"))
    return found


def _android_api() -> int | None:
    if hasattr(sys, "getandroidapilevel"):
        return int(sys.getandroidapilevel())
    for line in _read("/system/build.prop").splitlines():
        if line.startswith("ro.build.version.sdk="):
            return int(line.split("=", 1)[1])
    return None


@functools.lru_cache(maxsize=1)
def devices() -> DeviceFacts:
    """Detect this device's facts once per process.

    Returns:
        A frozen :class:`DeviceFacts`: OS, CPU arch, core clusters, ISA features,
        Vulkan/OpenCL devices, NPUs/DSPs, and a stable ``fingerprint``.

    Detection never raises: a probe that fails or hangs is recorded in
    ``probe_errors`` and the rest of the facts are still returned.

    Example:
        >>> facts = facade.devices()
        >>> facts.arch, [g.name for g in facts.gpus]
    """
    os_name, arch = _os_name(), _arch()
    model, features, soc = _cpuinfo()
    cores = os.cpu_count() or 1
    clusters, big = _clusters(cores)
    android_api = _android_api() if os_name == "android" else None
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(_probe_gpus, ["vulkan", "opencl"]))
    gpus = tuple(g for found, _ in results for g in found)
    errors = tuple(err for _, err in results if err)
    return DeviceFacts(
        os=os_name, arch=arch, cpu_model=model, cores=cores, clusters=clusters, big_cores=big,
        cpu_features=features, gpus=gpus,
        accelerators=tuple(_accelerators(os_name, arch, android_api)),
        android_api=android_api, soc=soc, probe_errors=errors,
    )
