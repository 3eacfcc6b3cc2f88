"""Optional values: Optional, OptionalHasElement, OptionalGetElement.

The engine holds an optional as its value (an array, or a list for a sequence)
when present and as ``None`` when absent, the representation ``Session.run``
feeds and returns. onnx.reference (1.23) wraps a present optional in a list and
an absent one as ``[None]``, which made ``OptionalHasElement`` of an empty
optional true and ``If`` return a sequence nested one level too deep; these
native kernels replace the bridged ones.
"""

from __future__ import annotations

import numpy as np

from .. import registry
from ..ir import Node


@registry.register("Optional", 15)
def optional(node: Node, opset: int):
    """Wrap a value (present) or make an empty optional of the ``type`` attribute (absent)."""
    return lambda x=None: (x,)


@registry.register("OptionalHasElement", 15)
def optional_has_element(node: Node, opset: int):
    """A 0-d bool: whether the optional holds a value (an omitted input, opset 18, is empty)."""
    return lambda x=None: (np.array(x is not None),)


@registry.register("OptionalGetElement", 15)
def optional_get_element(node: Node, opset: int):
    """The optional's value (from opset 18 a plain tensor or sequence passes through); empty is an error."""

    def run(x=None):
        if x is None:
            raise ValueError("the optional input holds no value (OptionalGetElement needs a present value)")
        return (x,)
    return run
