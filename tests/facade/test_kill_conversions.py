"""SIGKILL during ncnn and MNN conversions leaves nothing a later Session trusts wrongly.

Runs ``benchmarks/kill_conversions.py`` for four trials per format (the converter child,
the facade parent, both, then the child again, killed at random moments), in its own process with its own
cache. Before the fix, a converter killed from outside was cached as the model's refusal
("pnnx rejected this model") and turned every later Session away.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from facade.convert import BY_FORMAT, get_converter

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "kill_conversions.py"


@pytest.mark.parametrize("fmt", ["ncnn", "mnn"])
def test_random_sigkills_leave_no_misleading_cache_entry(fmt):
    avail = get_converter(BY_FORMAT[fmt]).available()
    if not avail:
        pytest.skip(f"the {fmt} converter is not available: {avail.reason}")
    done = subprocess.run([sys.executable, str(SCRIPT), "--trials", "4", "--formats", fmt, "--seed", "3", "--json"],
                          capture_output=True, text=True, timeout=300)
    report = json.loads(done.stdout[done.stdout.index("{"):])[fmt]
    assert report["failures"] == [], report["failures"]
    assert done.returncode == 0 and report["passed"] == report["trials"] == 4
    # The test means something only if the kills landed while the conversion ran.
    assert report["killed"].get("child", 0) + report["killed"].get("both", 0) >= 1, report["killed"]
