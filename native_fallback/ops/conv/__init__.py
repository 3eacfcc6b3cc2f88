"""Convolution: Conv, ConvTranspose, Col2Im and the optimizer's fused convolutions, one module per job.

Speed comes from never looping per element in Python: a 1x1 convolution is one
GEMM, depthwise convolution is a handful of shifted multiply-adds over strided
views, and everything else is im2col (a strided view copied once) + GEMM, split
into blocks of output rows when the column matrix would be large.

On the CPU the optimizer may hand a 2-D convolution channels-last (N,H,W,C)
tensors (see ``optimizer/channels_last.py``): the node's attributes
``channels_last_in`` / ``channels_last_out`` say which side is. Only Winograd
needs N,C,H,W on both sides.

On float32 the C kernels of ``compiled/conv.c`` take over where they apply: a GEMM
convolution (1x1 or im2col) is one job of the C thread pool (``c_job``: im2col, BLAS
and the bias + activation epilogue per piece, no GIL), the depthwise convolution
(taps, bias and activation in one pass from the unpadded input) and squeeze-and-excite;
numpy stays for other dtypes, the float64 oracle and ``FACADE_NATIVE_KERNELS=numpy``,
and only there does Winograd run (the C job beat numpy's Winograd at every size measured).

Modules: ``geometry`` (padding, windows), ``plan`` (the algorithm choice), ``cache``
(derived weights, plans, the C library), one per algorithm (``pointwise``, ``depthwise``,
``im2col``, ``winograd``), ``c_job`` (a GEMM convolution as one C pool job), ``epilogue`` (conv.c's library, activations and epilogue),
``fast`` (small convolutions specialised per shape), ``rank1`` (a 1-D convolution as a 2-D one of
height 1, so the C kernels take it), ``forward`` (the dispatch),
``kernels`` (Conv, FusedConv, ConvConcat), ``pointwise_depthwise`` and ``transpose``
(ConvTranspose, Col2Im). SqueezeExcite lives in ``ops/squeeze_excite.py``: it needs both this
package and ``ops/pool``, which imports this one.
"""

from __future__ import annotations

from . import kernels, pointwise_depthwise, transpose  # noqa: F401  (imported for their registrations)
from .cache import WeightCache
from .forward import conv
from .geometry import ConvGeometry, conv_geometry, layout_flags, pad_spatial
from .plan import WINOGRAD_MIN_PIXELS, winograd_shaped

__all__ = ["WINOGRAD_MIN_PIXELS", "ConvGeometry", "WeightCache", "conv", "conv_geometry", "layout_flags",
           "pad_spatial", "winograd_shaped"]
