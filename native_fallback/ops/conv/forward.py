"""Conv forward: the plan's algorithm, then the bias and the fused activation."""

from __future__ import annotations

import numpy as np

from ... import compiled, threads
from ...ir import Node
from .c_job import c_job
from .cache import WeightCache
from .depthwise import depthwise, depthwise_c, depthwise_last
from .epilogue import Activation, Epilogue, c_ready
from .fast import Fast, specialise
from .geometry import pad_spatial
from .im2col import im2col_gemm
from .plan import plan_conv
from .pointwise import pointwise
from .rank1 import Rank1, applies, lift_residual
from .winograd import transform_weights, winograd_conv


def conv(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, node: Node, act: Activation | None = None,
         cache: WeightCache | None = None, in_last: bool = False, out_last: bool = False,
         into: np.ndarray | None = None, residual: np.ndarray | None = None, shuffle: int = 0) -> np.ndarray:
    """Conv forward for any spatial rank, returning N,M,*out (float16 computed in float32).

    ``in_last`` / ``out_last``: the input is / the output must be channels-last
    (N,*spatial,C); only 1x1 and depthwise 2-D convolutions take them. ``into``:
    the (N, M, pixels) or (N, pixels, M) array to write, possibly a channel slice
    of a larger one (``ConvConcat``). The GEMM paths write a non-contiguous one
    directly; the others reshape their output across rows, so they write a
    temporary and copy it.

    ``residual`` (the optimizer's ``residual_add``): a tensor added to the result before ``act``.
    ``shuffle`` (the optimizer's ``fold_channel_shuffles``): the input's channels are read shuffled in
    that many groups, by conv.c's depthwise job as it copies them channels-last, else by numpy first.

    A 1-D convolution runs as a 2-D one of height 1 (``rank1``). With conv.c (``cache.lib``, float32, a contiguous output) depthwise convolutions run
    there whole, and the GEMM paths' bias and activation run as one C pass after the GEMM.
    """
    if shuffle:
        return _shuffled(x, w, b, node, act, cache, in_last, out_last, into, residual, shuffle)
    if applies(x, w, in_last, out_last, residual):
        lift = Rank1(node) if cache is None else cache.rank1(node)
        y = conv(x[:, :, None], lift.weight(w), b, lift.node, act, cache, into=into, residual=lift_residual(residual))
        return y.reshape(*y.shape[:-2], y.shape[-1])
    if residual is not None:
        return _with_residual(x, w, b, node, act, cache, in_last, out_last, residual)
    if into is not None and x.dtype != into.dtype:
        raise ValueError(f"output dtype {into.dtype} for input dtype {x.dtype}")
    if x.dtype == np.float16:
        y = conv(x.astype(np.float32), w.astype(np.float32), None if b is None else b.astype(np.float32),
                 node, act, in_last=in_last, out_last=out_last)
        if into is None:
            return y.astype(np.float16)
        into[...] = y.reshape(into.shape)  # the same element order: ``into`` has the pixels flattened
        return into.reshape(y.shape)
    fast = _specialised(x, w, b, node, act, cache, in_last, out_last) if into is None and cache is not None else None
    if fast is not None:
        return fast(x)
    p = (plan_conv(node, x.shape, w.shape, x.dtype.kind == "f", in_last, out_last, False) if cache is None
         else cache.plan(node, x.shape, x.dtype, w, in_last, out_last))
    g, path = p.g, p.path
    if into is not None and into.shape != p.alloc:
        raise ValueError(f"cannot write a convolution of shape {p.alloc} into {into.shape}")
    direct = into is not None and (into.flags.c_contiguous or path in ("pointwise", "im2col"))
    out = into if direct else compiled.empty(p.alloc, x.dtype if x.dtype == w.dtype else np.result_type(x, w))
    lib = cache.lib if cache is not None and c_ready(cache.lib, w, b) and _unit_rows(out) else None
    # conv.c's bias + activation after the GEMM paths (per piece, in cache), whole after the others
    epi = None if lib is None else Epilogue(lib, b, act, out_last)
    biased = acted = False
    job = (None if lib is None or path not in ("pointwise", "im2col") else
           c_job(x, w, b, g, p.group, path, out, act, in_last, out_last, cache, pool := threads.current()))
    if job is not None:  # the whole convolution in C: GEMM pieces on the C pool, bias and activation included
        job.run(pool, x, out)
        biased = acted = True
    elif path == "pointwise":
        biased = pointwise(x, w, p.group, g, out, in_last, out_last, b, cache, epi)
    elif path.startswith("depthwise") and lib is not None and compiled.f32(x) and out.flags.c_contiguous:
        acted, biased = depthwise_c(lib, x, w, b, g, out, in_last, out_last, act, cache), True
        epi = None
    elif path == "depthwise_last":
        depthwise_last(x, w, g, out, in_last, out_last, cache)
    elif path == "depthwise":
        depthwise(pad_spatial(x, g), w, g, out, cache)
    elif path == "winograd":
        winograd_conv(pad_spatial(x, g), cache.get(w, "winograd", lambda: transform_weights(w)), g.out_shape, out)
    else:
        biased = im2col_gemm(x, w, p.group, g, out, in_last, out_last, b, cache, epi)
    if epi is not None:
        if path not in ("pointwise", "im2col"):
            epi.whole(out)
        acted, biased = epi.applies_act, True
    if b is not None and not biased:
        add_bias(out, b, g.out_shape[-1], out_last, w, cache)
    if into is not None and not direct:
        into[...] = out
        out = into
    out = out.reshape(p.result)
    return out if act is None or acted else threads.in_place(act, out)


