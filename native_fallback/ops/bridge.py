"""Bridge to onnx.reference for the long tail of operators with no native kernel yet.

Why: the fallback's promise is that *every* model runs. Rare operators (random
generators, sequences, optional values, signal ops, ...) are served by the onnx
package's reference implementation, wrapped as a kernel, until a native kernel
replaces them. Bridged entries are registered ``native=False``, so a native kernel
covering the same opset always wins, and coverage reports count them apart.
Operators whose reference implementation is known wrong (BatchNormalization,
LRN at onnx 1.23) have native kernels, which take precedence.
"""

from __future__ import annotations

import onnx

from .. import registry
from ..ir import Node

#: Not inference operators, or string processing: declared out of scope.
OUT_OF_SCOPE = frozenset({
    "Adam", "Adagrad", "Momentum", "Gradient", "StringNormalizer", "RegexFullMatch",
    "StringConcat", "StringSplit", "TfIdfVectorizer",
})


def _silent(*_args: object) -> None:
    """The reference ops' logger, muted."""


def _builder(op_type: str):
    def build(node: Node, opset: int):
        from onnx.reference import ReferenceEvaluator
        from onnx.reference.ops import load_op

        if node.proto is None:
            raise NotImplementedError(f"{op_type} has no native kernel and no source node to bridge")
        cls = load_op("", op_type, opset)
        params = {"log": _silent, "opsets": {"": opset}, "verbose": 0, "new_ops": None,
                  "existing_functions": {}, "evaluator_cls": ReferenceEvaluator}
        impl = cls(node.proto, params)

        def run(*xs):
            res = impl.run(*xs)
            return res if isinstance(res, tuple) else (res,)
        return run
    return build


def register_bridged() -> None:
    """Register a bridged entry for every default-domain operator onnx.reference knows."""
    names = {s.name for s in onnx.defs.get_all_schemas_with_history() if s.domain == ""}
    for name in sorted(names - OUT_OF_SCOPE):
        registry.register(name, native=False)(_builder(name))


register_bridged()
