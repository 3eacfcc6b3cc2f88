"""``facade conformance run --cluster``: a real Ray cluster of several nodes on this machine.

Each node is a real raylet started by ``ray.cluster_utils.Cluster`` (in its own process,
:mod:`tests.conformance.fleet_cluster`) with its own labels (``facade.label``, and
``facade.fingerprint`` for a distinct device identity, recorded as an override) and its own
advertised targets (``facade.target.*`` resources). The CLI runs as a separate driver
process, as a user would run it. Nodes are small (one CPU, 80 MB of object store); the
cluster and the driver both run under strace, and no process of either connects anywhere
but loopback.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conformance.fleet_cluster import OFFLINE

CLI = [sys.executable, "-c", "import sys; from facade.cli import main; sys.exit(main(sys.argv[1:]))"]


CASES = "onnx-node/test_c*"  # 104 cases: b (two targets) takes seconds, long enough to die mid-run
STRACE = shutil.which("strace")
ADDRESS = re.compile(r'inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6, "([^"]+)"')


def traced(trace: Path | None) -> list[str]:
    """The strace prefix that logs every connect() of a process tree (seccomp-bpf: cheap), or none."""
    return [STRACE, "-f", "--seccomp-bpf", "-qq", "-e", "trace=connect", "-o", str(trace)] if trace and STRACE else []


def facade_cli(*argv: str, trace: Path | None = None) -> subprocess.Popen:
    return subprocess.Popen([*traced(trace), *CLI, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **OFFLINE})


def finish(proc: subprocess.Popen, timeout: float = 120) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def by_label(report: dict) -> dict[str, dict]:
    return {run["device"]["node"]["label"]: run for run in report["runs"]}


class LocalCluster:
    """The cluster process of :mod:`tests.conformance.fleet_cluster`, traced; commands answered in order."""

    def __init__(self, trace: Path):
        self.trace = trace
        self.proc = subprocess.Popen([*traced(trace), sys.executable, "-m", "tests.conformance.fleet_cluster"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     cwd=Path(__file__).resolve().parents[2], env={**os.environ, **OFFLINE})
        hello = json.loads(self.proc.stdout.readline() or "null")
        assert hello, "the test cluster did not start"
        self.address, self.nodes = hello["address"], hello["nodes"]

    def ask(self, command: str) -> None:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        self.nodes = json.loads(self.proc.stdout.readline())["nodes"]

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Three nodes. ``b`` offers onnxruntime:cpu and native:cpu; ``a`` (head) and ``c`` offer onnxruntime:cpu
    only. ``c`` has ``a``'s fingerprint (identical devices, one queue); ``b`` is alone."""
    pytest.importorskip("ray", reason="the fleet extra is not installed (pip install 'facade-runtime[fleet]')")
    local = LocalCluster(tmp_path_factory.mktemp("cluster") / "cluster.strace")
    yield local
    local.close()


@dataclasses.dataclass
class FleetRun:
    path: Path
    code: int
    stdout: str
    stderr: str
    seen: dict[str, int]  # results per node in the partial report when b and c were removed
    nodes: set[str]  # Ray node ids of the cluster
    trace: Path


@pytest.fixture(scope="module")
def fleet(cluster, tmp_path_factory) -> FleetRun:
    """One conformance run across the three nodes; ``b`` and ``c`` are each removed after their first result."""
    nodes = set(cluster.nodes.values())
    tmp = tmp_path_factory.mktemp("fleet")
    out, trace = tmp / "fleet.json", tmp / "driver.strace"
    proc = facade_cli("conformance", "run", "--suite", "onnx-node", "--filter", CASES, "--targets",
                      "onnxruntime:cpu,native:cpu", "--cluster", cluster.address, "--out", str(out),
                      "--no-progress", trace=trace)
    seen: dict[str, int] = {}
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None and len(seen) < 2:
        if out.exists():  # the partial report, replaced as results arrive
            runs = by_label(json.loads(out.read_text()))
            for label in ("c", "b"):  # c first: a and c (one target each) finish their queue sooner
                if label not in seen and runs.get(label, {}).get("results"):
                    seen[label] = len(runs[label]["results"])
                    cluster.ask(f"remove {label}")
        time.sleep(0.05)
    assert len(seen) == 2, "the run ended before b and c could be removed: " + finish(proc)[2][-2000:]
    code, stdout, stderr = finish(proc)
    return FleetRun(out, code, stdout, stderr, seen, nodes, trace)


