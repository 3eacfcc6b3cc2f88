"""Control flow: If, Loop, Scan, each body compiled once into its own Program.

Bodies read outer values through ``scope`` (ONNX lexical scoping), so these
builders are marked ``scoped`` and the interpreter hands them its value table.
"""

from __future__ import annotations

import numpy as np

from .. import registry
from ..ir import Node


def _scoped(fn):
    fn.scoped = True
    return fn


def _program(graph, float64: bool):
    from ..program import Program  # the interpreter imports the registry, hence late

    return Program(graph, float64=float64)


@registry.register("If", 1)
@_scoped
def if_(node: Node, opset: int, *, float64: bool = False):
    """Run one of two bodies by a boolean condition."""
    then_p = _program(node.attrs["then_branch"], float64)
    else_p = _program(node.attrs["else_branch"], float64)

    def run(cond, *, scope):
        prog = then_p if bool(np.asarray(cond).reshape(-1)[0]) else else_p
        res = prog.run({}, scope=scope)
        return tuple(res[n] for n in prog.output_names)
    return run


@registry.register("Loop", 1)
@_scoped
def loop(node: Node, opset: int, *, float64: bool = False):
    """Loop with a trip count and/or condition, carried values and stacked scan outputs."""
    body = _program(node.attrs["body"], float64)
    names = body.input_names

    def run(trip=None, cond=None, *carried, scope):
        n_carried = len(carried)
        max_trip = None if trip is None else int(np.asarray(trip).reshape(-1)[0])
        keep_going = True if cond is None else bool(np.asarray(cond).reshape(-1)[0])
        state = list(carried)
        scans: list[list] = []
        i = 0
        while keep_going and (max_trip is None or i < max_trip):
            feeds = {names[0]: np.array(i, dtype=np.int64), names[1]: np.array(keep_going)}
            feeds.update(zip(names[2:], state, strict=True))
            res = body.run(feeds, scope=scope)
            outs = [res[n] for n in body.output_names]
            keep_going = bool(np.asarray(outs[0]).reshape(-1)[0])
            state = outs[1: 1 + n_carried]
            for k, v in enumerate(outs[1 + n_carried:]):
                if len(scans) <= k:
                    scans.append([])
                scans[k].append(v)
            i += 1
        n_scan = len(body.output_names) - 1 - n_carried
        stacked = [np.stack(s) if s else np.empty((0,), np.float32) for s in scans]
        stacked += [np.empty((0,), np.float32)] * (n_scan - len(stacked))
        return (*state, *stacked)
    return run


@registry.register("Scan", 9)
@_scoped
def scan(node: Node, opset: int, *, float64: bool = False):
    """Scan over axes of its scan inputs, carrying state, stacking scan outputs."""
    body = _program(node.attrs["body"], float64)
    n_scan = node.attrs["num_scan_inputs"]
    in_axes = node.attrs.get("scan_input_axes")
    in_dirs = node.attrs.get("scan_input_directions")
    out_axes = node.attrs.get("scan_output_axes")
    out_dirs = node.attrs.get("scan_output_directions")

    def run(*inputs, scope):
        n_state = len(inputs) - n_scan
        state, xs = list(inputs[:n_state]), inputs[n_state:]
        axes = [a % x.ndim for a, x in zip(in_axes or [0] * n_scan, xs, strict=True)]
        steps = xs[0].shape[axes[0]] if xs else 0
        outs: list[list] = []
        for t in range(steps):
            feeds = dict(zip(body.input_names[:n_state], state, strict=True))
            for k, (x, ax) in enumerate(zip(xs, axes, strict=True)):
                idx = steps - 1 - t if in_dirs and in_dirs[k] else t
                feeds[body.input_names[n_state + k]] = np.take(x, idx, axis=ax)
            res = body.run(feeds, scope=scope)
            vals = [res[n] for n in body.output_names]
            state = vals[:n_state]
            for k, v in enumerate(vals[n_state:]):
                if len(outs) <= k:
                    outs.append([])
                outs[k].append(v)
        stacked = []
        for k, seq in enumerate(outs):
            if out_dirs and out_dirs[k]:
                seq = seq[::-1]
            ax = (out_axes[k] if out_axes else 0)
            arr = np.stack(seq)
            stacked.append(np.moveaxis(arr, 0, ax % arr.ndim))
        return (*state, *stacked)
    return run


@registry.register("Scan", 8, 8)
@_scoped
def scan_batched(node: Node, opset: int, *, float64: bool = False):
    """Scan-8: a leading batch axis on states and scan inputs, and optional sequence lengths."""
    inner = scan(node, opset, float64=float64)
    directions = node.attrs.get("directions")

    def run(seq_lens=None, *inputs, scope):
        if directions and any(directions):
            raise NotImplementedError("Scan-8 reverse directions")
        n_state = len(inputs) - node.attrs["num_scan_inputs"]
        results = []
        for b in range(inputs[0].shape[0]):
            steps = None if seq_lens is None else int(seq_lens[b])
            xs = [x[b] if steps is None else x[b, :steps] for x in inputs[n_state:]]
            results.append(inner(*[s[b] for s in inputs[:n_state]], *xs, scope=scope))
        return tuple(np.stack(parts) for parts in zip(*results, strict=True))
    return run
