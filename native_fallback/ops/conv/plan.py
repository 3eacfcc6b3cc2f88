"""What a convolution decides from shapes alone: its algorithm (the one place that picks it) and
output shapes."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ...ir import Node
from .geometry import ConvGeometry, conv_geometry

#: Winograd only when both channel counts reach this and the output has this many pixels: below,
#: its transforms cost more than the multiplies they save (measured on ResNet/SqueezeNet layers).
WINOGRAD_MIN_CHANNELS = 64
WINOGRAD_MIN_PIXELS = 196


def winograd_shaped(w_shape: tuple[int, ...], group: int, strides: tuple[int, ...],
                    dilations: tuple[int, ...]) -> bool:
    """The static half of the Winograd rule: 3x3, stride 1, undilated, ungrouped, enough channels.

    The CPU layout pass uses it too: such a convolution writes N,C,H,W (Winograd's
    output transform), so it is not asked for a channels-last output.
    """
    return (tuple(w_shape[2:]) == (3, 3) and group == 1 and tuple(strides) == (1, 1)
            and tuple(dilations) == (1, 1) and w_shape[0] >= WINOGRAD_MIN_CHANNELS
            and w_shape[1] >= WINOGRAD_MIN_CHANNELS)


@dataclass(frozen=True)
class ConvPlan:
    """Everything a convolution decides from shapes alone: geometry, kernel path, output shapes."""

    g: ConvGeometry
    group: int
    path: str  # "pointwise", "depthwise_last", "depthwise", "winograd" or "im2col"
    alloc: tuple[int, ...]  # the (N, M, pixels) or (N, pixels, M) array the kernels write
    result: tuple[int, ...]  # N,M,*out or N,*out,M


def plan_conv(node: Node, x_shape: tuple[int, ...], w_shape: tuple[int, ...], float_input: bool,
              in_last: bool, out_last: bool, winograd: bool) -> ConvPlan:
    """Resolve a convolution for one input and weight shape (``winograd``: Winograd's U can be cached)."""
    group = node.attrs.get("group", 1)
    kernel = tuple(w_shape[2:])
    spatial, channels = (x_shape[1:-1], x_shape[-1]) if in_last else (x_shape[2:], x_shape[1])
    g = conv_geometry(node, spatial, kernel)
    n, m = x_shape[0], w_shape[0]
    if channels != w_shape[1] * group:
        raise ValueError(f"input shape {x_shape} has {channels} channels; weight shape {w_shape} "
                         f"with group {group} needs {w_shape[1] * group}")
    depthwise = group == channels == m and len(kernel) == 2 and w_shape[1] == 1
    if all(k == 1 for k in kernel) and not any(g.pads_begin) and not any(g.pads_end):
        path = "pointwise"
    elif depthwise and (in_last or out_last):
        path = "depthwise_last"
    elif in_last and len(kernel) != 2:
        raise ValueError(f"a channels-last input needs a 2-D convolution, not weight shape {w_shape}")
    elif depthwise:
        path = "depthwise"
    elif (winograd and not (in_last or out_last) and float_input
          and winograd_shaped(w_shape, group, g.strides, g.dilations)
          and g.out_shape[0] * g.out_shape[1] >= WINOGRAD_MIN_PIXELS):
        path = "winograd"
    else:
        path = "im2col"
    pixels = math.prod(g.out_shape)
    alloc = (n, pixels, m) if out_last else (n, m, pixels)
    return ConvPlan(g, group, path, alloc, (n, *g.out_shape, m) if out_last else (n, m, *g.out_shape))
