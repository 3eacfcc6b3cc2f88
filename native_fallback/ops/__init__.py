"""Operator families. Importing this package registers every kernel, explicitly, module by module."""

from . import (  # noqa: F401  (imported for their registrations)
    activation,
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
from . import bridge  # noqa: F401  (last: only fills what no native kernel covers)
