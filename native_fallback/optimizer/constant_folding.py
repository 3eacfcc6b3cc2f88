"""Constant folding: evaluate, once at compile time, every node whose inputs are all constants.

This is what turns the light models' ``ConstantOfShape(0.02)`` weights into real
initializers once, instead of rebuilding them on every run.
"""

from __future__ import annotations

from ..ir import Graph
from ..program import build_kernel

#: Never folded: their value must differ between runs.
NONDETERMINISTIC = frozenset({"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
                              "Bernoulli", "Multinomial", "Dropout"})


def fold_constants(graph: Graph) -> Graph:
    """Replace constant-only nodes by initializers holding their outputs."""
    kept = []
    for node in graph.nodes:
        foldable = (node.op_type not in NONDETERMINISTIC
                    and not any(isinstance(v, Graph) or (isinstance(v, list) and v and isinstance(v[0], Graph))
                                for v in node.attrs.values())
                    and all(not n or n in graph.initializers for n in node.inputs))
        if foldable:
            try:
                kernel, scoped = build_kernel(graph, node, float64=False)
                if scoped:
                    raise TypeError("control flow is not folded")
                outs = kernel(*[graph.initializers[n] if n else None for n in node.inputs])
            except Exception:  # left for run time, where errors carry the real context
                kept.append(node)
                continue
            for name, value in zip(node.outputs, outs, strict=False):
                if name:
                    graph.initializers[name] = value
            continue
        kept.append(node)
    graph.nodes = kept
    return graph
