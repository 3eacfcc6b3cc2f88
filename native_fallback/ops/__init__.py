"""Operator families. Importing this package registers every kernel, explicitly, module by module."""

from . import (  # noqa: F401  (imported for their registrations)
    activation,
    bridge,
    control,
    conv,
    elementwise,
    linalg,
    misc,
    normalization,
    pool,
    quant,
    reduce,
    rnn,
    tensor,
)
