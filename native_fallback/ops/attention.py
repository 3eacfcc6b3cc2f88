"""Transformer blocks: Attention (masks, causality, GQA, softcap), FlexAttention, RotaryEmbedding, TensorScatter.

Two batched BLAS matmuls and one softmax. Nodes using KV caches (past_key,
past_value, nonpad_kv_seqlen) or sliding windows are declined at build time and
served by the next registered kernel (the onnx.reference bridge).
"""

from __future__ import annotations

import numpy as np

from .. import registry
from ..ir import Node
from .linalg import matmul


def _to_heads(x: np.ndarray, heads: int | None) -> np.ndarray:
    """(B, S, heads*H) -> (B, heads, S, H); 4-D inputs pass through."""
    if x.ndim == 4:
        return x
    b, s, _ = x.shape
    return x.reshape(b, s, heads, -1).transpose(0, 2, 1, 3)


def _bias(mask: np.ndarray | None, causal: bool, q_len: int, kv_len: int, dtype: np.dtype) -> np.ndarray:
    """Additive bias: 0 where attended, -inf where masked (bool masks: True attends)."""
    bias = np.zeros((q_len, kv_len), dtype=dtype)
    if mask is not None:
        if mask.shape[-1] < kv_len:  # a short mask leaves the extra keys masked
            pad = [(0, 0)] * (mask.ndim - 1) + [(0, kv_len - mask.shape[-1])]
            mask = np.pad(mask, pad, constant_values=False if mask.dtype == np.bool_ else -np.inf)
        bias = bias + (np.where(mask, dtype.type(0), dtype.type(-np.inf)) if mask.dtype == np.bool_ else mask)
    if causal:
        allowed = np.arange(kv_len)[None, :] <= np.arange(q_len)[:, None]
        bias = bias + np.where(allowed, dtype.type(0), dtype.type(-np.inf))
    return bias.astype(dtype, copy=False)


@registry.register("Attention", 23)
def attention(node: Node, opset: int):
    """Attention without caches or windows; optional present_key/value and QK outputs."""
    if len([n for n in node.inputs[4:] if n]) or any(
            node.attrs.get(k, -1) != -1 for k in ("left_window_size", "right_window_size")):
        raise NotImplementedError("Attention with KV caches or sliding windows")
    a = node.attrs
    mode = a.get("qk_matmul_output_mode", 0)
    softcap = a.get("softcap", 0.0)
    precision = a.get("softmax_precision")

    def run(q, k, v, mask=None):
        three_d = q.ndim == 3
        q4 = _to_heads(q, a.get("q_num_heads"))
        k4, v4 = _to_heads(k, a.get("kv_num_heads")), _to_heads(v, a.get("kv_num_heads"))
        scale = a.get("scale", 1 / np.sqrt(q4.shape[-1]))
        if q4.shape[1] != k4.shape[1]:  # grouped-query attention: share each KV head
            reps = q4.shape[1] // k4.shape[1]
            k4, v4 = np.repeat(k4, reps, axis=1), np.repeat(v4, reps, axis=1)
        root = q.dtype.type(np.sqrt(scale))  # scale split over Q and K, as the specification does
        qk = matmul(q4 * root, np.swapaxes(k4, -1, -2) * root)
        if softcap > 0:
            qk = np.tanh(qk / softcap) * softcap
        bias = _bias(mask, bool(a.get("is_causal", 0)), q4.shape[2], k4.shape[2], q.dtype)
        scores = qk + bias
        if precision:
            from onnx.helper import tensor_dtype_to_np_dtype

            scores = scores.astype(tensor_dtype_to_np_dtype(precision))
        peak = scores.max(axis=-1, keepdims=True)
        e = np.exp(scores - np.where(np.isneginf(peak), 0, peak))
        total = e.sum(axis=-1, keepdims=True)
        probs = e / np.where(total == 0, 1, total)
        probs = np.where(np.isneginf(bias.max(axis=-1, keepdims=True)), 0, probs).astype(q.dtype)
        y = matmul(probs, v4)
        if three_d:
            y = y.transpose(0, 2, 1, 3).reshape(y.shape[0], y.shape[2], -1)
        qk_out = {0: qk, 1: qk, 2: scores, 3: probs}[mode].astype(q.dtype)
        return (y, k, v, qk_out)[: len(node.outputs)]
    return run


def _mod(graph) -> object | None:
    """A FlexAttention score/prob modifier body compiled once (one tensor in, one out), or None."""
    if graph is None:
        return None
    from ..program import Program  # the interpreter imports the registry, hence late

    prog = Program(graph)
    if len(prog.input_names) != 1 or len(prog.output_names) != 1:
        raise NotImplementedError("a FlexAttention modifier graph with other than one input and one output")
    return lambda x: prog.run({prog.input_names[0]: x})[prog.output_names[0]]


