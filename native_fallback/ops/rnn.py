"""Recurrent layers: RNN, GRU, LSTM (forward, reverse, bidirectional, layout 0 and 1).

The input projection of every time step is one GEMM up front; only the recurrent
GEMM stays inside the time loop, which the recurrence makes unavoidable.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .. import registry
from ..ir import Node
from .activation import activation

_DEFAULTS = {"RNN": ["Tanh"], "GRU": ["Sigmoid", "Tanh"], "LSTM": ["Sigmoid", "Tanh", "Tanh"]}
_GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


def _activations(node: Node, kind: str, dirs: int) -> list[list[Callable]]:
    names = node.attrs.get("activations") or _DEFAULTS[kind] * dirs
    alphas, betas = node.attrs.get("activation_alpha", []), node.attrs.get("activation_beta", [])
    fns = []
    for i, name in enumerate(names):
        attrs = {}
        if i < len(alphas):
            attrs["alpha"] = alphas[i]
        if i < len(betas):
            attrs["beta"] = betas[i]
        fns.append(activation(name, attrs))
    per = len(_DEFAULTS[kind])
    return [fns[d * per: (d + 1) * per] for d in range(dirs)]


def _cell(kind: str, node: Node, f: list[Callable], clip: float | None):
    """The per-step update for one direction: (x_proj, h, c, R, Rb, P) -> (h, c)."""
    lbr = node.attrs.get("linear_before_reset", 0)
    couple = node.attrs.get("input_forget", 0)

    def cl(v):
        return v if clip is None else np.clip(v, -clip, clip)

    def rnn(xp, h, c, r, rb, p):
        return f[0](cl(xp + h @ r.T + rb)), c

    def gru(xp, h, c, r, rb, p):
        hs = r.shape[1]
        rz, rr, rh = r[:hs], r[hs:2 * hs], r[2 * hs:]
        bz, br, bh = rb[:hs], rb[hs:2 * hs], rb[2 * hs:]
        z = f[0](cl(xp[:, :hs] + h @ rz.T + bz))
        rg = f[0](cl(xp[:, hs:2 * hs] + h @ rr.T + br))
        if lbr:
            ht = f[1](cl(xp[:, 2 * hs:] + rg * (h @ rh.T + bh)))
        else:
            ht = f[1](cl(xp[:, 2 * hs:] + (rg * h) @ rh.T + bh))
        return (1 - z) * ht + z * h, c

    def lstm(xp, h, c, r, rb, p):
        hs = r.shape[1]
        g = xp + h @ r.T + rb
        gi, go, gf, gc = (g[:, k * hs:(k + 1) * hs] for k in range(4))
        pi, po, pf = (p[k * hs:(k + 1) * hs] for k in range(3))
        i = f[0](cl(gi + pi * c))
        fg = 1 - i if couple else f[0](cl(gf + pf * c))
        c_new = fg * c + i * f[1](cl(gc))
        o = f[0](cl(go + po * c_new))
        return o * f[2](c_new), c_new

    return {"RNN": rnn, "GRU": gru, "LSTM": lstm}[kind]


def _recurrent(kind: str):
    def build(node: Node, opset: int):
        direction = node.attrs.get("direction", "forward")
        dirs = 2 if direction == "bidirectional" else 1
        layout = node.attrs.get("layout", 0)
        clip = node.attrs.get("clip")
        cells = [_cell(kind, node, fns, clip) for fns in _activations(node, kind, dirs)]
        gates = _GATES[kind]

        def run(x, w, r, b=None, seq_lens=None, h0=None, c0=None, p=None):
            if layout:
                x = np.swapaxes(x, 0, 1)
                h0 = None if h0 is None else np.swapaxes(h0, 0, 1)
                c0 = None if c0 is None else np.swapaxes(c0, 0, 1)
            steps, batch = x.shape[:2]
            hs = r.shape[-1]
            lens = np.full(batch, steps) if seq_lens is None else seq_lens.astype(np.int64)
            y = np.zeros((steps, dirs, batch, hs), dtype=x.dtype)
            h_last = np.zeros((dirs, batch, hs), dtype=x.dtype)
            c_last = np.zeros((dirs, batch, hs), dtype=x.dtype)
            for d in range(dirs):
                wb = np.zeros(gates * hs, x.dtype) if b is None else b[d, : gates * hs]
                rb = np.zeros(gates * hs, x.dtype) if b is None else b[d, gates * hs:]
                if kind != "GRU":  # GRU keeps Rb apart: with linear_before_reset it sits inside r * (...)
                    wb, rb = wb + rb, np.zeros_like(rb)
                pp = np.zeros(3 * hs, x.dtype) if p is None else p[d]
                xp = x @ w[d].T + wb
                h = np.zeros((batch, hs), x.dtype) if h0 is None else h0[d].copy()
                c = np.zeros((batch, hs), x.dtype) if c0 is None else c0[d].copy()
                reverse = direction == "reverse" or d == 1
                for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
                    live = (t < lens)[:, None]
                    h_new, c_new = cells[d](xp[t], h, c, r[d], rb, pp)
                    h = np.where(live, h_new, h)
                    c = np.where(live, c_new, c)
                    y[t, d] = np.where(live, h_new, 0)
                h_last[d], c_last[d] = h, c
            if layout:
                y, h_last, c_last = y.transpose(2, 0, 1, 3), np.swapaxes(h_last, 0, 1), np.swapaxes(c_last, 0, 1)
            return (y, h_last, c_last)[: len(node.outputs)]
        return run
    return build


for _kind in ("RNN", "GRU", "LSTM"):
    registry.register(_kind, 7)(_recurrent(_kind))
