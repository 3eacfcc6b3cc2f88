"""Options shared by several commands, and the checks that run before any work starts.

A benchmark or a conformance run takes minutes; a typo in a target name or an
output folder that does not exist must fail in the first second, not after the
work is done and its results are lost. So every command checks what it can
(target names, output folders, plot format) before it measures anything.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable
from pathlib import Path

from facade.errors import InputError, format_message


def add_targets_option(parser: argparse.ArgumentParser, help: str, default: str | None = None) -> None:
    """``--targets T1,T2``, also repeated (``--targets T1 --targets T2``): the one syntax of every command."""
    parser.add_argument("--targets", action="append", metavar="T1,T2", default=None,
                        help=f"{help}; comma-separated, or repeat the option" +
                        (f" (default {default})" if default else ""))


def split_list(values: Iterable[str] | None) -> list[str]:
    """The items of a repeated, comma-separated option, stripped, without repeats, in order."""
    items = (item.strip() for value in values or () for item in value.split(","))
    return list(dict.fromkeys(item for item in items if item))


def check_targets(names: Iterable[str]) -> list[str]:
    """Every name a known target (``@precision`` and ``all`` allowed).

    Raises:
        UnknownTargetError: a name no engine provides, with what is wrong in it (engine or unit) and a fix.
    """
    from facade import target_info

    names = list(names)
    for name in (item.partition("@")[0] for item in names):
        if name != "all":
            target_info(name, where=f"--targets {name}")
    return names


def check_output_file(path: str | os.PathLike, option: str) -> Path:
    """The folder a file will be written to exists and is writable, checked before the work that fills it."""
    out = Path(path)
    folder = out.parent
    if not folder.is_dir():
        raise InputError(format_message("The output folder does not exist", where=f"{option} {out}",
                                        received=str(folder), expected="an existing folder (create it first)"))
    if not os.access(folder, os.W_OK):
        raise InputError(format_message("The output folder is not writable", where=f"{option} {out}",
                                        received=str(folder), expected="a folder this user can write to"))
    if out.is_dir():
        raise InputError(format_message("The output path is a folder", where=f"{option} {out}",
                                        received="a folder", expected="a file path"))
    return out