def test_the_report_has_one_run_per_node_with_its_identity(fleet):
    from facade.conformance.report import Report

    report = Report.load(fleet.path)  # validates against the schema
    runs = by_label(report.to_dict())
    assert set(runs) == {"a", "b", "c"}, fleet.stderr[-3000:]
    for label, run in runs.items():
        device = run["device"]
        assert device["node"]["id"] in fleet.nodes and device["node"]["host"]
        assert device["fingerprint"] == {"c": "sim-a"}.get(label, f"sim-{label}")
        assert device["fingerprint_source"] == "override"
        assert device["detected_fingerprint"] == device["facts"]["fingerprint"]  # each node's own detection
    assert {r["verdict"] for r in runs["a"]["results"] if r["target"] == "onnxruntime:cpu"} >= {"pass"}
    assert "nodes:" in fleet.stdout and "a (" in fleet.stdout


def test_a_target_a_node_does_not_advertise_is_not_scheduled_there(fleet):
    runs = by_label(json.loads(fleet.path.read_text()))
    mine = {r["case"] for r in runs["b"]["results"]}
    assert {(r["case"], r["target"]) for r in runs["b"]["results"]} == {
        (c, t) for c in mine for t in ("onnxruntime:cpu", "native:cpu")}
    for label in "ac":
        assert {r["target"] for r in runs[label]["results"]} == {"onnxruntime:cpu"}
        native = next(c for c in runs[label]["columns"] if c["target"] == "native:cpu")
        assert not native["available"] and "facade.target.native:cpu" in native["reason"]


def _every(runs: dict) -> set[str]:
    """Every case of the run: what a and c (one queue) ran between them."""
    return {c["id"] for c in runs["a"]["cases"] + runs["c"]["cases"]}


def test_a_node_removed_mid_run_loses_only_what_it_had_not_finished(fleet):
    """``b`` died alone: what it finished stays, the rest is lost with the reason; exit status 1."""
    assert fleet.code == 1, fleet.stdout[-3000:] + fleet.stderr[-3000:]
    runs = by_label(json.loads(fleet.path.read_text()))
    done = {r["case"] for r in runs["b"]["results"]}
    lost = {x["id"] for x in runs["b"]["lost"]}
    assert len(runs["b"]["results"]) >= fleet.seen["b"]
    assert lost, "b died mid-run but nothing is reported lost"
    assert all("node b" in x["reason"] and "left the cluster" in x["reason"] for x in runs["b"]["lost"])
    assert done | lost == _every(runs) and not done & lost
    assert "lost: b " in fleet.stdout


def test_a_node_with_a_sibling_of_its_fingerprint_loses_nothing(fleet):
    """``c`` died too, but ``a`` has its fingerprint: c's case was retried there, nothing is lost."""
    runs = by_label(json.loads(fleet.path.read_text()))
    assert runs["a"]["lost"] == [] and runs["c"]["lost"] == []
    assert len(runs["c"]["results"]) >= fleet.seen["c"]
    done = [r["case"] for r in runs["a"]["results"] + runs["c"]["results"] if r["target"] == "onnxruntime:cpu"]
    assert len(_every(runs)) > 20 and sorted(done) == sorted(_every(runs))  # each case once, all of them
    assert "retried:" in fleet.stdout and "from c" in fleet.stdout


def test_show_and_html_read_the_fleet_report(fleet, tmp_path):
    html = tmp_path / "fleet.html"
    code, stdout, stderr = finish(facade_cli("conformance", "show", str(fleet.path), "--html", str(html),
                                             "--markdown"))
    assert code == 0, stderr
    page = html.read_text()
    for fingerprint in ("sim-a", "sim-b"):
        assert fingerprint in stdout and fingerprint in page
    lost = len(by_label(json.loads(fleet.path.read_text()))["b"]["lost"])
    for text in (stdout, page):  # which node ran, and what the dead one took with it
        assert "cases lost" in text and "left the cluster" in text
    assert "| sim-b | b (host " in stdout and f"| {lost} | " in stdout
    for label in "ac":  # one fingerprint, two nodes: each named
        assert f"<td class=dev>sim-a</td><td>{label} (host " in page


