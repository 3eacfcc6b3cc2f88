"""The HTML page: unavailable columns hidden behind a toggle, an all-errored column's reason in the summary,
tolerance labels that do not overlap."""

import copy
import itertools
import re
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest

from facade.conformance import cases, runner
from facade.conformance.html import COLOURS, to_html
from facade.conformance.verdicts import UNAVAILABLE


class _Page(HTMLParser):
    """Elements by class, the text of the summary section, and whether it sits inside <details>."""

    def __init__(self):
        super().__init__()
        self.classes: list[tuple[str, set[str], dict]] = []
        self.section, self.summary_text, self.details_depth, self.summary_in_details = "", [], 0, False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.classes.append((tag, set((attrs.get("class") or "").split()), attrs))
        self.details_depth += tag == "details"

    def handle_endtag(self, tag):
        self.details_depth -= tag == "details"

    def handle_data(self, data):
        if self.classes and self.classes[-1][0] == "h2":
            self.section = data
        elif self.section == "Summary":
            self.summary_text.append(data)
            self.summary_in_details |= self.details_depth > 0


def _parse(page: str) -> _Page:
    parsed = _Page()
    parsed.feed(page)
    return parsed


@pytest.fixture(scope="module")
def errored_report(tmp_path_factory):
    """onnxruntime:cpu, a target that aborts on every case (a real crash in its child), and one unavailable."""
    from tests.conformance.conftest import ADAPTERS

    site = tmp_path_factory.mktemp("site")
    dist = site / "facade_conformance_test_adapters-0.0.dist-info"
    dist.mkdir()
    (site / "facade_test_adapters.py").write_text(ADAPTERS)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: facade-conformance-test-adapters\nVersion: 0.0\n")
    (dist / "entry_points.txt").write_text("[facade.adapters]\ncrashtest = facade_test_adapters:CrashAdapter\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHONPATH", str(site))
        found = cases.collect(suites=["builtin"], pattern="builtin/[bs]*")
        cols = runner.parse_columns("onnxruntime:cpu,crashtest:cpu,coreml:ane")
        return runner.Runner(cols, progress=False, timeout=120).run(found)


def test_unavailable_columns_are_hidden_by_default_behind_a_toggle(errored_report):
    page = to_html(errored_report)
    parsed = _parse(page)
    box = [a for tag, _, a in parsed.classes if tag == "input" and a.get("id") == "show-unavailable"]
    assert box and box[0]["type"] == "checkbox" and "checked" not in box[0]
    assert re.search(r"body:not\(\.show-unavailable\) \.unavail[,{][^}]*display:none", page)
    assert "getElementById('show-unavailable')" in page and "classList.toggle('show-unavailable'" in page
    hidden = [(tag, a) for tag, cls, a in parsed.classes if "unavail" in cls]
    assert [tag for tag, _ in hidden].count("tr") == 1  # coreml:ane's summary row
    coreml = [(tag, cls) for tag, cls, a in parsed.classes if "Core ML" in a.get("title", "")]
    assert {tag for tag, _ in coreml} == {"th", "td"} and all("unavail" in cls for _, cls in coreml)
    live = [cls for tag, cls, a in parsed.classes if tag == "th" and "col" in cls and "Core ML" not in a["title"]]
    assert len(live) == 2 and not any("unavail" in cls for cls in live)  # onnxruntime:cpu and crashtest:cpu
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=|@import|(?<!xmlns=')https?://", page)  # all inline


def test_a_page_with_every_column_available_has_no_toggle(small_report):
    data = copy.deepcopy(small_report.to_dict())  # the fixture is shared by the session
    data["runs"][0]["columns"] = [c for c in data["runs"][0]["columns"] if c["available"]]
    page = to_html(type(small_report)(data))
    assert "show-unavailable'" not in page.split("<style>")[0] and "id=show-unavailable" not in page


def test_a_column_whose_every_case_errored_shows_its_reason_in_the_summary(errored_report):
    parsed = _parse(to_html(errored_report))
    summary = " ".join(parsed.summary_text)
    n = len({r.case for _, r in errored_report.results()})
    assert f"every case errored ({n}): " in summary and "SIGABRT" in summary
    assert not parsed.summary_in_details  # in the open summary, not a collapsed section
    assert "onnxruntime:cpu@fp32" in summary and summary.count("every case errored") == 1


def test_tolerance_bound_labels_do_not_overlap(small_report):
    page = to_html(small_report)
    labels = {m[1]: float(m[0]) for m in re.findall(r"<text x='[\d.]+' y='([\d.]+)' font-size='11'>(\w+) bound", page)}
    assert set(labels) == {"fp32", "fp16", "int8"}
    ys = sorted(labels.values())
    assert all(b - a >= 11 for a, b in itertools.pairwise(ys))  # one 11 px line of text apart


def test_the_toggle_shows_the_unavailable_columns_in_chromium(errored_report, tmp_path):
    from PIL import Image

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser, "chromium is required (scripts/setup installs it)"
    page = tmp_path / "page.html"
    page.write_text(to_html(errored_report))

    def grey_pixels(url: str, name: str) -> int:
        shot = tmp_path / f"{name}.png"
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        "--no-first-run", f"--user-data-dir={tmp_path / name}", f"--screenshot={shot}",
                        "--window-size=1280,900", url], check=True, capture_output=True, timeout=120)
        pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3).astype(int)
        want = np.array([int(COLOURS[UNAVAILABLE][i:i + 2], 16) for i in (1, 3, 5)])
        return int(np.sum(np.all(np.abs(pixels - want) <= 4, axis=1)))

    default = grey_pixels(page.as_uri(), "default")
    shown = grey_pixels(page.as_uri() + "#all", "all")
    assert shown > default + 2000  # the unavailable summary row and matrix cells appear (the legend is grey in both)
