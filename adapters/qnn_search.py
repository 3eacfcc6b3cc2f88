"""Run the QNN HTP node searches in a child process: QNN may crash on a piece of a graph.

Measured: a piece of the int8 dynamic-quantized BERT segfaults QNN 2.51's simulator
at run time, and ``htp_graph_finalization_optimization_mode=1`` segfaults it on a
two-node graph. The searches (:mod:`.qnn_finalize`, :mod:`.qnn_divergence`) compile
dozens of such pieces, so they run here, in ``python -m facade.adapters.qnn_search
REQUEST.json``, and a crash costs the refusal its detail, never the caller's process.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from facade import childproc
from facade.adapters.qnn_divergence import Divergence
from facade.adapters.qnn_finalize import Unfinalizable


def search(kind: str, proto, ep_options: Mapping[str, str], tolerance: float = 0.0
           ) -> tuple[Unfinalizable | Divergence | None, str]:
    """``(result, problem)``: run search ``kind`` ("finalize" or "diverge") in a child; problem says why none."""
    with tempfile.TemporaryDirectory(prefix="facade-qnn-search-") as tmp:
        model_path = Path(tmp, "model.onnx")
        model_path.write_bytes(proto.SerializeToString())
        request, result = Path(tmp, "request.json"), Path(tmp, "result.json")
        request.write_text(json.dumps({"kind": kind, "model": str(model_path), "options": dict(ep_options),
                                       "tolerance": tolerance, "result": str(result)}))
        done = childproc.run([sys.executable, "-m", "facade.adapters.qnn_search", str(request)],
                             timeout_s=childproc.timeout("search"))
        if done.hung:
            return None, f"the search for the failing nodes ran past {done.timeout_s:g} s"
        if done.returncode != 0 or not result.exists():
            cause = f"signal {-done.returncode}" if done.returncode < 0 else f"exit status {done.returncode}"
            return None, f"the search for the failing nodes crashed QNN ({cause}) on a piece of the graph"
        data = json.loads(result.read_text())
    if kind == "finalize" and data.get("found"):
        found = data["found"]
        found["fused"] = [tuple(x) for x in found["fused"]]
        return Unfinalizable(**found), ""
    if kind == "diverge" and data.get("found"):
        found = data["found"]
        found["run"] = [tuple(x) for x in found["run"]]
        return Divergence(**found), ""
    return None, data.get("problem", "")


def _child(request: Mapping) -> dict:
    import onnx
    import onnxruntime as ort
    import onnxruntime_qnn

    from facade.adapters import qnn_divergence, qnn_finalize
    from facade.convert.verify import valid_feeds
    from facade.model import load_model

    ort.register_execution_provider_library(onnxruntime_qnn.get_ep_name(), onnxruntime_qnn.get_library_path())
    devices = [d for d in ort.get_ep_devices() if d.ep_name == onnxruntime_qnn.get_ep_name()]
    htp = qnn_finalize.HtpPieces(ort, devices, request["options"])
    model = load_model(request["model"])
    proto = onnx.load(request["model"])
    try:
        values = valid_feeds(model.inputs, lambda f: qnn_finalize.observed_values(proto, f, ort))[1]
    except Exception:  # the searches then rely on ONNX shape inference alone
        values = {}
    if request["kind"] == "finalize":
        found = qnn_finalize.unfinalizable(proto, htp.load, values)
        return {"found": dataclasses.asdict(found)}
    if not values:
        return {"found": None, "problem": "the CPU could not run the model on seeded inputs"}
    found = qnn_divergence.first_divergence(proto, values, htp.run, request["tolerance"])
    return {"found": dataclasses.asdict(found) if found else None}


if __name__ == "__main__":
    _request = json.loads(Path(sys.argv[1]).read_text())
    Path(_request["result"]).write_text(json.dumps(_child(_request)))
