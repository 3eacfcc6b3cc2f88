"""QNN execution-provider options, and why the HTP backend refused to finalize a graph.

Measured with onnxruntime-qnn 2.7.0 (QNN 2.51) on the x86-64 simulator (details in
the repository's QNN notes):

* ``Failed to finalize QNN graph. Error: QNN_COMMON_ERROR_MEM_ALLOC`` is not about
  memory. It is how HTP reports an operator that has no float32 kernel (Gelu,
  HardSigmoid, Where, Elu, InstanceNormalization, CumSum, ...) when a graph is
  finalized in float32; the same graphs finalize in fp16, and neither VTCM size,
  ``htp_arch`` nor the finalization optimization mode changes it. Since one such
  node fails the whole graph, the refusal names the nodes, found by finalizing
  each distinct node alone (a tenth of a second each on the simulator).
* fp16 on the simulator needs a ``soc_model`` (the EP refuses otherwise, on x86-64
  Linux only). Any SoC with HTP v69 or newer also makes float graphs compute in
  fp16 *even with fp16 off*, so facade sets one only for fp16 sessions.
"""

from __future__ import annotations

import hashlib
import math
import platform
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

# The EP's documented provider options (onnxruntime-qnn docs, "EP Provider Options").
PROVIDER_OPTIONS = frozenset({
    "backend_path", "genie_log_level", "profiling_level", "profiling_file_path", "rpc_control_latency",
    "vtcm_mb", "enable_vtcm_backup_buffer_sharing", "htp_performance_mode", "qnn_saver_path",
    "qnn_context_priority", "htp_graph_finalization_optimization_mode", "soc_model", "htp_arch", "device_id",
    "enable_htp_spill_fill_buffer", "offload_graph_io_quantization", "enable_block_quant_weight_optimization",
    "enable_htp_shared_memory_allocator", "extended_udma", "op_packages", "dump_json_qnn_graph",
    "json_qnn_graph_dir", "dump_qnn_ir_dlc", "dump_qnn_ir_dlc_dir", "enable_framework_op_trace",
    "framework_op_trace_dir", "qnn_ir_backend_path", "skip_qnn_version_check", "num_graph_prepare_threads",
    "htp_share_resource_optimization", "disable_file_mapped_weights", "enable_htp_prepare_only",
})
# Set by facade from the target and the precision; a policy setting them would make
# a session compute in a precision it does not report.
OWNED = {"backend_type": "the target (qnn-htp or qnn-gpu)",
         "enable_htp_fp16_precision": "Session(precision='fp16') or the policy's precision",
         "htp_bf16_enable": "the session's precision (facade has no bf16 precision)"}
_INTEGERS = ("soc_model", "htp_arch", "device_id", "vtcm_mb", "rpc_control_latency", "num_graph_prepare_threads")
_RANGES = {"htp_graph_finalization_optimization_mode": ("0", "1", "2", "3")}
_FLAGS = ("enable_vtcm_backup_buffer_sharing", "enable_htp_spill_fill_buffer", "offload_graph_io_quantization",
          "enable_block_quant_weight_optimization", "enable_htp_shared_memory_allocator", "extended_udma",
          "dump_json_qnn_graph", "dump_qnn_ir_dlc", "enable_framework_op_trace", "skip_qnn_version_check",
          "disable_file_mapped_weights", "enable_htp_prepare_only")

# SC8380XP (Snapdragon X Elite, HTP v73): the SoC onnxruntime-qnn is built and tested
# for. Only used where the EP demands one: fp16 on the x86-64 Linux simulator.
SIMULATOR_SOC_MODEL = "60"


@dataclass(frozen=True)
class OptionProblem:
    """What is wrong with one engine option, in the parts of facade's message shape."""

    key: str
    what: str
    received: object
    expected: str
    available: list[str] | None = None
    hint: str | None = None


def as_text(value: object) -> str:
    """An option value as the EP reads it (TOML booleans become "1"/"0")."""
    return ("1" if value else "0") if isinstance(value, bool) else str(value)


