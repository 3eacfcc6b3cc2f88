"""Graph optimizer: independent passes, each a function Graph -> Graph, run in order.

Each pass lives in its own module and is tested alone against the unoptimized
graph's numbers. The order matters: shapes fold to constants, constants fold,
dead code goes, then BN folds into Conv; an activation feeding a MaxPool moves after
it, and the remaining activations fuse into their Conv.
Programs for the CPU then take the layout passes (channels-last around depthwise
convolutions, then through residual Adds up to global pools, a whole-input pool being one) and let convolutions write into the Concat that joins them, and a
1x1 convolution into the padded input of the depthwise one reading it: node forms
the OpenCL kernels do not understand. So are the exported exact-GELU chain as one
Gelu node, MatMul + bias Add as one FusedMatMul (a transformer's feed-forward),
linear layers of one input as one, runs of shape nodes as one Relayout (a channel shuffle read by a
depthwise convolution writing channels-last then done by it), and a convolution's residual Add (and the
Relu after it) as part of the convolution.
"""

from __future__ import annotations

from ..ir import Graph
from .activation_fusion import fuse_activations
from .activation_sinking import fold_relus_into_pools, sink_activations
from .channel_shuffle import fold_channel_shuffles
from .channels_last import channels_last
from .channels_last_regions import channels_last_regions
from .concat_convs import concat_convs
from .constant_folding import fold_constants
from .conv_bn import fold_conv_bn
from .dead_nodes import remove_dead, remove_identities
from .gelu_fusion import fuse_gelu
from .global_pools import global_pools
from .layout_chain import fuse_layout_chains
from .matmul_bias import fuse_matmul_bias
from .merge_linears import merge_linears
from .pointwise_depthwise import pointwise_depthwise
from .redundancy import drop_unit_scaling, merge_duplicates
from .reshape_chain import simplify_chains
from .residual_add import fuse_residual_adds
from .shape_folding import fold_shapes
from .squeeze_excite import squeeze_excite

__all__ = ["CPU_PASSES", "PASSES", "channels_last", "channels_last_regions", "concat_convs", "drop_unit_scaling",
           "fold_channel_shuffles", "fold_constants", "fold_conv_bn", "fold_relus_into_pools", "fold_shapes",
           "fuse_activations", "fuse_gelu", "fuse_layout_chains", "fuse_matmul_bias", "fuse_residual_adds",
           "global_pools", "merge_duplicates", "merge_linears", "optimize", "pointwise_depthwise", "remove_dead",
           "remove_identities", "simplify_chains", "sink_activations", "squeeze_excite"]

PASSES = (fold_shapes, fold_constants, remove_identities, remove_dead, fold_conv_bn, simplify_chains,
          sink_activations, fuse_activations, remove_dead)
#: Passes for the numpy kernels only, after PASSES.
CPU_PASSES = (fold_relus_into_pools, global_pools, channels_last, channels_last_regions, concat_convs,
              pointwise_depthwise, squeeze_excite, fuse_residual_adds, merge_duplicates,
              drop_unit_scaling, fuse_gelu, fuse_matmul_bias, merge_linears, fuse_layout_chains,
              fold_channel_shuffles)


def optimize(graph: Graph, device: str = "cpu") -> Graph:
    """Run every pass for ``device`` once, in order."""
    for step in PASSES + (CPU_PASSES if device == "cpu" else ()):
        graph = step(graph)
    return graph
