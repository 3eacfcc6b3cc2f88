"""Losses that appear in exported inference graphs: NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss."""

from __future__ import annotations

import numpy as np

from .. import registry
from ..ir import Node


def nll(log_prob: np.ndarray, target: np.ndarray, weight: np.ndarray | None, reduction: str,
        ignore_index: int | None) -> np.ndarray:
    """-log_prob[n, target[n, ...], ...] weighted, with ignored targets contributing nothing."""
    ignored = np.zeros(target.shape, dtype=bool) if ignore_index is None else target == ignore_index
    safe = np.where(ignored, 0, target).astype(np.int64)
    picked = np.take_along_axis(log_prob, safe[:, None], axis=1)[:, 0]
    w = np.ones(target.shape, dtype=log_prob.dtype) if weight is None else weight[safe].astype(log_prob.dtype)
    w = np.where(ignored, 0, w).astype(log_prob.dtype)
    loss = -picked * w
    if reduction == "none":
        return loss.astype(log_prob.dtype)
    if reduction == "sum":
        return np.array(loss.sum(), dtype=log_prob.dtype)
    total = w.sum()
    return np.array(loss.sum() / total if total else 0.0, dtype=log_prob.dtype)


@registry.register("NegativeLogLikelihoodLoss", 12)
def nll_loss(node: Node, opset: int):
    """NLL over log-probabilities (N, C, d1, ...) and class targets (N, d1, ...)."""
    reduction, ignore = node.attrs.get("reduction", "mean"), node.attrs.get("ignore_index")
    return lambda x, target, weight=None: (nll(x, target, weight, reduction, ignore),)


@registry.register("SoftmaxCrossEntropyLoss", 12)
def softmax_cross_entropy(node: Node, opset: int):
    """Cross entropy of softmax(scores) against class labels; optional log_prob output."""
    reduction, ignore = node.attrs.get("reduction", "mean"), node.attrs.get("ignore_index")

    def run(scores, labels, weight=None):
        shifted = scores - scores.max(axis=1, keepdims=True)
        log_prob = (shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))).astype(scores.dtype)
        return (nll(log_prob, labels, weight, reduction, ignore), log_prob)[: len(node.outputs)]
    return run