def option_problem(options: Mapping[str, object]) -> OptionProblem | None:
    """The first QNN provider option that is unknown, owned by facade, or of the wrong kind."""
    from facade.errors import closest

    for key, value in options.items():
        if key in OWNED:
            return OptionProblem(key, f"Engine option {key!r} is set by facade", repr(value),
                                 f"no {key}: facade sets it from {OWNED[key]}")
        if key not in PROVIDER_OPTIONS:
            guess = closest(str(key), PROVIDER_OPTIONS)
            return OptionProblem(key, f"Unknown QNN provider option {key!r}", repr(key), "a QNN EP provider option",
                                 available=sorted(PROVIDER_OPTIONS), hint=f"Did you mean {guess!r}?" if guess else None)
        if not isinstance(value, (str, int, float, bool)):
            return OptionProblem(key, f"Engine option {key!r} needs a scalar", repr(value), "a string or a number")
        text = as_text(value)
        if key in _INTEGERS and not text.isdigit():
            return OptionProblem(key, f"Engine option {key!r} needs a non-negative integer", repr(value),
                                 'e.g. soc_model = "57" (SM8650) or htp_arch = "75"')
        if key in _RANGES and text not in _RANGES[key]:
            return OptionProblem(key, f"Invalid value for engine option {key!r}", repr(value), " | ".join(_RANGES[key]))
        if key in _FLAGS and text not in ("0", "1"):
            return OptionProblem(key, f"Engine option {key!r} is a flag", repr(value), "0 | 1 | true | false")
    return None


def simulated() -> bool:
    """Whether the HTP backend is the x86-64 Linux simulator (the EP's own test for demanding a soc_model)."""
    return sys.platform.startswith("linux") and platform.machine().lower() not in ("aarch64", "arm64")


def provider_options(backend: str, fp16: bool, engine: Mapping[str, object]) -> tuple[dict[str, str], list[str]]:
    """The EP's options for a session, and trace notes saying what facade chose on the caller's behalf."""
    options = {"backend_type": backend, "enable_htp_fp16_precision": "1" if fp16 else "0",
               **{k: as_text(v) for k, v in engine.items()}}
    if "backend_path" in options:  # the EP takes one of the two
        del options["backend_type"]
    notes = [f"QNN provider options from engine options: {', '.join(f'{k}={as_text(v)}' for k, v in engine.items())}"
             ] if engine else []
    if backend == "htp" and fp16 and "soc_model" not in options and simulated():
        options["soc_model"] = SIMULATOR_SOC_MODEL
        notes.append(f"soc_model {SIMULATOR_SOC_MODEL} (SC8380XP, HTP v73) by default: the simulator needs a SoC "
                     "for fp16; a policy sets another with engine = { soc_model = \"...\" }")
    return options, notes


@dataclass
class Unfinalizable:
    """Nodes that fail to finalize alone, grouped by operator, and how much of the graph was probed."""

    by_op: dict[str, list[str]] = field(default_factory=dict)
    probed: int = 0  # distinct nodes finalized alone
    left_out: int = 0  # nodes without static types, not probed
    out_of_time: bool = False

    def describe(self) -> str:
        parts = []
        for op, nodes in self.by_op.items():
            more = f" and {len(nodes) - 1} more" if len(nodes) > 1 else ""
            parts.append(f"{op} (node {nodes[0]!r}{more})")
        return ", ".join(parts)


def _static(vi) -> bool:
    t = vi.type.tensor_type
    return (vi.type.HasField("tensor_type") and t.elem_type != 0 and t.HasField("shape")
            and all(d.HasField("dim_value") for d in t.shape.dim))


def observed_types(proto, feeds: Mapping[str, object], ort) -> dict[str, object]:
    """Every tensor's type and shape as one ONNX Runtime CPU run on ``feeds`` produces them.

    ONNX shape inference loses static shapes in torch exports (``Shape -> Gather ->
    Concat -> Reshape`` chains, BERT's position ids), and HTP needs static shapes,
    so the shapes are observed rather than inferred. Empty on any failure.
    """
    import onnx
    from onnx import helper

    m = onnx.ModelProto()
    m.CopyFrom(proto)
    declared = {o.name for o in m.graph.output}
    extra = [o for n in m.graph.node for o in n.output if o and o not in declared]
    m.graph.output.extend(onnx.ValueInfoProto(name=n) for n in extra)
    try:
        sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        names = [o.name for o in sess.get_outputs()]
        arrays = sess.run(names, dict(feeds))
        return {n: helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
                for n, a in zip(names, arrays, strict=True) if hasattr(a, "dtype")}
    except Exception:  # best effort: the caller falls back to ONNX shape inference
        return {}


