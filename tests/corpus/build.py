"""Build corpus entries into the cache: ``python -m tests.corpus.build [NAME|FAMILY|TAG ...]``.

Run by :func:`tests.corpus.store.ensure` as a child process (one JSON line per entry
on stdout: name, ok, seconds, error), and by hand to warm the cache (no names:
every entry; ``--prune`` also deletes builds at outdated keys). The network stays off: the hub and transformers are set offline
before anything imports them.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import argparse
import json
import shutil
import sys
import time
import traceback
import warnings

from tests.corpus import registry, store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help="names, families or tags (default: every entry)")
    parser.add_argument("--prune", action="store_true", help="delete these entries' builds at outdated keys")
    args = parser.parse_args(argv)
    failed = 0
    warnings.filterwarnings("ignore")
    entries = registry.select(args.models)
    if args.prune:
        for old in store.stale(entries):
            shutil.rmtree(old, ignore_errors=True)
            print(f"removed {old}", file=sys.stderr)
    for entry in entries:
        start = time.perf_counter()
        row = {"name": entry.name, "ok": True, "error": None}
        try:
            store.build(entry)
        except Exception as e:  # one exporter's failure must not stop the others
            traceback.print_exc(file=sys.stderr)
            row.update(ok=False, error=f"{type(e).__name__}: {e}".splitlines()[0][:400])
            failed += 1
        row["seconds"] = round(time.perf_counter() - start, 2)
        print(json.dumps(row), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
