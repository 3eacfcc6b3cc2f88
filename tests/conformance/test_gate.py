import copy

import pytest

from facade.conformance import gate
from facade.conformance.report import Report
from facade.conformance.verdicts import FAIL
from facade.session import Session
from facade.zoo.conformance import broadcasting


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FACADE_CACHE_DIR", str(tmp_path))
    yield tmp_path
    gate.clear_reports()


def _failing(report: Report, target: str) -> Report:
    """The small report with ``target`` failing fp32 tolerance on every case."""
    data = copy.deepcopy(report.to_dict())
    for r in data["runs"][0]["results"]:
        if r["target"] == target:
            r["verdict"] = FAIL
            for o in r["outputs"]:
                o["passes"] = dict.fromkeys(o["passes"], False)
                o["reasons"] = {"fp32": "scaled error 3.00e-03 > 1e-04"}
    return Report(data)


def test_router_never_picks_a_target_that_failed_here(small_report, cache):
    model = broadcasting(0)
    with Session(model) as sess:
        assert sess.target == "onnxruntime:cpu"  # default routing, no verdicts yet
    gate.store(_failing(small_report, "onnxruntime:cpu"))
    with Session(model) as sess:
        assert sess.target != "onnxruntime:cpu"
        entry = sess.explain().entry("onnxruntime:cpu")
        assert entry.status == "rejected" and "conformance: fail at fp32 tolerance" in entry.reason
        assert "scaled error 3.00e-03" in str(sess.explain())
    with Session(model, target="onnxruntime:cpu") as sess:  # forcing still works (conformance runs force)
        assert sess.target == "onnxruntime:cpu"


def test_a_report_passed_in_gates_too(small_report, cache):
    gate.use_report(_failing(small_report, "onnxruntime:cpu"))
    with Session(broadcasting(0)) as sess:
        assert sess.target != "onnxruntime:cpu"
    gate.clear_reports()
    with Session(broadcasting(0)) as sess:
        assert sess.target == "onnxruntime:cpu"
