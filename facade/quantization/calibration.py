"""Calibration data for post-training quantization: read, checked against the model, split, hashed.

What ``DATA`` may be (every array is checked against the model's inputs, by name,
dtype and static dims, as a feed would be):

- one ``.npz`` file with one array per input name, samples stacked on a new leading
  axis (``(N, *input_shape)``), or along the batch axis (``(N * batch, ...)``);
- a folder of ``.npz`` files, each holding one sample (or a stack) under the input names;
- a folder of ``.npy`` files: for a one-input model each file is a sample (or a stack);
  otherwise one ``<input name>.npy`` stack per input.

The last :func:`held_out_count` samples are kept out of calibration and used to
measure the quantized model against fp32: figures on data the calibration saw
would flatter it. Nothing here is ever random: without data there is no int8.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facade.errors import InputError, format_message
from facade.model import Model
from facade.tensor import TensorSpec, validate_feeds

#: Fewest samples calibration itself needs (static scheme), and fewest held out for the accuracy figures.
MIN_CALIBRATION = 4
MIN_HELD_OUT = 2
HELD_OUT_FRACTION = 0.2

Sample = dict[str, np.ndarray]


class CalibrationError(InputError):
    """Calibration data that does not fit the model: names, dtypes, shapes, too few samples, unreadable files."""


@dataclass(frozen=True)
class CalibrationSet:
    """Samples (one feed dict each, at the model's batch size) and their content digest."""

    source: str
    samples: tuple[Sample, ...]
    digest: str

    def split(self) -> tuple[list[Sample], list[Sample]]:
        """(calibration samples, held-out samples): the held-out ones are the last, never calibrated on."""
        n = held_out_count(len(self.samples))
        return list(self.samples[:-n]), list(self.samples[-n:])


def held_out_count(total: int) -> int:
    """How many of ``total`` samples are held out for measuring accuracy."""
    return max(MIN_HELD_OUT, int(total * HELD_OUT_FRACTION))


def _batch(spec: TensorSpec) -> int:
    """The model's batch size on this input: its static leading dim, else 1."""
    first = spec.shape[0] if spec.shape else None
    return first if isinstance(first, int) and first > 0 else 1


def _samples_of(arr: np.ndarray, spec: TensorSpec, where: str) -> list[np.ndarray]:
    """Split one array into samples for ``spec``: a new leading axis, or chunks of the batch axis."""
    rank = len(spec.shape) if spec.shape is not None else arr.ndim
    if arr.ndim == rank + 1:
        return list(arr)
    if arr.ndim == rank and rank > 0:
        batch = _batch(spec)
        if arr.shape[0] % batch:
            raise CalibrationError(format_message(
                f"Calibration array for input {spec.name!r} cannot be split into samples", where=where,
                received=f"shape {list(arr.shape)}", expected=f"a leading axis that is a multiple of the batch {batch}"))
        return [arr[i:i + batch] for i in range(0, arr.shape[0], batch)]
    raise CalibrationError(format_message(
        f"Calibration array for input {spec.name!r} has the wrong rank", where=where,
        received=f"shape {list(arr.shape)} (rank {arr.ndim})",
        expected=f"{spec.describe()} stacked: rank {rank + 1} (samples first) or {rank} (samples on the batch axis)"))


def _named(arrays: Mapping[str, np.ndarray], specs: Sequence[TensorSpec], where: str) -> list[Sample]:
    """Samples from arrays keyed by input name; names must be exactly the model's inputs."""
    wanted = [s.name for s in specs]
    if set(arrays) != set(wanted):
        missing = [n for n in wanted if n not in arrays]
        extra = [n for n in arrays if n not in wanted]
        raise CalibrationError(format_message(
            "Calibration data names do not match the model's inputs", where=where,
            received=f"{sorted(arrays)}" + (f" (missing {missing})" if missing else "")
            + (f" (not inputs: {extra})" if extra else ""), expected=wanted))
    split = {s.name: _samples_of(np.asarray(arrays[s.name]), s, where) for s in specs}
    counts = {n: len(v) for n, v in split.items()}
    if len(set(counts.values())) > 1:
        raise CalibrationError(format_message("Calibration inputs hold different numbers of samples", where=where,
                                              received=counts, expected="the same count for every input"))
    return [{n: split[n][i] for n in wanted} for i in range(next(iter(counts.values()), 0))]


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError) as e:
        raise CalibrationError(format_message("Calibration file cannot be read", where=str(path),
                                              received=f"{type(e).__name__}: {e}", expected="a numpy .npz")) from e


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise CalibrationError(format_message("Calibration file cannot be read", where=str(path),
                                              received=f"{type(e).__name__}: {e}", expected="a numpy .npy")) from e


def _read(path: Path, specs: Sequence[TensorSpec]) -> list[Sample]:
    if path.is_file():
        if path.suffix != ".npz":
            raise CalibrationError(format_message("Calibration file is not .npz", where=str(path),
                                                  received=path.suffix or "no suffix",
                                                  expected="an .npz with one array per input, or a folder"))
        return _named(_load_npz(path), specs, str(path))
    files = sorted(p for p in path.iterdir() if p.suffix in (".npz", ".npy"))
    if not files:
        raise CalibrationError(format_message("Calibration folder holds no .npz or .npy file", where=str(path),
                                              received=sorted(p.name for p in path.iterdir())[:8],
                                              expected="one .npz per sample, or .npy files"))
    samples: list[Sample] = []
    npy = [p for p in files if p.suffix == ".npy"]
    for f in files:
        if f.suffix == ".npz":
            samples += _named(_load_npz(f), specs, str(f))
    if npy and len(specs) == 1:
        for f in npy:
            samples += _named({specs[0].name: _load_npy(f)}, specs, str(f))
    elif npy:
        samples += _named({p.stem: _load_npy(p) for p in npy}, specs, str(path))
    return samples


def _digest(samples: Sequence[Sample]) -> str:
    h = hashlib.sha256()
    for sample in samples:
        for name, arr in sample.items():
            h.update(f"{name}\0{arr.dtype.str}\0{arr.shape}\0".encode())
            h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def load_calibration(data: str | os.PathLike | CalibrationSet, model: Model, *,
                     minimum: int = MIN_CALIBRATION) -> CalibrationSet:
    """``data`` read and checked against ``model``'s inputs, with at least ``minimum`` samples to calibrate on.

    Raises:
        CalibrationError: the path is missing or unreadable; names, dtypes or shapes do not
            match the model's inputs (each sample is checked as a feed is); too few samples.
    """
    if isinstance(data, CalibrationSet):
        return data
    path = Path(data)
    if not path.exists():
        raise CalibrationError(format_message("Calibration data not found", where=str(path),
                                              expected="an .npz file or a folder of .npz/.npy files"))
    samples = []
    for i, sample in enumerate(_read(path, model.inputs)):
        try:
            samples.append(validate_feeds(model.inputs, sample, f"calibration sample {i}"))
        except InputError as e:
            raise CalibrationError(format_message(f"Calibration data does not fit the model: {e}",
                                                  where=str(path))) from e
    needed = minimum + MIN_HELD_OUT
    if len(samples) < needed:
        raise CalibrationError(format_message(
            "Too few calibration samples", where=str(path), received=len(samples),
            expected=f"at least {needed} ({minimum} to calibrate, {MIN_HELD_OUT} or more held out to measure "
                     "accuracy against fp32)"))
    return CalibrationSet(str(path), tuple(samples), _digest(samples))
