"""The ``facade`` command line. Each command group is one module with ``register(subparsers)``.

Commands call only the public library, so everything the CLI does an app can do.
Every command takes ``--json``; human output is tables. A user error prints one
``facade: error: ...`` line on stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from collections.abc import Sequence

from facade.errors import FacadeError

# Command-group modules, in the order their commands appear in --help.
COMMAND_MODULES = [
    "facade.cli.info",
    "facade.cli.run",
    "facade.cli.demo",
    "facade.cli.policy",
    "facade.cli.bench",
    "facade.cli.convert",
    "facade.cli.quantize",
    "facade.cli.conformance",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="facade", description="Run models on the best on-device engine here.")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log routing and fallback decisions, and what engines print")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    # -v also shows what engines print from native code, captured at debug level (adapters.base.native_output).
    logging.getLogger("facade.engine").setLevel(logging.DEBUG if args.verbose else logging.NOTSET)
    try:
        return int(args.handler(args) or 0)
    except FacadeError as e:
        if getattr(args, "json", False):
            error = {"type": type(e).__name__, "message": str(e)}
            if getattr(e, "problems", None):  # a policy file's every problem, one message each
                error["problems"] = list(e.problems)
            print(json.dumps({"error": error}, indent=2))
        else:
            print(f"facade: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
