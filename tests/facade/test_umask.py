"""Files for people follow the user's umask; the cache stays private (0700 folders, 0600 files).

Every case runs under two umasks (022 and 027), so a mode that happens to match one of them
(``mkstemp``'s 0600, or a fixed 0644) fails the other.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from facade.cache import PRIVATE_DIR, PRIVATE_FILE, atomic_write, umask
from facade.cli import main
from facade.cli.plot import plot_latency
from facade.zoo import small as models


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(params=[0o022, 0o027], ids=["umask022", "umask027"])
def user_umask(request, tmp_path, monkeypatch) -> int:
    """This process under the umask for the test, with a cache of its own."""
    monkeypatch.setenv("FACADE_CACHE_DIR", str(tmp_path / "cache"))
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


@pytest.fixture()
def model_file(tmp_path) -> Path:
    path = tmp_path / "conv_relu.onnx"
    path.write_bytes(models.conv_relu(seed=77).SerializeToString())
    return path


def test_umask_is_read_without_changing_it(user_umask):
    assert umask() == user_umask
    assert umask() == user_umask


def test_shared_and_private_atomic_writes(user_umask, tmp_path):
    assert mode(atomic_write(tmp_path / "report.json", b"{}", shared=True)) == 0o666 & ~user_umask
    assert mode(atomic_write(tmp_path / "verdict.json", b"{}")) == PRIVATE_FILE


def test_conformance_report_and_html_page(user_umask, tmp_path, model_file):
    report, page = tmp_path / "report.json", tmp_path / "report.html"
    assert main(["conformance", "run", str(model_file), "--targets", "onnxruntime:cpu", "--out", str(report),
                 "--no-store", "--no-progress", "--json"]) == 0
    assert main(["conformance", "show", str(report), "--html", str(page)]) == 0
    assert mode(report) == mode(page) == 0o666 & ~user_umask


def test_run_save_outputs(user_umask, tmp_path, model_file):
    assert main(["run", str(model_file), "--target", "onnxruntime:cpu", "--save", str(tmp_path / "out")]) == 0
    saved = list((tmp_path / "out").glob("*.npy"))
    assert saved and all(mode(p) == 0o666 & ~user_umask for p in saved)
    assert np.load(saved[0]).shape == (1, 4, 8, 8)


def test_bench_plot(user_umask, tmp_path):
    out = plot_latency([{"target": "native:cpu", "ok": True, "p50_ms": 1.0, "p90_ms": 2.0}], tmp_path / "p.svg", "t")
    assert mode(out) == 0o666 & ~user_umask


def test_convert_out_copies_are_shared_and_the_cache_stays_private(user_umask, tmp_path, model_file):
    out = tmp_path / "exported"
    assert main(["convert", str(model_file), "--to", "ncnn", "--out", str(out)]) == 0
    copies = [p for p in out.rglob("*") if p.is_file()]
    assert copies and all(mode(p) == 0o666 & ~user_umask for p in copies)
    cache = Path(os.environ["FACADE_CACHE_DIR"])
    inside = [cache, *cache.rglob("*")]
    assert any(p.name.endswith(".param") for p in inside)
    # filelock's lock files are empty and sit inside the 0700 folder.
    wrong = [(str(p.relative_to(cache)), oct(mode(p))) for p in inside
             if not p.name.endswith(".lock") and mode(p) != (PRIVATE_DIR if p.is_dir() else PRIVATE_FILE)]
    assert not wrong, f"cache entries readable by others: {wrong}"
