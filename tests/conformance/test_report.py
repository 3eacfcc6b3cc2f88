import copy
import json
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from facade.conformance.html import COLOURS, to_html
from facade.conformance.markdown import to_markdown
from facade.conformance.report import Report, ReportError, diff, merge, validate
from facade.conformance.verdicts import FAIL, PASS

ROOT = Path(__file__).resolve().parents[2]


def _as_device(report: Report, fingerprint: str) -> Report:
    data = copy.deepcopy(report.to_dict())
    for run in data["runs"]:
        run["device"].update(fingerprint=fingerprint, fingerprint_source="override")
    return Report(data)


def _worsen(report: Report, case: str, target: str) -> Report:
    data = copy.deepcopy(report.to_dict())
    for r in data["runs"][0]["results"]:
        if r["case"] == case and r["target"] == target:
            r["verdict"] = FAIL
            for o in r["outputs"]:
                o["passes"] = dict.fromkeys(o["passes"], False)
                o["reasons"] = {"fp32": "scaled error 3.00e-03 > 1e-04"}
    return Report(data)


def test_save_load_and_schema(small_report, tmp_path):
    path = small_report.save(tmp_path / "r.json")
    assert Report.load(path).to_dict() == small_report.to_dict()
    bad = json.loads(path.read_text())
    bad["runs"][0]["results"][0]["verdict"] = "maybe"
    with pytest.raises(ReportError, match="verdict"):
        validate(bad)
    bad["version"] = 99
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(ReportError, match="version"):
        Report.load(tmp_path / "bad.json")


def test_merge_joins_devices_and_diff_finds_regressions(small_report):
    a, b = _as_device(small_report, "phone-a"), _as_device(small_report, "phone-b")
    fleet = merge([a, b])
    validate(fleet.to_dict())
    assert [r["device"]["fingerprint"] for r in fleet.runs] == ["phone-a", "phone-b"]
    assert len(list(fleet.results())) == 2 * len(list(small_report.results()))
    worse = _worsen(a, "builtin/broadcasting", "native:cpu")
    found = diff(a, worse)
    assert [(r["case"], r["target"], r["old"], r["new"]) for r in found["regressions"]] == [
        ("builtin/broadcasting", "native:cpu", PASS, FAIL)]
    assert diff(worse, a)["improvements"] and not diff(a, a)["regressions"]


class _Cells(HTMLParser):
    def __init__(self):
        super().__init__()
        self.verdicts, self.external = [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "data-verdict" in attrs:
            self.verdicts.append(attrs["data-verdict"])
        for key in ("src", "href"):
            if attrs.get(key, "#").split("#")[0]:
                self.external.append(attrs[key])


def _fleet(small_report) -> Report:
    return merge([_as_device(small_report, "phone-a"),
                  _worsen(_as_device(small_report, "phone-b"), "builtin/broadcasting", "native:cpu")])


def test_html_matrix_and_markdown(small_report):
    fleet = _fleet(small_report)
    page = to_html(fleet)
    cells = _Cells()
    cells.feed(page)
    assert sorted(cells.verdicts) == sorted(r.verdict for _, r in fleet.results())
    assert cells.external == []  # nothing to fetch: works offline
    assert "<svg" in page and "fp32 bound" in page
    md = to_markdown(fleet)
    assert "| phone-b | native:cpu@fp32 | 2 | 0 | 1 |" in md and "builtin/broadcasting" in md


def _colour_present(pixels: np.ndarray, hex_colour: str) -> bool:
    want = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
    return bool(np.any(np.all(np.abs(pixels.astype(int) - want) <= 8, axis=1)))


def test_html_renders_in_headless_chromium(small_report, tmp_path):
    from PIL import Image

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser, "chromium is required (scripts/setup installs it)"
    page = tmp_path / "fleet.html"
    page.write_text(to_html(_fleet(small_report)))
    shot = tmp_path / "shot.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run",
                    f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1280,900",
                    page.as_uri()], check=True, capture_output=True, timeout=120)
    image = Image.open(shot).convert("RGB")
    assert image.size == (1280, 900)
    pixels = np.asarray(image).reshape(-1, 3)
    assert len(np.unique(pixels, axis=0)) > 50  # not blank
    for verdict in (PASS, FAIL):
        assert _colour_present(pixels, COLOURS[verdict]), verdict


def test_fleet_example_script(tmp_path):
    env = {**os.environ, "FACADE": str(Path(sys.executable).with_name("facade"))}
    done = subprocess.run(["bash", str(ROOT / "examples" / "fleet_report.sh"), str(tmp_path / "out")], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    fleet = Report.load(tmp_path / "out" / "fleet.json")
    assert [r["device"]["fingerprint"] for r in fleet.runs] == ["phone-a", "phone-b"]
    assert all(r["device"]["fingerprint_source"] == "override" for r in fleet.runs)
    assert (tmp_path / "out" / "fleet.html").read_text().count("data-verdict=") == len(list(fleet.results()))
    assert "## Conformance: 2 device(s)" in done.stdout
