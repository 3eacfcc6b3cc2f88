"""The Markdown summary cuts long reasons at a word boundary with an ellipsis, on one line, pipes escaped."""

import copy
import re

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
    row = next(line for line in md.splitlines() if "coreml:ane" in line)
    reason = re.search(r"- \((.*)\) \|$", row)[1]
    assert reason.endswith(" …") and len(reason) <= REASON_CHARS + 4  # + the escaped pipes
    kept = reason.removesuffix(" …").replace("\\|", "|")
    assert " ".join(LONG.split()).startswith(kept) and " ".join(LONG.split())[len(kept)] == " "  # a whole word
    why = next(line for line in md.splitlines() if f"| {result['case']} |" in line and "error" in line)
    assert "ncnn has no layer ArgMax." in why and why.endswith(" … |") and "\\| ncnn has" in why
    assert len(why.rsplit(" | ", 1)[0]) < len(why) <= 200 + WHY_CHARS
