"""QNN execution-provider options: which exist, which facade owns, and the soc_model fp16 needs.

Measured with onnxruntime-qnn 2.7.0 (QNN 2.51) on the x86-64 simulator (details in
the repository's QNN notes): fp16 there needs a ``soc_model`` (the EP refuses
otherwise, on x86-64 Linux only), and any SoC with HTP v69 or newer also makes
float graphs compute in fp16 *even with fp16 off*, so facade sets one only for
fp16 sessions. Why a graph fails to finalize is :mod:`.qnn_finalize`'s business.
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Mapping
from dataclasses import dataclass

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