@pytest.mark.skipif(STRACE is None, reason="strace is not installed (scripts/setup installs it)")
@pytest.mark.parametrize("who", ["driver", "cluster"])
def test_the_fleet_connects_to_loopback_only(cluster, fleet, who):
    """The CLI (driver) and every process of the cluster (GCS, raylets, Ray's workers, facade's column children)
    ran under strace -f: every connect() is to a Unix socket or a loopback address."""
    trace = fleet.trace if who == "driver" else cluster.trace
    calls = [ln for ln in trace.read_text().splitlines() if "connect(" in ln and "sa_family=" in ln]
    assert any("AF_INET" in ln for ln in calls), f"the {who} never used a TCP socket?"
    outside = [ln for ln in calls if "AF_UNIX" not in ln and not _loopback(ln)]
    assert not outside, f"the fleet's {who} connected outside loopback:\n" + "\n".join(outside)


def _loopback(line: str) -> bool:
    found = ADDRESS.search(line)
    host = next((g for g in found.groups() if g), "") if found else ""
    return host.startswith("127.") or host in ("::1",) or host.startswith("::ffff:127.")


def test_without_ray_cluster_says_how_to_install_it(tmp_path):
    """Ray made unimportable in a fresh process: --cluster names the pip line; facade itself still runs."""
    blocker = ("import sys, importlib.abc\n"
               "class NoRay(importlib.abc.MetaPathFinder):\n"
               "    def find_spec(self, name, path=None, target=None):\n"
               "        if name == 'ray' or name.startswith('ray.'):\n"
               "            raise ImportError(f'No module named {name!r} (blocked by the test)')\n"
               "sys.meta_path.insert(0, NoRay())\n"
               "from facade.cli import main\n"
               "sys.exit(main(sys.argv[1:]))\n")
    done = subprocess.run([sys.executable, "-c", blocker, "conformance", "run", "builtin", "--filter",
                           "builtin/nhwc_conv", "--targets", "onnxruntime:cpu", "--cluster", "auto",
                           "--out", str(tmp_path / "r.json")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "pip install 'facade-runtime[fleet]'" in done.stderr
    assert not (tmp_path / "r.json").exists()


def test_ray_is_imported_only_under_cluster():
    """The CLI with its --cluster options and the fleet modules load without importing Ray."""
    code = ("import sys\nfrom facade.cli import build_parser\nimport facade.conformance.fleet\n"
            "import facade.conformance.fleet_worker\nbuild_parser()\nprint('ray' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


@pytest.mark.slow  # 20 s: a Ray worker and a measuring child per node
def test_bench_prints_one_latency_table_per_node(cluster, fleet, tmp_path):
    """``a`` (alive after the run) and a new node ``e`` each measure the model on their own target."""
    cluster.ask("add e sim-e")
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "relu",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16])])
    onnx.save(helper.make_model(graph), tmp_path / "m.onnx")
    code, stdout, stderr = finish(facade_cli("bench", str(tmp_path / "m.onnx"), "--targets", "onnxruntime:cpu",
                                             "--budget", "0.05", "--cluster", cluster.address, "--json"))
    assert code == 0, stdout[-2000:] + stderr[-2000:]
    data = json.loads(stdout)
    tables = {t["label"]: t for t in data["nodes"]}
    assert set(tables) == {"a", "e"} and data["unreachable"] == []
    assert tables["a"]["device_fingerprint"] == "sim-a" and tables["e"]["device_fingerprint"] == "sim-e"
    for t in tables.values():
        (row,) = t["results"]
        assert row["target"] == "onnxruntime:cpu" and row["ok"] and row["runs"] >= 1 and row["p50_ms"] > 0


def test_an_address_where_no_cluster_answers_is_named_at_once(tmp_path):
    pytest.importorskip("ray", reason="the fleet extra is not installed (pip install 'facade-runtime[fleet]')")
    started = time.monotonic()
    code, _, stderr = finish(facade_cli("conformance", "run", "builtin", "--filter", "builtin/nhwc_conv",
                                        "--targets", "onnxruntime:cpu", "--cluster", "127.0.0.1:1",
                                        "--out", str(tmp_path / "r.json")), timeout=60)
    assert code == 2 and "No Ray cluster answers" in stderr and "127.0.0.1:1" in stderr, stderr
    assert time.monotonic() - started < 30  # Ray alone retries such an address for minutes


def test_nodes_are_selected_by_label_id_prefix_host_or_fingerprint():
    from facade.conformance.fleet import selected

    names = ["lab-1", "20e954bfaebe165e", "vm", "sim-a"]
    assert selected(names, [])  # no --nodes: every node
    assert selected(names, ["lab-*"]) and selected(names, ["20e954"]) and selected(names, ["vm"])
    assert selected(names, ["board-7", "sim-a"])
    assert not selected(names, ["board-*", "21"])