@registry.register("FlexAttention", 1, domain="ai.onnx.preview")
def flex_attention(node: Node, opset: int):
    """Attention with graph-defined score and probability modifiers (rank-4 Q/K/V, GQA).

    As the specification: Q and K pre-scaled by sqrt(scale) in their own type, the
    scores and softmax in ``softmax_precision`` (default float32 for 16-bit inputs),
    the modifiers applied to the scores before and the probabilities after softmax.
    """
    a = node.attrs
    score_mod, prob_mod = _mod(a.get("score_mod")), _mod(a.get("prob_mod"))
    precision = a.get("softmax_precision")

    def run(q, k, v):
        if q.ndim != 4 or k.ndim != 4 or v.ndim != 4:
            raise ValueError(f"FlexAttention needs rank-4 Q, K, V; got {q.shape}, {k.shape}, {v.shape}")
        if q.shape[1] != k.shape[1]:  # grouped-query attention: share each KV head
            reps = q.shape[1] // k.shape[1]
            k, v = np.repeat(k, reps, axis=1), np.repeat(v, reps, axis=1)
        if precision:
            from onnx.helper import tensor_dtype_to_np_dtype

            compute = np.dtype(tensor_dtype_to_np_dtype(precision))
        else:
            compute = np.dtype(np.float32) if q.dtype.itemsize < 4 else q.dtype
        root = np.array(np.sqrt(np.float32(a.get("scale", 1 / np.sqrt(q.shape[-1])))), dtype=q.dtype)
        scores = np.matmul((q * root).astype(compute), np.swapaxes(k * root, -1, -2).astype(compute))
        if score_mod is not None:
            scores = np.asarray(score_mod(scores), dtype=compute)
        e = np.exp(scores - scores.max(axis=-1, keepdims=True))
        probs = e / e.sum(axis=-1, keepdims=True)
        if prob_mod is not None:
            probs = np.asarray(prob_mod(probs), dtype=compute)
        return (np.matmul(probs, v.astype(compute)).astype(v.dtype),)
    return run


def _rotate(x: np.ndarray, cos: np.ndarray, sin: np.ndarray, interleaved: bool) -> np.ndarray:
    """Rotate pairs of the last axis: halves (x1 | x2) or interleaved (x1, x2, x1, x2, ...)."""
    x1, x2 = (x[..., 0::2], x[..., 1::2]) if interleaved else np.split(x, 2, axis=-1)
    real, imag = cos * x1 - sin * x2, sin * x1 + cos * x2
    if interleaved:
        return np.stack([real, imag], axis=-1).reshape(x.shape)
    return np.concatenate([real, imag], axis=-1)


@registry.register("RotaryEmbedding", 23)
def rotary_embedding(node: Node, opset: int):
    """RoPE over (B, heads, S, H) or (B, S, heads*H) inputs, with optional position ids."""
    interleaved = bool(node.attrs.get("interleaved", 0))
    rot_dim, heads = node.attrs.get("rotary_embedding_dim", 0), node.attrs.get("num_heads", 0)

    def run(x, cos, sin, position_ids=None):
        # Work in (B, S, heads, H), the layout the caches broadcast against.
        xs = np.transpose(x, (0, 2, 1, 3)) if x.ndim == 4 else x.reshape(*x.shape[:2], heads, -1)
        dim = rot_dim or xs.shape[-1]
        if position_ids is not None:
            cos, sin = cos[position_ids], sin[position_ids]
        cos, sin = cos[:, :, None, :], sin[:, :, None, :]
        rotated = _rotate(xs[..., :dim], cos, sin, interleaved)
        ys = np.concatenate([rotated, xs[..., dim:]], axis=-1).astype(x.dtype, copy=False)
        return (np.transpose(ys, (0, 2, 1, 3)) if x.ndim == 4 else ys.reshape(x.shape),)
    return run


@registry.register("TensorScatter", 24)
def tensor_scatter(node: Node, opset: int):
    """KV-cache update: write ``update`` into a copy of ``past_cache`` at per-batch sequence offsets."""
    axis_attr, circular = node.attrs.get("axis", -2), node.attrs.get("mode", "linear") == "circular"

    def run(past, update, write_indices=None):
        axis = axis_attr % past.ndim
        present = past.copy()
        steps, capacity = update.shape[axis], past.shape[axis]
        starts = np.zeros(past.shape[0], np.int64) if write_indices is None else write_indices.astype(np.int64)
        for b, start in enumerate(starts):
            rows = start + np.arange(steps)
            rows = rows % capacity if circular else rows
            dst = np.moveaxis(present[b], axis - 1, 0)  # a view: writing it writes ``present``
            dst[rows] = np.moveaxis(update[b], axis - 1, 0)
        return (present,)
    return run
