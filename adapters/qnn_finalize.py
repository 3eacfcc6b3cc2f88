"""Why QNN's HTP backend refused to finalize a graph: the nodes that fail, found by trying pieces.

``Failed to finalize QNN graph. Error: QNN_COMMON_ERROR_MEM_ALLOC`` is not about
memory (measured with QNN 2.51 on the x86-64 simulator; see the repository's QNN
notes). It is how HTP reports an operator without a kernel in the graph's float
type: in float32 Gelu, HardSigmoid, Where, Gather of floats, Elu, InstanceNorm,
CumSum, LSTM/GRU, NonMaxSuppression, ... One such node fails the whole graph and the
error names none, so the graph is taken apart:

1. every distinct node is finalized alone (a tenth of a second each here);
2. when each passes alone, the failure is a group the QNN EP fuses into one HTP
   operator (torch's erf GELU, ``Div -> Erf -> Add -> Mul -> Mul``, becomes Gelu;
   MobileViT's ``Div -> Softmax -> MatMul``): a short failing run of consecutive
   nodes is found by bisection, then pruned of the nodes it does not need.

The pieces are compiled in a child process (:mod:`.qnn_search`): QNN may crash on one.

Pieces keep the tensor types one ONNX Runtime CPU run observes (HTP needs static
shapes, and ONNX shape inference loses them in torch exports).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Unfinalizable:
    """What failed to finalize: single nodes by operator, else one fused run of nodes."""

    by_op: dict[str, list[str]] = field(default_factory=dict)
    fused: list[tuple[str, str]] = field(default_factory=list)  # (op type, node name) of the shortest failing run
    fused_repeats: int = 0  # other runs of the same operator sequence in the graph
    probed: int = 0  # distinct nodes finalized alone
    left_out: int = 0  # nodes without static types, not tried
    out_of_time: bool = False

    def describe(self) -> str:
        """``Gelu (node 'act'), Where (node 'w' and 2 more)`` or the fused run, for a refusal."""
        if self.by_op:
            return ", ".join(f"{op} (node {names[0]!r}{f' and {len(names) - 1} more' if len(names) > 1 else ''})"
                             for op, names in self.by_op.items())
        if self.fused:
            ops = " -> ".join(op for op, _ in self.fused)
            more = f", and {self.fused_repeats} more run(s) like it" if self.fused_repeats else ""
            gelu = ", the erf form of GELU" if {op for op, _ in self.fused} == {"Div", "Erf", "Add", "Mul"} else ""
            return f"{ops} (nodes {self.fused[0][1]!r} to {self.fused[-1][1]!r}{more}{gelu})"
        return ""


class HtpPieces:
    """Compiles graph pieces for HTP with one session's own provider options."""

    def __init__(self, ort, devices, options: Mapping[str, str]):
        self._ort, self._devices, self._options = ort, devices, dict(options)

    def session(self, data: bytes):
        from facade.adapters.base import stdout_to_stderr

        so = self._ort.SessionOptions()
        so.log_severity_level = 4  # pieces are expected to fail; keep QNN's error lines off stderr
        so.add_provider_for_devices(self._devices, self._options)
        with stdout_to_stderr():
            return self._ort.InferenceSession(data, sess_options=so)

    def load(self, data: bytes) -> None:
        self.session(data)

    def run(self, data: bytes, feeds: Mapping[str, object]) -> list:
        return self.session(data).run(None, dict(feeds))


def refusal_text(found: Unfinalizable | None, precision: str) -> tuple[str, str]:
    """``(what happened, what is expected)`` for a graph HTP did not finalize."""
    kind = "float32" if precision == "fp32" else "fp16"
    if found is None:
        return (f"QNN HTP could not finalize the graph in {kind} (QNN_COMMON_ERROR_MEM_ALLOC), and facade could "
                "not split it to find the node: on HTP this usually means an operator without a "
                f"{kind} kernel (measured in float32: Gelu, HardSigmoid, Where, Elu, CumSum, ...)",
                "precision='fp16', or another target" if precision == "fp32" else "another target")
    if found.by_op or found.fused:
        alone = ("each fails alone" if found.by_op else
                 "each of these nodes finalizes alone, but the QNN EP fuses them into one HTP operator")
        return (f"QNN HTP cannot finalize {found.describe()} in {kind}: {alone}, with "
                f"QNN_COMMON_ERROR_MEM_ALLOC, which is how HTP reports an operator it has no {kind} kernel for",
                "precision='fp16', in which HTP runs these operators, or another target" if precision == "fp32"
                else "a model without these operators, or another target")
    caveat = (f"; {found.left_out} node(s) without static shapes were not tried" if found.left_out else "") + \
             ("; the search ran out of time" if found.out_of_time else "")
    return (f"QNN HTP could not finalize the graph in {kind}, though each of its {found.probed} distinct "
            f"node(s) and every run of consecutive nodes tried finalizes alone{caveat}",
            "a smaller graph, or engine options such as vtcm_mb or htp_graph_finalization_optimization_mode")


