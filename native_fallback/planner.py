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

from .inplace import IN_PLACE_KERNELS
from .ir import Graph, Node, free_names

#: Operators whose output may overwrite an input that dies at the same step (see inplace.py).
IN_PLACE_OPS = frozenset(IN_PLACE_KERNELS)


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
