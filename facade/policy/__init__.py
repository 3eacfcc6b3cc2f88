"""Ops policy: allow, deny and order targets per device and per model, and bound precision.

A policy file (TOML; YAML when PyYAML is installed) has fixed keys, so ops
documentation stays stable::

    prefer = ["ncnn:*", "onnxruntime:cpu"]   # ordered target globs, before hardware class
    deny = ["*:opencl"]                       # never route here (allow = [...] lifts a deny)
    precision = "fp32"                        # lowest precision allowed: fp32 | fp16 | int8
    select = "order"                          # or "benchmark": time candidates, pick the fastest

    [targets."onnxruntime:*"]                 # options for matching targets
    threads = 2                               # also: precision, engine = { ... } (adapter options)
    min_cosine = 0.99                         # int8 only when its held-out cosine vs fp32 is at least this
    max_top1_drop = 0.01                      # ... and at most this share of top-1 classes changes
    calibration = "calib.npz"                 # int8 samples (relative to this file); see facade.quantize

    [[rules]]                                 # later rules refine earlier ones
    name = "arm-gpus"
    match = { os = "android", gpu_vendor = "ARM*" }
    deny = ["*:opencl"]

``match`` keys: os, arch, cpu, cpu_features, soc, vendor, gpu_vendor, gpu_name,
gpu_driver, npu, android_api (``">=29"``), fingerprint, model (file stem or graph
name glob), sha256 (prefix). Unknown keys are errors that name the file and line.

Where the policy comes from (first found wins): ``Session(policy=...)``, else the
``FACADE_POLICY`` environment variable, else a project file (``facade.toml`` or
``.facade/policy.toml`` in the working directory or a parent), else
``policy.toml`` in the user config directory. The shipped deny-list
``facade/data/known_bad.toml`` is layered under any of them (see
:mod:`facade.policy.sources`; :mod:`facade.policy.matching` for how layers combine).

Precision: the policy's floor and a target's own ``precision`` only ever make the
caller's ``Session(precision=...)`` stricter, never looser. Per-target ``threads``
and ``engine`` options fill in what the caller left unset. ``Session(precision="int8")`` runs an
engine's int8 artifact only within ``min_cosine`` / ``max_top1_drop`` (default 0.99 / 0.01), measured
on that target against fp32 on held-out calibration samples (:mod:`facade.quantization.gate`).
"""

from facade.globs import glob_match
from facade.policy.matching import Decision, decide
from facade.policy.schema import PRECISIONS, SELECT, Rule
from facade.policy.sources import ENV_VAR, Policy, find_policy_file, load_policy, resolve_policy

__all__ = ["ENV_VAR", "PRECISIONS", "SELECT", "Decision", "Policy", "Rule", "decide", "find_policy_file",
           "glob_match", "load_policy", "resolve_policy"]
