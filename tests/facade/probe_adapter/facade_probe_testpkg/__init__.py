"""A test-only adapter whose "driver" aborts or hangs on load, registered through the entry-point group.

It is only importable when tests put ``tests/facade/probe_adapter`` on PYTHONPATH
for a child process, so it never appears as a product target. Every load appends
the unit to ``$FACADE_TEST_PROBE_LOG``, so tests can count how often it was probed.
"""

import os
import time

from facade.adapters.base import Adapter, Availability
from facade.targets import HardwareClass


class CrashingAdapter(Adapter):
    """``probetest:abort`` calls os.abort() on load; ``probetest:hang`` sleeps for an hour;
    ``probetest:raise`` raises an ordinary error, as a driver wrapper that refuses cleanly."""

    engine = "probetest"
    units = ("abort", "hang", "raise")
    unit_classes = {"abort": HardwareClass.GPU, "hang": HardwareClass.GPU, "raise": HardwareClass.GPU}  # noqa: RUF012

    def available(self, unit, facts):
        return Availability.yes("test adapter (tests/facade/probe_adapter)")

    def load(self, model, unit, options):
        with open(os.environ["FACADE_TEST_PROBE_LOG"], "a") as log:
            log.write(f"{unit} {os.getpid()}\n")
        if unit == "abort":
            os.abort()
        if unit == "raise":
            raise RuntimeError("the test driver refuses this device")
        time.sleep(3600)
        raise AssertionError("unreachable: the probe's timeout kills this process")
