"""Operator families. Importing this package registers every kernel, explicitly, module by module."""

from . import (  # noqa: F401  (imported for their registrations)
    activation,
    attention,
    bridge,
    control,
    conv,
    detection,
    elementwise,
    linalg,
    misc,
    normalization,
    pool,
    quant,
    reduce,
    resize,
    rnn,
    tensor,
)
