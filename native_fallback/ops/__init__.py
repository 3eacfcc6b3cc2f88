"""Operator families. Importing this package registers every kernel, explicitly, module by module.

Import order does not matter: the registry prefers native kernels over bridged
ones whatever order they were registered in.
"""

from . import (  # noqa: F401  (imported for their registrations)
    activation,
    attention,
    bridge,
    control,
    conv,
    detection,
    elementwise,
    linalg,
    loss,
    misc,
    normalization,
    optional,
    pool,
    quant,
    random,
    reduce,
    resize,
    rnn,
    sequence,
    signal,
    squeeze_excite,
    tensor,
)
