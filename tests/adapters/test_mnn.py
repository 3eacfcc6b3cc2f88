import subprocess
import sys

import facade
from facade.devices import devices
from facade.router import target_availability
from facade.zoo import small as models

from .engine_suite import EngineSuite


class TestMnnCpu(EngineSuite):
    target = "mnn:cpu"


def test_gpu_backends_missing_from_the_wheel_are_reported_not_faked():
    for unit in ("opencl", "vulkan"):
        avail, _, _ = target_availability(f"mnn:{unit}", devices())
        if not avail:
            assert "no" in avail.reason and unit in avail.reason.lower()


def _freeze() -> str:
    return subprocess.run([sys.executable, "-m", "pip", "freeze"], capture_output=True, text=True).stdout


def test_conversion_leaves_the_environment_unchanged():
    """MNN's mnnconvert wrapper pip-installs a logging SDK (downgrading protobuf); facade never calls it."""
    before = _freeze()
    facade.Session(models.cnn(seed=11), target="mnn:cpu")
    assert _freeze() == before
    assert "aliyun" not in before