def _static(vi) -> bool:
    t = vi.type.tensor_type
    return (vi.type.HasField("tensor_type") and t.elem_type != 0 and t.HasField("shape")
            and all(d.HasField("dim_value") for d in t.shape.dim))


def observed_values(proto, feeds: Mapping[str, object], ort) -> dict[str, object]:
    """Every tensor's value in one ONNX Runtime CPU run on ``feeds`` (raises what ORT raises)."""
    import onnx

    m = onnx.ModelProto()
    m.CopyFrom(proto)
    declared = {o.name for o in m.graph.output}
    m.graph.output.extend(onnx.ValueInfoProto(name=o) for n in m.graph.node for o in n.output
                          if o and o not in declared)
    so = ort.SessionOptions()
    so.log_severity_level = 4  # a refused feed is retried by the caller (verify.valid_feeds)
    sess = ort.InferenceSession(m.SerializeToString(), sess_options=so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return {**feeds, **dict(zip(names, sess.run(names, dict(feeds)), strict=True))}


def observed_types(values: Mapping[str, object]) -> dict[str, object]:
    """Value infos (type and static shape) of the arrays in ``values``."""
    from onnx import helper

    out = {}
    for name, a in values.items():
        try:
            out[name] = helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
        except (AttributeError, KeyError, TypeError, ValueError):  # sequences, optional, types onnx cannot name
            continue
    return out


class Pieces:
    """The main graph's nodes, and one-model pieces of them with static types."""

    def __init__(self, proto, observed: Mapping[str, object] | None = None,
                 values: Mapping[str, object] | None = None):
        import onnx

        self.proto = proto
        # Small integer tensors computed inside the graph (shapes, masks, position ids), from one CPU
        # run: a run of nodes that starts after the Shape -> Gather -> Concat that feeds a Reshape gets
        # the Reshape's shape as a constant, as the whole graph does after ORT's constant folding, so
        # the EP still takes the Reshape and the run found stays short.
        model_inputs = {i.name for i in proto.graph.input}
        self.folded = {}
        for name, value in (values or {}).items():
            arr = np.asarray(value) if hasattr(value, "dtype") else None
            if arr is not None and name not in model_inputs and arr.dtype.kind in "biu" and arr.size <= 4096:
                self.folded[name] = onnx.numpy_helper.from_array(arr, name)
        try:
            inferred = onnx.shape_inference.infer_shapes(proto, data_prop=True)
        except Exception:  # shape inference is best effort; observed types come first anyway
            inferred = proto
        g = inferred.graph
        self.types = {vi.name: vi for vi in (*g.input, *g.value_info, *g.output)} | dict(observed or {})
        self.consts = {t.name: t for t in g.initializer}
        self.nodes = []
        for node in g.node:
            if node.op_type == "Constant" and len(node.attribute) == 1 and node.attribute[0].name == "value":
                self.consts[node.output[0]] = onnx.numpy_helper.from_array(
                    onnx.numpy_helper.to_array(node.attribute[0].t), node.output[0])
            elif not any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute):
                self.nodes.append(node)
        self.graph_outputs = {o.name for o in g.output}

    def typed(self, name: str) -> bool:
        return name in self.types and _static(self.types[name])

    def model(self, nodes: Sequence, fold: bool = False) -> bytes | None:
        """A model of ``nodes`` (consecutive, in graph order), or None when a boundary tensor has no static type."""
        built = self.piece(nodes, fold)
        return None if built is None else built[0]

    def piece(self, nodes: Sequence, fold: bool = False) -> tuple[bytes, list[str], list[str]] | None:
        """:meth:`model` with the piece's input and output names; ``fold`` makes small integer inputs constants."""
        from onnx import helper

        produced = {o for n in nodes for o in n.output if o}
        used_inside = [i for n in nodes for i in n.input if i]
        consts = {**self.folded, **self.consts} if fold else self.consts
        inputs = [i for i in dict.fromkeys(used_inside) if i not in produced and i not in consts]
        later = {i for n in self.nodes[self.nodes.index(nodes[-1]) + 1:] for i in n.input} | self.graph_outputs
        outputs = [o for n in nodes for o in n.output if o and (o in later or o not in used_inside)]
        if not all(self.typed(t) for t in (*inputs, *outputs)):
            return None
        inits = [consts[i] for i in dict.fromkeys(used_inside) if i in consts and i not in produced]
        graph = helper.make_graph(list(nodes), "piece", [self.types[i] for i in inputs],
                                  [self.types[o] for o in outputs], inits)
        opsets = list(self.proto.opset_import)
        data = helper.make_model(graph, opset_imports=opsets, ir_version=self.proto.ir_version).SerializeToString()
        return data, inputs, outputs

    def signature(self, node) -> str:
        """Operator, attributes, input types and small constants: what decides whether HTP has a kernel."""
        import onnx

        key = hashlib.sha256(f"{node.domain}:{node.op_type}".encode())
        for a in sorted(node.attribute, key=lambda a: a.name):
            key.update(a.SerializeToString())
        for name in node.input:
            if name in self.consts:
                t = self.consts[name]
                key.update(f"c{t.data_type}{list(t.dims)}".encode())
                if math.prod(t.dims) <= 64:
                    key.update(onnx.numpy_helper.to_array(t).tobytes())
            else:
                key.update(b"i" + (self.types[name].type.SerializeToString() if name in self.types else b"-"))
        return key.hexdigest()


