"""Tables fit a terminal by wrapping the long last column, never a target name or the rule; pipes keep whole lines."""

import io

from facade.tables import format_table

REASON = ("ranked last: vulkan device is the CPU in software (llvmpipe (LLVM 15.0.6, 256 bits)); "
          "converted by pnnx after onnxslim; first in the default order (NPU > GPU > CPU engines) ") * 3
ROWS = [("0", "onnxruntime:cpu", "cpu", "chosen"), ("1", "onnxruntime:qnn-htp", "npu", REASON.strip()),
        ("2", "ncnn:vulkan", "software", "available")]
HEADER = ("#", "target", "class", "why")


def _words(lines: list[str], start: int) -> str:
    return " ".join(line[start:].strip() for line in lines)


def test_at_width_100_the_reason_wraps_under_its_column_and_no_line_is_wider():
    lines = format_table(HEADER, ROWS, width=100)
    assert max(map(len, lines)) <= 100
    assert lines[0].split() == list(HEADER)
    assert set(lines[1]) == {"─"} and len(lines[1]) <= 100  # the rule is one line, as wide as the table
    why = lines[0].index("why")
    reason_lines = lines[3:-1]
    assert len(reason_lines) >= 4  # the reason wrapped instead of running off the terminal
    assert all(line.startswith(" " * why) for line in reason_lines[1:])  # continuations under their column
    assert _words(reason_lines, why) == " ".join(REASON.split())  # no word lost or cut
    assert all("onnxruntime:qnn-htp" in line for line in lines[3:4])  # targets are never wrapped
    assert lines[-1].split() == ["2", "ncnn:vulkan", "software", "available"]


def test_in_a_pipe_lines_stay_whole_for_grep_and_there_is_no_rule():
    lines = format_table(HEADER, ROWS, width=0)
    assert len(lines) == 1 + len(ROWS)
    assert lines[2].endswith(REASON.strip())
    assert "─" not in "".join(lines) and "\x1b" not in "".join(lines)


def test_the_default_width_is_the_terminal_on_a_terminal_and_unbounded_in_a_pipe(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setattr("sys.stdout", Tty())
    on_tty = format_table(HEADER, ROWS)
    assert max(map(len, on_tty)) <= 100 and len(on_tty) > 1 + len(ROWS) + 1
    monkeypatch.setattr("sys.stdout", io.StringIO())
    assert format_table(HEADER, ROWS) == format_table(HEADER, ROWS, width=0)


def test_short_tables_are_not_padded_to_the_width():
    lines = format_table(("fact", "value"), [("cores", "2")], width=100)
    assert lines == ["fact   value", "────────────", "cores  2"]