def _with_residual(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, node: Node, act: Activation | None,
                   cache: WeightCache | None, in_last: bool, out_last: bool, r: np.ndarray) -> np.ndarray:
    """``act(conv(x) + r)``: a GEMM convolution's C job adds ``r`` in its epilogue, piece by piece while
    the output is in cache, when ``r`` is float32, contiguous and of the output's shape; otherwise the
    sum is taken after the convolution, broadcasting as Add does."""
    if cache is not None and c_ready(cache.lib, w, b, r) and compiled.f32(x):
        p = cache.plan(node, x.shape, x.dtype, w, in_last, out_last)
        if p.path in ("pointwise", "im2col") and r.shape == p.result:
            out = compiled.empty(p.alloc)
            job = c_job(x, w, b, p.g, p.group, p.path, out, act, in_last, out_last, cache, pool := threads.current())
            if job is not None:
                job.run(pool, x, out, r)
                return out.reshape(p.result)
    y = conv(x, w, b, node, None, cache, in_last, out_last)
    if np.broadcast_shapes(y.shape, r.shape) == y.shape and np.result_type(y, r) == y.dtype:
        y += r
    else:
        y = y + r
    return y if act is None else threads.in_place(act, y)


def _shuffled(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, node: Node, act: Activation | None,
              cache: WeightCache | None, in_last: bool, out_last: bool, into: np.ndarray | None,
              residual: np.ndarray | None, groups: int) -> np.ndarray:
    """The convolution of ``x``'s channels shuffled in ``groups`` (see :func:`conv`): a float32 depthwise
    one from N,C,H,W to channels-last, of an input shaped as the shuffle's output (``shuffle_shape``), reads
    them shuffled in conv.c's job on the C pool; any other runs on the copy the shuffle's Relayout made (or
    gets its error)."""
    if in_last:
        raise ValueError("a convolution reading its input's channels shuffled needs an N,C,H,W input")
    joined = tuple(node.attrs["shuffle_shape"])
    lib = None if cache is None or not compiled.f32(x) or not c_ready(cache.lib, w, b) else cache.lib
    if (lib is not None and into is None and residual is None and out_last and x.shape == joined
            and threads.current().c_handle() is not None):
        p = cache.plan(node, x.shape, x.dtype, w, in_last, out_last)
        if p.path.startswith("depthwise"):
            out = compiled.empty(p.alloc)
            acted = depthwise_c(lib, x, w, b, p.g, out, in_last, out_last, act, cache, shuffle=groups)
            out = out.reshape(p.result)
            return out if act is None or acted else threads.in_place(act, out)
    n, c, h, wd = joined
    shuffled = np.ascontiguousarray(x.reshape(n, groups, c // groups, h, wd).transpose(0, 2, 1, 3, 4)).reshape(joined)
    return conv(shuffled, w, b, node, act, cache, in_last, out_last, into, residual)


def _unit_rows(out: np.ndarray) -> bool:
    """Whether conv.c's epilogue can write ``out``: float32 with unit-stride rows (a channel slice
    of a joined output qualifies)."""
    return out.dtype == np.float32 and out.strides[-1] == out.itemsize


#: Specialised closures kept per kernel before the memo is cleared (weights fed at run time vary).
FAST_MEMO_MAX = 8


def _specialised(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, node: Node, act: Activation | None,
                 cache: WeightCache, in_last: bool, out_last: bool) -> Fast | None:
    """:func:`fast.specialise`'s closure for this input shape, weight, bias and running pool (a job's split is
    the pool's), made at their first call."""
    key = (x.shape, x.dtype, x.flags.c_contiguous, id(w), id(b), threads.current())
    hit = cache.fast.get(key)
    if hit is None:
        fn = None
        if c_ready(cache.lib, x, w, b):
            p = cache.plan(node, x.shape, x.dtype, w, in_last, out_last)
            fn = specialise(p, x, w, b, act, in_last, out_last, cache)
        if len(cache.fast) >= FAST_MEMO_MAX:
            cache.fast.clear()
        hit = cache.fast[key] = (w, b, fn)  # w and b held: their ids stay theirs while the entry lives
    return hit[2]


def add_bias(out: np.ndarray, b: np.ndarray, last: int, channels_last: bool, w: np.ndarray,
              cache: WeightCache | None) -> None:
    """Add the per-channel bias in one long-run pass.

    Channels-last, the bias is repeated along the last spatial axis (cached): adding
    a (C,) vector would run numpy's inner loop over only C elements, 3 to 4 times
    slower for the 32 to 96 channels of a MobileNet's early layers.
    """
    if channels_last:
        def make() -> np.ndarray:
            return np.tile(b, last)
        if not out.flags.c_contiguous:  # a channel slice of a joined output: rows cannot merge
            out += b
            return
        row = make() if cache is None else cache.get(w, ("bias_row", last), make, also=b)
        out.reshape(-1, last * b.shape[0])[...] += row
    else:
        out += b.reshape(1, -1, 1)
