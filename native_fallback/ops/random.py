"""Random generators: RandomNormal/Uniform(+Like), Bernoulli, Multinomial.

Draws come from numpy's PCG64, seeded by the node's ``seed`` attribute when it
has one (so a run is reproducible in this engine), otherwise fresh per run. No
engine reproduces another's stream, which is why the node suite's random cases
are known failures: the specification fixes distributions, not draws.
"""

from __future__ import annotations

import numpy as np

from .. import registry
from ..ir import Node


def _rng(node: Node) -> np.random.Generator:
    seed = node.attrs.get("seed")
    return np.random.default_rng(None if seed is None else int(np.float32(seed).view(np.int32)))


def _dtype(node: Node, like: np.ndarray | None = None) -> np.dtype:
    from onnx.helper import tensor_dtype_to_np_dtype

    if "dtype" in node.attrs:
        return np.dtype(tensor_dtype_to_np_dtype(node.attrs["dtype"]))
    return like.dtype if like is not None else np.dtype(np.float32)


def _sampler(kind: str, like: bool):
    def build(node: Node, opset: int):
        a = node.attrs
        if kind == "normal":
            def draw(rng, shape):
                return rng.normal(a.get("mean", 0.0), a.get("scale", 1.0), shape)
        else:
            def draw(rng, shape):
                return rng.uniform(a.get("low", 0.0), a.get("high", 1.0), shape)

        def run(x=None):
            shape = x.shape if like else tuple(a["shape"])
            return (draw(_rng(node), shape).astype(_dtype(node, x)),)
        return run
    return build


registry.register("RandomNormal", 1)(_sampler("normal", like=False))
registry.register("RandomUniform", 1)(_sampler("uniform", like=False))
registry.register("RandomNormalLike", 1)(_sampler("normal", like=True))
registry.register("RandomUniformLike", 1)(_sampler("uniform", like=True))


@registry.register("Bernoulli", 15)
def bernoulli(node: Node, opset: int):
    """1 with probability x, else 0."""
    return lambda x: ((_rng(node).uniform(size=x.shape) < x).astype(_dtype(node, x)),)


@registry.register("Multinomial", 7)
def multinomial(node: Node, opset: int):
    """``sample_size`` class indices per batch row, drawn from unnormalized log-probabilities."""
    from onnx.helper import tensor_dtype_to_np_dtype

    count = node.attrs.get("sample_size", 1)
    dtype = tensor_dtype_to_np_dtype(node.attrs.get("dtype", 6))

    def run(logits):
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        rng = _rng(node)
        return (np.stack([rng.choice(p.shape[1], size=count, p=row) for row in p]).astype(dtype),)
    return run
