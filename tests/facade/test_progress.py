"""Progress redraws only on a terminal; a pipe or log gets one plain line per finished item."""

import io
import os
import pty
import time

import pytest

from facade.progress import Progress, elapsed

TARGETS = ["onnxruntime:cpu", "ncnn:cpu", "mnn:cpu"]


@pytest.fixture(autouse=True)
def _no_forced_colour(monkeypatch):
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")


def _steps(stream) -> None:
    with Progress(len(TARGETS), stream=stream) as bar:
        for target in TARGETS:
            bar.show(f"measuring {target}")
            bar.step(target)


def test_in_a_pipe_one_plain_line_per_finished_item_no_cr_no_escape(monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")  # asks rich for colour; a pipe still gets no frames
    out = io.StringIO()
    _steps(out)
    text = out.getvalue()
    assert "\r" not in text and "\x1b" not in text
    lines = text.splitlines()
    assert len(lines) == len(TARGETS)
    assert [line.split()[:2] for line in lines] == [[f"[{i}/3]", t] for i, t in enumerate(TARGETS, 1)]


def test_disabled_progress_writes_nothing():
    out = io.StringIO()
    with Progress(3, stream=out, enabled=False) as bar:
        bar.step("a")
    assert out.getvalue() == ""


def _read_all(leader: int) -> str:
    """Everything written to the pseudo-terminal: one read returns only what one write left (seen in CI:
    the first frame alone); after the follower is closed, reads drain the rest, then raise EIO."""
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 1 << 16)
        except OSError:  # EIO: the follower side is closed and everything is read
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return b"".join(chunks).decode()


def test_on_a_terminal_the_bar_is_redrawn_in_place():
    leader, follower = pty.openpty()
    with os.fdopen(follower, "w", closefd=True) as tty:
        _steps(tty)
    drawn = _read_all(leader)
    assert "\x1b[" in drawn and "3/3" in drawn and "mnn:cpu" in drawn
    assert drawn.count("\n") <= 2  # redrawn in place, not one line per frame


def test_a_slow_task_in_a_pipe_says_when_it_started_and_how_long_it_took():
    out = io.StringIO()
    with elapsed("converting m with pnnx", stream=out, delay_s=0.05):
        time.sleep(0.3)
    lines = out.getvalue().splitlines()
    assert lines[0] == "facade: converting m with pnnx..."
    assert lines[1].startswith("facade: converting m with pnnx: done in ") and len(lines) == 2
    quick = io.StringIO()
    with elapsed("quick", stream=quick, delay_s=0.5):
        pass
    time.sleep(0.6)  # a timer that fired late would write now
    assert quick.getvalue() == ""


def test_a_slow_task_that_fails_says_so():
    out = io.StringIO()
    with pytest.raises(ValueError), elapsed("converting", stream=out, delay_s=0.01):
        time.sleep(0.1)
        raise ValueError("x")
    assert "converting: failed in" in out.getvalue().splitlines()[-1]
