"""A local Ray cluster for the fleet tests, in its own process so the tests can trace it (strace -f).

``python -m tests.conformance.fleet_cluster`` starts the nodes of :data:`NODES` with
``ray.cluster_utils.Cluster`` and prints one JSON line: the address and each node's id by
label. Then it reads commands, one a line, and answers each with a line:
``remove LABEL`` (the node is killed, SIGKILL, no graceful exit), ``add LABEL FINGERPRINT``
(a new node offering onnxruntime:cpu). End of input shuts the cluster down.

Ray is kept off the network: usage stats off and the dashboard off, every address on
loopback; and since Ray's head still starts its usage-stats module, which probes cloud
metadata addresses (169.254.169.254, metadata.google.internal) and posts a "disabled"
report to its server even with usage stats off, that module's HTTP goes to a proxy on
a closed loopback port and the report URL is a closed loopback port too.
"""

from __future__ import annotations

import json
import os
import sys

#: What every process of the test cluster (and its driver) gets.
OFFLINE = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # 127.0.0.1 stays 127.0.0.1 (else the host's outward address)
    "RAY_USAGE_STATS_REPORT_URL": "http://127.0.0.1:9/",
    "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9", "no_proxy": "127.0.0.1,localhost,::1",
}
NODE = {"num_cpus": 1, "object_store_memory": 80 * 1024**2, "include_dashboard": False,
        "node_ip_address": "127.0.0.1"}
# A node that dies is noticed within about a second (Ray's default is 15 s).
HEAD = {**NODE, "_system_config": {"health_check_period_ms": 300, "health_check_failure_threshold": 3}}
ORT = {"facade.target.onnxruntime:cpu": 1}
#: label, fingerprint override, advertised targets; the first is the head.
NODES = [("a", "sim-a", ORT), ("b", "sim-b", {**ORT, "facade.target.native:cpu": 1}), ("c", "sim-a", ORT)]


def _labels(label: str, fingerprint: str) -> dict:
    return {"labels": {"facade.label": label, "facade.fingerprint": fingerprint}}


def main() -> int:
    os.environ.update(OFFLINE)  # before Ray is imported: it reads them at import and passes them to every node
    from ray.cluster_utils import Cluster

    (head, *rest) = NODES
    cluster = Cluster(initialize_head=True, head_node_args={**HEAD, "resources": head[2], **_labels(*head[:2])})
    nodes = {head[0]: cluster.head_node}
    nodes.update({label: cluster.add_node(**NODE, resources=res, **_labels(label, fp)) for label, fp, res in rest})
    ids = lambda: {label: n.node_id for label, n in nodes.items()}  # noqa: E731
    print(json.dumps({"address": cluster.address, "nodes": ids()}), flush=True)
    try:
        for line in sys.stdin:
            command, *args = line.split()
            if command == "remove":
                cluster.remove_node(nodes[args[0]], allow_graceful=False)
            elif command == "add":
                nodes[args[0]] = cluster.add_node(**NODE, resources=ORT, **_labels(*args))
            print(json.dumps({"done": line.strip(), "nodes": ids()}), flush=True)
    finally:
        cluster.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
