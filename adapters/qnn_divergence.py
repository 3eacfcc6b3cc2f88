"""Where QNN HTP's numbers go wrong: the smallest run of nodes whose outputs diverge from the CPU.

A diverging HTP session is refused (facade never returns a wrong answer), but
"max relative error 0.94 on 'last_hidden_state'" does not say what to change. The
graph is cut into runs of consecutive nodes, each run is compiled for HTP with
the session's own options and fed the CPU's values of its inputs, and the smallest
set of nodes whose outputs diverge on their own is found by bisection and pruning (see
:func:`.qnn_finalize.smallest_bad`).

Measured with QNN 2.51 on the simulator, a known case: an ``Add`` that broadcasts
over the batch (``[2, 16, 32] + [1, 16, 32]``, BERT's word plus position
embeddings) feeding ``LayerNormalization``: batch 1 is right, batch 2 diverges in
fp16 (relative error 0.18 to 0.73) and fails to finalize in float32.
:mod:`.qnn_rewrites` works around it where shape inference sees it; the refusal
names it where it still occurs. A run holding a value fp16 cannot (transformers'
float32-minimum masks) says which tensor.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from facade.adapters.qnn_finalize import Pieces, observed_types, smallest_bad


@dataclass(frozen=True)
class Divergence:
    """The shortest diverging run: (op type, node name) pairs, the worst relative error of its outputs,
    and what was measured about such a run before, if anything."""

    run: list[tuple[str, str]]
    error: float
    known: str = ""

    def describe(self) -> str:
        ops = " -> ".join(op for op, _ in self.run)
        where = (f"node {self.run[0][1]!r}" if len(self.run) == 1
                 else f"nodes {self.run[0][1]!r} to {self.run[-1][1]!r}")
        return f"{ops} ({where}) diverges on its own: relative error {self.error:.3g}{self.known}"


FP16_MAX = 65504.0


def _beyond_fp16(nodes: list, values: Mapping[str, object], pieces: Pieces) -> str:
    """A float value the run reads or writes that fp16 cannot hold (transformers' masks use float32's minimum)."""
    import onnx

    for node in nodes:
        for name in (*node.input, *node.output):
            if name in pieces.consts:
                arr = onnx.numpy_helper.to_array(pieces.consts[name])
            else:
                arr = np.asarray(values.get(name, np.zeros(0)))
            if arr.dtype.kind == "f" and arr.size:
                finite = arr[np.isfinite(arr)]
                if finite.size and float(np.max(np.abs(finite))) > FP16_MAX:
                    peak = float(finite.flat[np.argmax(np.abs(finite))])
                    return (f" ({name!r} holds {peak:.3g}, beyond fp16's range of +-{FP16_MAX:g}, "
                            "so HTP cannot represent it in fp16)")
    return ""


def _known(nodes: list, values: Mapping[str, object], pieces: Pieces) -> str:
    """What was measured about this kind of run (see the module docstring), when it is one."""
    if [n.op_type for n in nodes[-2:]] != ["Add", "LayerNormalization"]:
        return _beyond_fp16(nodes, values, pieces)
    shapes = [tuple(pieces.consts[i].dims) if i in pieces.consts else np.shape(values.get(i))
              for i in nodes[-2].input]
    batches = {s[0] for s in shapes if len(s) >= 2}
    if len(shapes) == 2 and all(len(s) >= 2 for s in shapes) and 1 in batches and len(batches) == 2:
        return (" (measured: HTP gets a LayerNormalization fed by an Add that broadcasts over the batch "
                "wrong at batch > 1; batch 1 is right)")
    return _beyond_fp16(nodes, values, pieces)


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return float("inf")
    scale = float(np.max(np.abs(b))) if b.size else 0.0
    diff = float(np.max(np.abs(a - b))) if b.size else 0.0
    return diff / scale if scale > 0 else diff


def first_divergence(proto, values: Mapping[str, object], run_piece: Callable[[bytes, dict], list],
                     tolerance: float, budget_s: float = 90.0) -> Divergence | None:
    """The shortest run of consecutive nodes whose HTP outputs leave ``tolerance``, else None.

    ``values`` are the CPU's values of every tensor (:func:`.qnn_finalize.observed_values`);
    ``run_piece(model_bytes, feeds)`` runs a piece on HTP and returns its outputs in order.
    """
    pieces = Pieces(proto, observed_types(values), values)
    nodes = pieces.nodes
    deadline = time.monotonic() + budget_s
    worst: dict[tuple[int, ...], float] = {}

    def diverges(indices: list[int]) -> bool:
        if time.monotonic() > deadline:
            return False
        built = pieces.piece([nodes[i] for i in indices], fold=True)
        if built is None:
            return False
        data, inputs, outputs = built
        floats = [o for o in outputs if np.asarray(values[o]).dtype.kind == "f"]
        if not floats:
            return False
        try:
            got = dict(zip(outputs, run_piece(data, {i: values[i] for i in inputs}), strict=True))
        except Exception:  # a piece HTP cannot take says nothing about the numbers
            return False
        error = max(_relative(got[o], values[o]) for o in floats)
        worst[tuple(indices)] = error
        return error > tolerance

    kept = smallest_bad(len(nodes), diverges)
    if kept is None:
        return None
    run = [nodes[i] for i in kept]
    return Divergence([(n.op_type, n.name or f"unnamed {n.op_type}") for n in run],
                      worst.get(tuple(kept), float("nan")), _known(run, values, pieces))
