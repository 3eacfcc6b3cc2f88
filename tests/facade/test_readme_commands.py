"""The README's command table is a contract: every documented command runs, with and without ``--json``.

The table is read from README.md itself, so a row added there without a concrete
invocation here fails, and an option documented there but missing from the
command's ``--help`` fails. Commands run in-process through ``facade.cli.main``
(``bench`` and ``conformance run`` start their own child processes, as they do for
a user). Output is captured at the file-descriptor level (``capfd``) because a
native library writing to fd 1 would break ``facade ... --json | jq`` for a user.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest

from facade.cli import build_parser, main
from facade.zoo import small as models

README = Path(__file__).resolve().parents[2] / "README.md"
FAST_TARGETS = "onnxruntime:cpu,native:cpu"

# One or more concrete invocations per documented command path; together they use every
# documented option. Placeholders are filled from the ``workspace`` fixture.
INVOCATIONS: dict[tuple[str, ...], list[list[str]]] = {
    ("devices",): [["devices"]],
    ("targets",): [["targets"], ["targets", "--probe"]],
    ("run",): [["run", "{model}", "--input", "x={input}", "--target", "onnxruntime:cpu", "--repeat", "2",
                "--save", "{tmp}/outputs"],
               ["run", "{model}", "--policy", "{policy}"]],
    ("explain",): [["explain", "{model}", "--target", "native:cpu"], ["explain", "{model}", "--policy", "{policy}"]],
    ("policy", "check"): [["policy", "check", "{policy}"]],
    ("bench",): [["bench", "{model}", "--targets", FAST_TARGETS, "--budget", "0.05", "--plot", "{tmp}/bench.svg"],
                 ["bench", "{model}", "--targets", "onnxruntime:cpu", "--budget", "0.05", "--precision", "fp32,int8",
                  "--calibration", "{calib}"]],
    ("demo",): [["demo", "--repeat", "1"]],
    ("convert",): [["convert", "{model}", "--to", "mnn", "--out", "{tmp}/converted"]],
    ("cache",): [["cache", "ls"], ["cache", "clear"]],
    ("quantize",): [["quantize", "{model}", "--calibration", "{calib}", "--out", "{tmp}/q.onnx", "--per-channel",
                     "--activations", "uint16"],
                    ["quantize", "{model}", "--calibration", "{calib}", "--scheme", "dynamic"],
                    ["quantize", "{model}", "--calibration", "{calib}", "--config", "qnn"]],
    ("conformance", "run"): [["conformance", "run", "{model}", "--suite", "builtin", "--filter", "file/*",
                              "--targets", FAST_TARGETS, "--out", "{tmp}/run.json", "--no-store", "--no-progress",
                              "--calibration", "{calib}"]],
    ("conformance", "merge"): [["conformance", "merge", "{report}", "{report}", "--out", "{tmp}/fleet.json"]],
    ("conformance", "diff"): [["conformance", "diff", "{report}", "{report}"]],
    ("conformance", "show"): [["conformance", "show", "{report}", "--html", "{tmp}/report.html"],
                              ["conformance", "show", "{report}", "--markdown"]],
}


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _resolve(words: list[str]) -> tuple[tuple[str, ...], argparse.ArgumentParser]:
    """The longest run of leading words that names a (sub)command, and its parser."""
    parser, path = build_parser(), []
    for word in words:
        sub = _subparsers(parser)
        if word not in sub:
            break
        parser, path = sub[word], [*path, word]
    return tuple(path), parser


def documented_commands() -> list[tuple[tuple[str, ...], set[str]]]:
    """(command path, documented options) for every command written in the README's command table."""
    text = README.read_text()
    table = text.split("## Command line", 1)[1].split("Every command accepts", 1)[0]
    found = []
    for row in (line for line in table.splitlines() if line.startswith("| `")):
        cell = row.split(" | ")[0]
        prefix: list[str] = []
        for snippet in re.findall(r"`([^`]+)`", cell):
            words = snippet.replace("\\|", "|").split()
            # "`diff OLD NEW`" after "`facade conformance merge ...`" continues that group.
            words = words[1:] if words[0] == "facade" else [*prefix, *words]
            path, _ = _resolve(words)
            prefix = list(path[:-1])
            options = set(re.findall(r"--[a-z][a-z-]*", snippet))
            found.append((path, options))
    return found