def _fails(try_load: Callable[[bytes], None], data: bytes | None) -> bool:
    if data is None:
        return False
    try:
        try_load(data)
    except Exception as e:  # the EP raises ORT's own Fail type
        return is_finalize_failure(e)
    return False


def _single_nodes(pieces: Pieces, try_load, found: Unfinalizable, deadline: float) -> None:
    """Finalize each distinct node alone; record every node whose signature fails."""
    groups: dict[str, list] = {}
    for node in pieces.nodes:
        groups.setdefault(pieces.signature(node), []).append(node)
    for nodes in groups.values():
        if time.monotonic() > deadline:
            found.out_of_time = True
            return
        data = pieces.model(nodes[:1])
        if data is None:
            found.left_out += len(nodes)
            continue
        found.probed += 1
        if _fails(try_load, data):
            found.by_op.setdefault(nodes[0].op_type, []).extend(n.name or f"unnamed {n.op_type}" for n in nodes)


def _fused_run(pieces: Pieces, try_load, found: Unfinalizable, deadline: float) -> None:
    """The smallest failing run of nodes (see :func:`smallest_bad`)."""
    nodes = pieces.nodes

    def fails(indices: list[int]) -> bool:
        if time.monotonic() > deadline:
            found.out_of_time = True
            return False
        return _fails(try_load, pieces.model([nodes[i] for i in indices], fold=True))

    kept = smallest_bad(len(nodes), fails)
    if kept is None:
        return
    run = [nodes[i] for i in kept]
    found.fused = [(n.op_type, n.name or f"unnamed {n.op_type}") for n in run]
    ops = [n.op_type for n in run]
    found.fused_repeats = sum(1 for i in range(len(nodes) - len(ops) + 1)
                              if i != kept[0] and [n.op_type for n in nodes[i:i + len(ops)]] == ops)


def smallest_bad(n: int, bad: Callable[[list[int]], bool]) -> list[int] | None:
    """Indices (in graph order) of a small set of nodes for which ``bad`` holds, or None when all ``n`` do not.

    Assumes a set holding a bad set is bad. Two bisections find a short run of
    consecutive nodes (the smallest ``end`` with ``[0, end)`` bad, then the largest
    ``start`` with ``[start, end)`` bad); then each node whose removal keeps the rest
    bad is dropped, since graph order interleaves branches (a mask computed beside
    the embeddings) that the failure does not need.
    """
    def span(start: int, end: int) -> list[int]:
        return list(range(start, end))

    if n == 0 or not bad(span(0, n)):
        return None
    lo, hi = 1, n
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if bad(span(0, mid)) else (mid + 1, hi)
    end = lo
    lo, hi = 0, end - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if bad(span(mid, end)) else (lo, mid - 1)
    kept = span(lo, end)
    for i in list(kept[:-1]):  # the last node is where the failure shows: keep it
        trial = [k for k in kept if k != i]
        if bad(trial):
            kept = trial
    return kept


def unfinalizable(proto, try_load: Callable[[bytes], None], values: Mapping[str, object] | None = None,
                  budget_s: float = 90.0) -> Unfinalizable:
    """Find what HTP fails to finalize in ``proto``; ``try_load`` raises when a piece does not load.

    ``values`` are every tensor's value in one CPU run (:func:`observed_values`), for static types.
    """
    found = Unfinalizable()
    pieces = Pieces(proto, observed_types(values or {}), values)
    deadline = time.monotonic() + budget_s
    _single_nodes(pieces, try_load, found, deadline)
    if not found.by_op and not found.out_of_time:
        _fused_run(pieces, try_load, found, deadline)
    return found


def is_finalize_failure(error: Exception) -> bool:
    """Whether ORT's error is HTP failing to finalize the compiled graph."""
    return "failed to finalize qnn graph" in str(error).lower()
