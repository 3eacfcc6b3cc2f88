"""Flagging NaN and inf on a target that flushes them (``TargetInfo.flushes_non_finite``).

QNN's HTP returns 0.0 for an all-NaN or all-inf feed where ONNX Runtime's CPU returns NaN: the
numbers look fine and are wrong. The engine cannot be made to keep them, so the runner says so:
a :class:`NonFiniteWarning` (``warnings``, and the ``facade`` log), and a note in ``explain()``.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping

import numpy as np

log = logging.getLogger("facade")


class NonFiniteWarning(UserWarning):
    """Feeds or outputs held NaN or inf on a target that turns them into finite numbers."""


def non_finite(arrays: Mapping[str, object]) -> list[str]:
    """Names of the floating-point arrays in ``arrays`` that hold a NaN or an inf."""
    found = []
    for name, arr in arrays.items():
        if isinstance(arr, np.ndarray) and arr.dtype.kind in "fc" and arr.size and not np.isfinite(arr).all():
            found.append(name)
    return found


def flag(target: str, feeds: Mapping[str, object], outputs: Mapping[str, object], notes: list[str]) -> None:
    """Warn (every run) and note (once) when ``feeds`` or ``outputs`` hold NaN or inf on ``target``."""
    bad_in, bad_out = non_finite(feeds), non_finite(outputs)
    if not bad_in and not bad_out:
        return
    where = "; ".join(part for part in (f"inputs {', '.join(bad_in)}" if bad_in else "",
                                        f"outputs {', '.join(bad_out)}" if bad_out else "") if part)
    message = (f"{target} | NaN or inf in {where}: this target turns non-finite values into finite numbers "
               "(0.0) without an error, so its outputs for these feeds may be wrong. Expected: finite feeds, "
               "or a target that keeps NaN/inf (onnxruntime:cpu, native:cpu).")
    warnings.warn(message, NonFiniteWarning, stacklevel=4)
    log.warning("facade: %s", message)
    note = f"non-finite values seen ({where}): this target flushes NaN/inf to finite numbers"
    if note not in notes:
        notes.append(note)
