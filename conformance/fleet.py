"""Conformance across a fleet of device hosts on Ray: one report with one run per node.

Every alive node runs its own device detection and, in its own column children, the cases
of its share (:mod:`facade.conformance.fleet_worker`, a Ray actor pinned to the node).
Nodes of one device fingerprint share one queue of cases, so identical devices split the
work and a node that dies has its case retried on a sibling; a node with no sibling left
loses its in-flight and unstarted cases, each listed in its run's ``lost`` with the reason.
The report is written (atomically replaced) as results arrive, at most every
:data:`SAVE_EVERY_S`, at every loss and at the end, so an interrupted run keeps what finished.

What a node has is what it says at ``ray start``:

- resources ``facade.target.ENGINE:UNIT`` (any amount): the targets it offers; columns of
  other targets are not opened there (a node that advertises none offers every target its
  own detection finds);
- labels ``facade.label`` (its name in reports and for ``--nodes``) and ``facade.fingerprint``
  (a fingerprint override, recorded as such, for fleets simulated on one machine).

Ray is imported only here and only under ``--cluster``; it is started with usage stats and
the dashboard off and no runtime_env (nothing downloads).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import tempfile
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path

from facade.conformance.cases import Case, Materialized
from facade.conformance.report import Report
from facade.conformance.runner import Column
from facade.errors import FacadeError, format_message
from facade.globs import glob_match
from facade.progress import Progress

INSTALL_HINT = "pip install 'facade-runtime[fleet]'"
TARGET_RESOURCE = "facade.target."
LABEL = "facade.label"
FINGERPRINT_LABEL = "facade.fingerprint"
#: Seconds a node may take to detect its devices and start its column children.
HELLO_TIMEOUT_S = 300.0
#: The partial report is replaced at most this often while results arrive (and at every loss, and at the end).
SAVE_EVERY_S = 0.5
#: Seconds the cluster's address may take to accept a TCP connection.
CONNECT_TIMEOUT_S = 5.0
#: Environment for Ray in this process: no usage stats are sent home.
OFFLINE_ENV = {"RAY_USAGE_STATS_ENABLED": "0"}


class FleetError(FacadeError):
    """Ray is missing, the cluster cannot be reached, or no node can run the job."""


def _recorded_address() -> str | None:
    """The address ``address="auto"`` resolves to: $RAY_ADDRESS, else the one the last local Ray start wrote."""
    if os.environ.get("RAY_ADDRESS"):
        return os.environ["RAY_ADDRESS"]
    try:
        return Path(tempfile.gettempdir(), "ray", "ray_current_cluster").read_text().strip() or None
    except OSError:
        return None


def _is_loopback(address: str) -> bool:
    resolved = _recorded_address() if address == "auto" else address
    host = (resolved or "").removeprefix("ray://").rpartition(":")[0].strip("[]")
    return host in ("localhost", "::1") or host.startswith("127.")


def _check_answers(address: str) -> None:
    """A HOST:PORT (or what ``auto`` resolves to) that refuses a TCP connection is named at once; Ray itself
    would retry it for minutes."""
    resolved = _recorded_address() if address == "auto" else address
    if not resolved or resolved.startswith("ray://"):
        return  # auto without a recorded cluster: Ray says so at once
    host, _, port = resolved.rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except (OSError, ValueError) as e:
        raise FleetError(format_message("No Ray cluster answers", where="--cluster",
                                        received=f"{address}" + (f" ({resolved})" if resolved != address else "")
                                        + f": {e}", expected="auto, HOST:PORT or ray://HOST:PORT of a running "
                                        "cluster (ray start --head)")) from e


def import_ray(loopback: bool = False):
    """Ray, with usage stats off; ``loopback``: a cluster on this machine, reached without leaving loopback.

    Raises:
        FleetError: Ray is not installed (with the pip line that installs it).
    """
    os.environ.update(OFFLINE_ENV)
    if loopback:  # else Ray resolves 127.0.0.1 to the host's outward address and asks the routing table
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    try:
        import ray
    except ImportError as e:
        raise FleetError(format_message("--cluster runs on Ray, which is not installed", received=str(e),
                                        expected=INSTALL_HINT)) from e
    return ray


def connect(address: str):
    """Join the Ray cluster at ``address`` (``auto``, ``HOST:PORT`` or ``ray://HOST:PORT``) as a driver.

    Raises:
        FleetError: Ray is missing, or no cluster answers at ``address``.
    """
    loopback = _is_loopback(address)
    ray = import_ray(loopback)
    _check_answers(address)
    options: dict = {"log_to_driver": False, "logging_level": "WARNING"}
    if not address.startswith("ray://"):
        options["include_dashboard"] = False
        if loopback:
            options["_node_ip_address"] = "127.0.0.1"
    try:
        ray.init(address=address, **options)
    except (ConnectionError, ValueError, RuntimeError) as e:
        raise FleetError(format_message("No Ray cluster answers", where="--cluster", received=f"{address}: {e}",
                                        expected="auto, HOST:PORT or ray://HOST:PORT of a running cluster "
                                                 "(ray start --head)")) from e
    return ray


@dataclasses.dataclass
class Node:
    """One alive Ray node as the driver sees it before it has said anything."""

    id: str
    label: str
    host: str
    fingerprint: str | None  # the facade.fingerprint label: an override
    targets: frozenset[str] | None  # advertised facade.target.* resources; None: whatever it detects

    @classmethod
    def from_ray(cls, info: dict) -> Node:
        labels = info.get("Labels") or {}
        offered = {k.removeprefix(TARGET_RESOURCE) for k in info.get("Resources", {}) if k.startswith(TARGET_RESOURCE)}
        return cls(info["NodeID"], labels.get(LABEL) or info["NodeID"][:8], info.get("NodeManagerHostname", ""),
                   labels.get(FINGERPRINT_LABEL) or None, frozenset(offered) or None)

    def names(self) -> list[str]:
        return [n for n in (self.label, self.id, self.host, self.fingerprint) if n]


def alive_nodes(ray) -> list[Node]:
    """Every alive node of the cluster, in Ray's order."""
    return [Node.from_ray(n) for n in ray.nodes() if n.get("Alive")]


def selected(names: Sequence[str], patterns: Sequence[str]) -> bool:
    """Whether one of a node's ``names`` matches one of the ``--nodes`` patterns (a glob or a prefix); all match none."""
    return not patterns or any(glob_match(p, n) or n.startswith(p) for n in names for p in patterns)


class _Built:
    """A case materialized once by the driver, so every node runs the same bytes (and files need not exist there)."""

    def __init__(self, built: Materialized | Exception):
        self.built = built

    def __call__(self) -> Materialized:
        if isinstance(self.built, Exception):
            raise self.built
        return self.built


def _prebuilt(cases: Sequence[Case]) -> list[Case]:
    shipped = []
    for case in cases:
        try:
            built: Materialized | Exception = case.build()
        except Exception as e:  # recorded by the node as "could not be built", as a local run does
            built = e
        shipped.append(dataclasses.replace(case, build=_Built(built)))
    return shipped


@dataclasses.dataclass
class _Member:
    node: Node
    actor: object
    run: dict
    done: int = 0
    alive: bool = True


@dataclasses.dataclass
class FleetRun:
    """What a fleet run gives back: the report, and what happened to nodes and cases on the way."""

    report: Report
    nodes: list[dict]  # per node: label, id, host, fingerprint, cases run, state
    retried: list[dict]  # cases retried on a sibling: case, from (node label), fingerprint, reason
    unreachable: list[dict]  # nodes that could not take part: label, id, reason


class FleetRunner:
    """Runs cases across the nodes of a Ray cluster; see the module docstring.

    Args:
        columns: targets at precisions, as for a local run.
        nodes: ``--nodes`` patterns (label, node id or its prefix, host name, fingerprint); empty: all.
        out: the report path, replaced after every case.
    """

    def __init__(self, ray, columns: Sequence[Column], *, tolerances, timeout: float, seed: int,
                 out: Path, nodes: Sequence[str] = (), progress: bool = True, fingerprint: str | None = None):
        self.ray, self.columns, self.tolerances, self.timeout, self.seed = ray, list(columns), tolerances, timeout, seed
        self.out, self.patterns, self.progress, self.fingerprint = out, list(nodes), progress, fingerprint

    def run(self, cases: Sequence[Case], skipped: dict[str, str] | None = None) -> FleetRun:
        members, unreachable = self._start(alive_nodes(self.ray))
        if not members:
            raise FleetError(format_message("No node of the cluster can run this job", where="--cluster",
                                            received=unreachable or "no alive node matches --nodes",
                                            expected="a node with facade installed"
                                            + (f" matching {','.join(self.patterns)}" if self.patterns else "")))
        for m in members:
            m.run["skipped"] = [{"id": k, "reason": v} for k, v in (skipped or {}).items()]
            m.run["lost"] = []
        shipped = _prebuilt(cases)
        queues = {fp: deque(shipped) for fp in {m.run["device"]["fingerprint"] for m in members}}
        retried: list[dict] = []
        bar = Progress(sum(len(q) for q in queues.values()), enabled=self.progress)
        try:
            self._dispatch(members, queues, retried, bar)
        finally:  # also when interrupted: the report keeps what finished
            report = self._report(members)
            report.save(self.out)
            bar.close()
            for m in members:
                if m.alive:
                    self._close(m)
        states = [{"label": m.node.label, "id": m.node.id, "host": m.run["device"]["node"]["host"],
                   "fingerprint": m.run["device"]["fingerprint"], "cases": m.done,
                   "lost": len(m.run["lost"]), "state": "ok" if m.alive else "died"} for m in members]
        return FleetRun(report, states, retried, unreachable)

    # -- nodes -------------------------------------------------------------------------------------

    def _start(self, nodes: Sequence[Node]) -> tuple[list[_Member], list[dict]]:
        """An actor on each node and its identity; the nodes ``--nodes`` selects (by name or by the fingerprint
        the node detected) then open their columns. Each step is awaited with a timeout."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        from facade.conformance.fleet_worker import NodeRunner

        remote = self.ray.remote(NodeRunner)
        pending = {}
        for node in nodes:
            wanted = [c for c in self.columns if node.targets is None or c.target in node.targets]
            actor = remote.options(num_cpus=0, max_restarts=0, max_task_retries=0,
                                   scheduling_strategy=NodeAffinitySchedulingStrategy(node.id, soft=False)).remote(
                {"id": node.id, "label": node.label}, wanted, tolerances=self.tolerances, timeout=self.timeout,
                fingerprint=node.fingerprint or self.fingerprint, seed=self.seed)
            pending[node.id] = (node, actor, actor.identify.remote())
        chosen, unreachable = [], []
        for node, actor, ident in pending.values():
            run = self._await(node, actor, ident, unreachable)
            if run is None:
                continue
            if selected([*node.names(), run["device"]["fingerprint"], run["device"]["detected_fingerprint"]],
                        self.patterns):
                chosen.append((node, actor, run, actor.open.remote()))
            else:
                self.ray.kill(actor)
        members = []
        for node, actor, run, columns in chosen:
            opened = self._await(node, actor, columns, unreachable)
            if opened is None:
                continue
            not_offered = [{"target": c.target, "precision": c.precision, "available": False,
                            "reason": "this node does not advertise it (no resource "
                                      f"{TARGET_RESOURCE}{c.target})"}
                           for c in self.columns if node.targets is not None and c.target not in node.targets]
            run["columns"] = opened + not_offered
            members.append(_Member(node, actor, run))
        return members, unreachable

    def _await(self, node: Node, actor, ref, unreachable: list[dict]):
        """``ref``'s value; None when the node failed to answer (facade missing there, the node gone, a timeout)."""
        try:
            return self.ray.get(ref, timeout=HELLO_TIMEOUT_S)
        except Exception as e:  # the node sits out, with the reason
            unreachable.append({"label": node.label, "id": node.id, "reason": _first_line(e)})
            self.ray.kill(actor)
            return None

    def _close(self, m: _Member) -> None:
        with contextlib.suppress(Exception):  # a node that is gone has nothing left to close
            self.ray.get(m.actor.close.remote(), timeout=30)
        self.ray.kill(m.actor)

    def _death(self, m: _Member, error: Exception) -> str:
        alive = {n.id for n in alive_nodes(self.ray)}
        where = f"node {m.node.label} ({m.node.id[:12]})"
        if m.node.id not in alive:
            return f"{where} left the cluster"
        return f"the fleet worker on {where} died: {_first_line(error)}"

    # -- cases -------------------------------------------------------------------------------------

    def _dispatch(self, members: list[_Member], queues: dict[str, deque], retried: list[dict], bar: Progress) -> None:
        fp = lambda m: m.run["device"]["fingerprint"]  # noqa: E731
        in_flight: dict = {}  # object ref -> (member, case)

        def feed(m: _Member) -> None:
            queue = queues[fp(m)]
            if m.alive and queue:
                case = queue.popleft()
                in_flight[m.actor.run_case.remote(case)] = (m, case)

        def feed_idle() -> None:
            busy = {id(x) for x, _ in in_flight.values()}
            for x in members:
                if id(x) not in busy:
                    feed(x)

        feed_idle()
        saved = 0.0
        while in_flight:
            ready, _ = self.ray.wait(list(in_flight), num_returns=1)
            m, case = in_flight.pop(ready[0])
            try:
                delta = self.ray.get(ready[0])
            except self.ray.exceptions.RayActorError as e:
                self._lost(m, case, e, members, queues, retried)
                feed_idle()
                continue
            except self.ray.exceptions.RayError as e:  # the node's runner raised: not the target's verdict
                m.run["lost"].append({"id": case.id, "reason": f"the fleet worker raised: {_first_line(e)}"})
                delta = None
            if delta is not None:
                for key in ("cases", "skipped", "results"):
                    m.run[key] += delta[key]
                m.run["wall_s"] += delta["wall_s"]
            m.done += 1
            bar.step(f"{m.node.label} {case.id} | " + " ".join(f"{x.node.label}:{x.done}" for x in members))
            if time.monotonic() - saved >= SAVE_EVERY_S:
                self._report(members).save(self.out)
                saved = time.monotonic()
            feed_idle()

    def _lost(self, m: _Member, case: Case, error: Exception, members: list[_Member], queues: dict[str, deque],
              retried: list[dict]) -> None:
        """``m`` died running ``case``: a sibling of its fingerprint takes it over, else it and the queue are lost."""
        m.alive = False
        why = self._death(m, error)
        fp = m.run["device"]["fingerprint"]
        siblings = [x for x in members if x.alive and x.run["device"]["fingerprint"] == fp]
        if siblings:
            queues[fp].appendleft(case)
            retried.append({"case": case.id, "from": m.node.label, "fingerprint": fp, "reason": why})
            return
        m.run["lost"].append({"id": case.id, "reason": f"in flight when {why}"})
        m.run["lost"] += [{"id": c.id, "reason": f"not started: {why}, and no other node has fingerprint {fp}"}
                          for c in queues[fp]]
        queues[fp].clear()
        self._report(members).save(self.out)

    def _report(self, members: list[_Member]) -> Report:
        return Report({"runs": [m.run for m in members]})


def _first_line(error: BaseException) -> str:
    lines = [ln for ln in str(error).splitlines() if ln.strip()]
    return f"{type(error).__name__}: {lines[-1] if lines else ''}"[:300]


def run_fleet(address: str, columns: Sequence[Column], cases: Sequence[Case], skipped: dict[str, str], *,
              out: Path, tolerances, timeout: float, seed: int, nodes: Sequence[str] = (), progress: bool = True,
              fingerprint: str | None = None) -> FleetRun:
    """Connect to ``address``, run ``cases`` on every selected node, disconnect; the report is at ``out``."""
    ray = connect(address)
    try:
        return FleetRunner(ray, columns, tolerances=tolerances, timeout=timeout, seed=seed, out=out, nodes=nodes,
                           progress=progress, fingerprint=fingerprint).run(cases, skipped)
    finally:
        ray.shutdown()
