"""The Markdown summary: unavailable columns listed under the table, not as rows; long reasons cut at a word."""

import copy

from facade.conformance.markdown import REASON_CHARS, WHY_CHARS, to_markdown
from facade.conformance.report import Report
from facade.conformance.verdicts import ERROR

LONG = ("this onnxruntime build has no XnnpackExecutionProvider (it has AzureExecutionProvider, "
        "CPUExecutionProvider) | and a pipe; ") * 4


def test_long_reasons_are_cut_at_a_word_with_an_ellipsis(small_report):
    data = copy.deepcopy(small_report.to_dict())
    run = data["runs"][0]
    next(c for c in run["columns"] if not c["available"])["reason"] = LONG
    result = run["results"][0]
    result.update(verdict=ERROR, error="ConversionError: ncnn:cpu | ncnn has no layer ArgMax.\n" + LONG)
    md = to_markdown(Report(data))
    assert not any(line.startswith("|") and "coreml:ane" in line for line in md.splitlines())  # not a table row
    row = next(line for line in md.splitlines() if line.startswith("- ") and "coreml:ane@fp32" in line)
    reason = row.split("coreml:ane@fp32: ", 1)[1]
    assert reason.endswith(" …") and len(reason) <= REASON_CHARS
    kept = reason.removesuffix(" …")
    assert " ".join(LONG.split()).startswith(kept) and " ".join(LONG.split())[len(kept)] == " "  # a whole word
    why = next(line for line in md.splitlines() if f"| {result['case']} |" in line and "error" in line)
    assert "ncnn has no layer ArgMax." in why and why.endswith(" … |") and "\\| ncnn has" in why
    assert len(why.rsplit(" | ", 1)[0]) < len(why) <= 200 + WHY_CHARS