def single_node_models(proto, observed: Mapping[str, object] | None = None
                       ) -> tuple[list[tuple[object, list[str], bytes]], int]:
    """Each distinct node of the main graph as a one-node model of its own, and how many nodes were left out.

    Each entry is (node, names of every node sharing its signature, model bytes).

    Inputs keep their observed (else inferred) static types; weights and Constant outputs stay
    initializers (a Reshape's shape matters to the kernel chosen). Nodes whose
    types are not all known and static are left out: HTP needs static shapes.
    Distinct means another operator, attributes, input types or small constants:
    the big weights' values do not change whether a kernel exists.
    """
    import onnx
    from onnx import helper

    try:
        inferred = onnx.shape_inference.infer_shapes(proto, data_prop=True)
    except Exception:  # shape inference is best effort here; the graph as given still names its own types
        inferred = proto
    g = inferred.graph
    types = {vi.name: vi for vi in (*g.input, *g.value_info, *g.output)} | dict(observed or {})
    consts = {t.name: t for t in g.initializer}
    for node in g.node:
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx") and len(node.attribute) == 1 \
                and node.attribute[0].name == "value":
            consts[node.output[0]] = onnx.numpy_helper.from_array(onnx.numpy_helper.to_array(node.attribute[0].t),
                                                                   node.output[0])
    seen: dict[str, list[str]] = {}  # signature -> names of the nodes that share it
    out: list[tuple[object, list[str], bytes]] = []
    left_out = 0
    for node in g.node:
        if node.op_type == "Constant" or any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
                                             for a in node.attribute):
            continue
        names = [n for n in node.input if n]
        if any(n not in consts and (n not in types or not _static(types[n])) for n in names) or \
                any(n not in types or not _static(types[n]) for n in node.output if n):
            left_out += 1
            continue
        key = hashlib.sha256()
        key.update(f"{node.domain}:{node.op_type}".encode())
        for a in sorted(node.attribute, key=lambda a: a.name):
            key.update(a.SerializeToString())
        for n in node.input:
            if n in consts:
                t = consts[n]
                key.update(b"c" + bytes(str((t.data_type, list(t.dims))), "ascii"))
                if math.prod(t.dims) <= 64:
                    key.update(onnx.numpy_helper.to_array(t).tobytes())
            elif n:
                key.update(b"i" + types[n].type.SerializeToString())
            else:
                key.update(b"-")
        digest = key.hexdigest()
        if digest in seen:
            seen[digest].append(node.name)
            continue
        seen[digest] = [node.name]
        inputs = [types[n] for n in dict.fromkeys(names) if n not in consts]
        inits = [consts[n] for n in dict.fromkeys(names) if n in consts]
        graph = helper.make_graph([node], "probe", inputs, [types[n] for n in node.output if n], inits)
        model = helper.make_model(graph, opset_imports=list(proto.opset_import), ir_version=proto.ir_version)
        out.append((node, seen[digest], model.SerializeToString()))
    return out, left_out


def unfinalizable(proto, try_load: Callable[[bytes], None], observed: Mapping[str, object] | None = None,
                  budget_s: float = 60.0) -> Unfinalizable:
    """Finalize each distinct node alone with ``try_load``; collect those HTP fails to finalize.

    ``try_load`` raises on failure; only finalization failures count (a node the EP
    rejects outright would have run on the CPU inside the whole graph).
    """
    found = Unfinalizable()
    start = time.monotonic()
    models, found.left_out = single_node_models(proto, observed)
    for node, names, data in models:
        if time.monotonic() - start > budget_s:
            found.out_of_time = True
            break
        found.probed += 1
        try:
            try_load(data)
        except Exception as e:  # the EP raises ORT's own Fail type
            if "finalize" in str(e).lower():
                found.by_op.setdefault(node.op_type, []).extend(n or f"unnamed {node.op_type}" for n in names)
    return found


def is_finalize_failure(error: Exception) -> bool:
    """Whether ORT's error is HTP failing to finalize the compiled graph."""
    return "failed to finalize qnn graph" in str(error).lower()
