import textwrap

import pytest

from facade.conformance import cases, runner

ADAPTERS = textwrap.dedent('''
    """Test-only adapters: one aborts its process, one hangs. Never installed: placed on the child's path."""
    import os
    import time

    from facade.adapters.base import Adapter, Availability, Runner


    class _AbortRunner(Runner):
        def _run(self, feeds, wanted):
            os.abort()


    class _HangRunner(Runner):
        def _run(self, feeds, wanted):
            time.sleep(600)


    class CrashAdapter(Adapter):
        engine = "crashtest"
        units = ("cpu",)

        def available(self, unit, facts):
            return Availability.yes("test adapter")

        def load(self, model, unit, options):
            return _AbortRunner("crashtest:cpu", model)


    class HangAdapter(CrashAdapter):
        engine = "hangtest"

        def load(self, model, unit, options):
            return _HangRunner("hangtest:cpu", model)
''')


@pytest.fixture
def test_adapters(tmp_path, monkeypatch):
    """Put the test adapters and a dist-info declaring their entry points on the *children's* path only."""
    site = tmp_path / "site"
    dist = site / "facade_conformance_test_adapters-0.0.dist-info"
    dist.mkdir(parents=True)
    (site / "facade_test_adapters.py").write_text(ADAPTERS)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: facade-conformance-test-adapters\nVersion: 0.0\n")
    (dist / "entry_points.txt").write_text("[facade.adapters]\ncrashtest = facade_test_adapters:CrashAdapter\n"
                                           "hangtest = facade_test_adapters:HangAdapter\n")
    monkeypatch.setenv("PYTHONPATH", str(site))
    return site


@pytest.fixture(scope="session")
def small_report():
    """Two built-in cases on the two targets every machine has, plus one unavailable column."""
    found = cases.collect(suites=["builtin"], pattern="builtin/[bs]*")
    cols = runner.parse_columns("onnxruntime:cpu,native:cpu,coreml:ane")
    return runner.Runner(cols, progress=False, timeout=120).run(found)
