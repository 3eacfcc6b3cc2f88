import pytest

from facade import all_targets
from facade.adapters import registry
from facade.conformance import cases, report, runner
from facade.conformance.verdicts import ERROR, LOWER, PASS
from facade.errors import InputError


def test_small_run_validates_and_records_everything(small_report):
    data = small_report.to_dict()
    report.validate(data)
    run = data["runs"][0]
    assert {c["id"] for c in run["cases"]} == {"builtin/broadcasting", "builtin/several_outputs",
                                              "builtin/small_classifier"}
    assert all(c["oracle"] == "native-float64" and len(c["inputs_sha256"]) == 64 for c in run["cases"])
    columns = {c["target"]: c for c in run["columns"]}
    assert (columns["coreml:ane"]["available"] is False and "macOS" in columns["coreml:ane"]["reason"]) or \
        "coreml" in columns["coreml:ane"]["reason"]
    results = list(small_report.results())
    assert len(results) == 6 and all(r.verdict == PASS for _, r in results), [r.to_dict() for _, r in results]
    assert all(r.run_ms is not None and r.load_ms is not None for _, r in results)
    assert run["engines"]["onnxruntime"] and run["packages"]["onnx"]
    assert bool(small_report)


def test_inputs_are_replayable_from_the_seed():
    a, b = (cases.builtin_cases(seed=3)[0].build() for _ in range(2))
    c = cases.builtin_cases(seed=4)[0].build()
    assert cases.feeds_digest(a.feeds) == cases.feeds_digest(b.feeds) != cases.feeds_digest(c.feeds)


def test_columns_come_from_the_registry():
    cols = runner.parse_columns("all,ncnn:cpu@fp16")
    assert [c.target for c in cols[:len(all_targets())]] == all_targets()
    assert runner.Column("ncnn:cpu", "fp16") in cols
    with pytest.raises(InputError, match="precision"):
        runner.parse_columns("onnxruntime:cpu@fp8")


def test_crashing_target_is_an_error_with_the_signal_and_the_run_goes_on(test_adapters):
    assert "crashtest" not in registry.engines()  # never a product target in this process
    found = cases.collect(suites=["builtin"], pattern="builtin/[bd]*")
    rep = runner.Runner(runner.parse_columns("crashtest:cpu,onnxruntime:cpu"), progress=False).run(found)
    report.validate(rep.to_dict())
    got = {(r.case, r.target): r for _, r in rep.results()}
    for case in ("builtin/broadcasting", "builtin/dynamic_shapes"):
        crash = got[(case, "crashtest:cpu")]
        assert crash.verdict == ERROR and crash.signal == "SIGABRT" and "killed by SIGABRT" in crash.error
        assert got[(case, "onnxruntime:cpu")].verdict == PASS


def test_hanging_target_times_out(test_adapters):
    found = cases.collect(suites=["builtin"], pattern="builtin/broadcasting")
    rep = runner.Runner(runner.parse_columns("hangtest:cpu"), progress=False, timeout=3).run(found)
    (_, r), = rep.results()
    assert r.verdict == ERROR and "timed out after 3 s" in r.error


def test_ncnn_at_its_default_precision_passes_at_fp16_not_fp32():
    found = cases.collect(suites=["builtin"], pattern="builtin/small_classifier")
    rep = runner.Runner([runner.Column("ncnn:cpu", "fp16")], progress=False).run(found)
    (_, r), = rep.results()
    assert r.verdict == LOWER and r.lower_precision == "fp16", r.to_dict()
    assert r.passes_at("fp16") and not r.passes_at("fp32")
    assert 1e-4 < r.worst_scaled_error < 8e-2


def test_a_recorded_conversion_failure_stays_an_error_on_the_next_run():
    """MNN's converter gets builtin/broadcasting wrong (max relative error 1): the first run converts and
    measures it, the second finds the verdict recorded with the artifact; both are errors, not unavailable."""
    found = cases.collect(suites=["builtin"], pattern="builtin/broadcasting")
    for _ in range(2):
        rep = runner.Runner([runner.Column("mnn:cpu", "fp32")], progress=False).run(found)
        (_, r), = rep.results()
        assert r.verdict == ERROR and "diverged" in r.error, r.to_dict()
