"""What one fleet node runs: its own device detection and its share of cases, each column in its own child.

This module imports no Ray: :mod:`facade.conformance.fleet` wraps :class:`NodeRunner`
as a Ray actor pinned to one node. Inside, it is the local :class:`Runner`: the same
column children (a crash or hang is an ``error`` verdict with the signal, never a lost
run), the same oracle and judging, one case per call so that a node that dies loses
only the case it was running.
"""

from __future__ import annotations

import socket
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from facade.conformance.cases import Case, iter_materialized
from facade.conformance.report import new_run
from facade.conformance.runner import Column, Runner
from facade.progress import Progress


class NodeRunner(Runner):
    """A :class:`Runner` that keeps its column children open between calls, one case per call.

    Args:
        node: ``{"id": Ray node id, "label": the node's label}``; the host name is added here,
            on the node itself.
        columns, tolerances, timeout, fingerprint, seed: as for :class:`Runner`.
    """

    def __init__(self, node: dict, columns: Sequence[Column], *, tolerances, timeout: float,
                 fingerprint: str | None, seed: int):
        super().__init__(columns, tolerances=tolerances, timeout=timeout, progress=False,
                         fingerprint=fingerprint, seed=seed)
        self.node = {**node, "host": socket.gethostname()}
        self._tmp = tempfile.TemporaryDirectory(prefix="facade-fleet-")
        self.work = Path(self._tmp.name)
        self.children: dict = {}

    def identify(self) -> dict:
        """This node's empty run: device detection done here, on the node, plus its Ray identity."""
        run = new_run(self.fingerprint, self.seed, self.tolerances)
        run["device"]["node"] = self.node
        return run

    def open(self) -> list[dict]:
        """Start a child per column; each column's availability as this node's children report it."""
        run: dict = {"columns": []}
        self.children = self._open_columns(run, self.work)
        return run["columns"]

    def run_case(self, case: Case) -> dict:
        """One case on every open column that takes it: what it adds to the run (cases, skipped, results)."""
        started = time.perf_counter()
        delta: dict = {"cases": [], "skipped": [], "results": []}
        quiet = Progress(0, enabled=False)
        for each, built in iter_materialized([case]):
            self._run_case(delta, each, built, self.children, self.work, quiet)
        delta["wall_s"] = time.perf_counter() - started
        return delta

    def close(self) -> None:
        """Stop the column children and remove the work folder."""
        for child in self.children.values():
            if child is not None:
                child.stop()
        self.children = {}
        self._tmp.cleanup()
