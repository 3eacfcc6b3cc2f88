"""Memory planner: liveness over the schedule, then greedy-by-size buffer sharing.

Every intermediate lives from the step that produces it to its last reader.
Tensors whose lifetimes do not overlap can share one buffer; the greedy pass
places the largest tensors first (the "shared objects, greedy by size" strategy
of TFLite's planner), which is close to optimal on CNN chains. An elementwise
operator may write over an input that dies at that very step (in place), so its
output may share that input's buffer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .inplace import FRESH_OUTPUT_OPS, IN_PLACE_KERNELS
from .ir import Graph, Node, free_names

#: Operators whose output may overwrite an input that dies at the same step (see inplace.py).
IN_PLACE_OPS = frozenset(IN_PLACE_KERNELS)
#: Operators whose kernels always allocate their outputs, so an output never shares an input's
#: buffer: the in-place producers plus math that computes every element. Any other operator
#: (Reshape, Transpose, Slice, Identity, Cast to the same type, Expand, sequences, control flow,
#: or one not listed yet) is taken to return a view of its inputs: being wrong the other way round
#: would be a wrong answer (see buffer_last_uses).
ALLOCATING_OPS = FRESH_OUTPUT_OPS | {
    "Neg", "Exp", "Log", "Sqrt", "Reciprocal", "Abs", "Erf", "Tanh", "Floor", "Ceil", "Round", "Sin", "Cos",
    "Pow", "Mean", "Clip", "Elu", "Selu", "HardSigmoid", "Softplus", "Sign", "Where", "Equal", "Less",
    "Greater", "Not", "And", "Or", "LayerNormalization", "InstanceNormalization",
}  # not Sum/Min/Max (one input comes back as it is) nor the Reduce ops (noop_with_empty_axes)


def node_reads(node: Node) -> list[str]:
    """Every value a node reads, including those its subgraphs take from the outer scope."""
    names = [n for n in node.inputs if n]
    for value in node.attrs.values():
        for sub in value if isinstance(value, list) else [value]:
            if isinstance(sub, Graph):
                names.extend(free_names(sub))
    return names


def last_uses(nodes: list[Node], keep: Iterable[str]) -> dict[str, int]:
    """Step index after which each value is dead; values in ``keep`` never die."""
    keep = set(keep)
    last: dict[str, int] = {}
    for i, node in enumerate(nodes):
        for name in node.outputs:
            if name:
                last.setdefault(name, i)
        for name in node_reads(node):
            last[name] = i
    return {n: i for n, i in last.items() if n not in keep}


def buffer_last_uses(nodes: list[Node], keep: Iterable[str], fresh_ops: frozenset[str] = ALLOCATING_OPS,
                     ) -> dict[str, int]:
    """Step after which the *buffer* each value was allocated in is dead, for overwriting in place.

    A value's name can die while its memory lives on: an operator outside ``fresh_ops``
    (Reshape, Transpose, Slice, Squeeze, Identity, a sequence...) may return a view of any
    input, so its output keeps its inputs' buffers alive, transitively. Writing over a dying
    value is safe only once every possible view of it is dead too; otherwise a live view
    changes under its next reader (a wrong answer, not a crash). Values in ``keep`` never die.
    """
    keep, never = set(keep), len(nodes)
    last = last_uses(nodes, ())
    owners: dict[str, set[str]] = {}  # value -> the values whose buffers it may share
    for node in nodes:
        views = set() if node.op_type in fresh_ops else set().union(*(owners.get(n, {n}) for n in node_reads(node)))
        for name in node.outputs:
            if name:
                owners[name] = {name} | views
    end: dict[str, int] = {}
    for value, shared in owners.items():
        at = never if value in keep else last.get(value, never)
        for owner in shared:
            end[owner] = max(end.get(owner, -1), at)
    return end


@dataclass
class Plan:
    """Buffer index per tensor, each buffer's size, and the two totals."""

    assignment: dict[str, int] = field(default_factory=dict)
    buffer_sizes: list[int] = field(default_factory=list)
    no_reuse_bytes: int = 0

    @property
    def peak_bytes(self) -> int:
        """Bytes held by all shared buffers together."""
        return sum(self.buffer_sizes)


def lifetimes(nodes: list[Node], sizes: dict[str, int], keep: set[str]) -> dict[str, tuple[int, int]]:
    """(first step, last step) of every sized intermediate; kept outputs live to the end."""
    end = len(nodes)
    born = {}
    for i, node in enumerate(nodes):
        for name in node.outputs:
            if name in sizes:
                born.setdefault(name, i)
    dies = last_uses(nodes, ())
    return {n: (b, end if n in keep else max(b, dies.get(n, b))) for n, b in born.items()}


def _disjoint(a: tuple[int, int], b: tuple[int, int], in_place: bool) -> bool:
    """Lifetimes that never overlap; an in-place output may start the step its input ends."""
    if in_place and b[1] == a[0]:
        return True
    return a[1] < b[0] or b[1] < a[0]


def plan(nodes: list[Node], sizes: dict[str, int], keep: set[str]) -> Plan:
    """Assign every intermediate to a shared buffer, largest first."""
    life = lifetimes(nodes, sizes, keep)
    producer = {name: node for node in nodes for name in node.outputs}
    result = Plan(no_reuse_bytes=sum(sizes[n] for n in life))
    holders: list[list[str]] = []
    for name in sorted(life, key=lambda n: (-sizes[n], life[n])):
        node = producer[name]
        reusable = set(node.inputs) if node.op_type in IN_PLACE_OPS else set()
        for index, members in enumerate(holders):
            if all(_disjoint(life[name], life[o], o in reusable) for o in members):
                members.append(name)
                result.assignment[name] = index
                break
        else:
            holders.append([name])
            result.assignment[name] = len(holders) - 1
            result.buffer_sizes.append(sizes[name])
    return result