def _leaf_parsers(parser: argparse.ArgumentParser, path=()) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    sub = _subparsers(parser)
    if not sub:
        return [(path, parser)]
    return [leaf for name, p in sub.items() for leaf in _leaf_parsers(p, (*path, name))]


def _option_strings(parser: argparse.ArgumentParser) -> set[str]:
    return {s for a in parser._actions for s in a.option_strings}


def test_the_readme_documents_commands_and_each_has_an_invocation_here():
    documented = documented_commands()
    assert len(documented) >= len(INVOCATIONS), documented
    assert {path for path, _ in documented} == set(INVOCATIONS)


@pytest.mark.parametrize("path,options", documented_commands(), ids=lambda v: " ".join(v) if isinstance(v, tuple)
                         else None)
def test_every_documented_option_is_in_help_and_exercised_here(path, options):
    _, parser = _resolve(list(path))
    missing = options - _option_strings(parser)
    assert not missing, f"facade {' '.join(path)} --help lacks {sorted(missing)}"
    used = {w for argv in INVOCATIONS[path] for w in argv if w.startswith("--")}
    assert options <= used, f"no invocation of facade {' '.join(path)} uses {sorted(options - used)}"


def test_every_command_accepts_json():
    """The README says so in one sentence; this is that sentence, checked."""
    lacking = [" ".join(path) for path, p in _leaf_parsers(build_parser()) if "--json" not in _option_strings(p)]
    assert not lacking, f"commands without --json: {lacking}"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> dict[str, str]:
    """A tiny model, an input for it, a policy and a conformance report made by the CLI itself."""
    import numpy as np

    tmp = tmp_path_factory.mktemp("readme")
    model = tmp / "conv_relu.onnx"
    model.write_bytes(models.conv_relu().SerializeToString())
    np.save(tmp / "x.npy", np.ones((1, 3, 8, 8), np.float32))
    np.savez(tmp / "calib.npz", x=np.random.default_rng(0).standard_normal((8, 1, 3, 8, 8)).astype(np.float32))
    policy = tmp / "ops.toml"
    policy.write_text('prefer = ["native:cpu"]\ndeny = ["litert:*", "ncnn:*", "mnn:*"]\n')
    report = tmp / "report.json"
    assert main(["conformance", "run", str(model), "--targets", FAST_TARGETS, "--out", str(report),
                 "--no-store", "--no-progress", "--json"]) == 0
    return {"model": str(model), "input": str(tmp / "x.npy"), "policy": str(policy), "report": str(report),
            "tmp": str(tmp), "calib": str(tmp / "calib.npz")}


CASES = [(path, argv) for path, runs in INVOCATIONS.items() for argv in runs]


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
@pytest.mark.parametrize("path,argv", CASES, ids=[" ".join(argv[:3]) for _, argv in CASES])
def test_every_documented_command_runs(path, argv, as_json, workspace, capfd, monkeypatch):
    monkeypatch.delenv("FACADE_POLICY", raising=False)
    concrete = [w.format(**workspace) for w in argv] + (["--json"] if as_json else [])
    status = main(concrete)
    out, err = capfd.readouterr()
    assert status == 0, f"facade {' '.join(concrete)} exited {status}: {err}"
    if as_json:
        json.loads(out)  # the whole of stdout is one JSON document: nothing else may reach it
    else:
        assert (out + err).strip(), f"facade {' '.join(concrete)} printed nothing"  # "wrote X" goes to stderr
