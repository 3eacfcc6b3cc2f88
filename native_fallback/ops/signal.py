"""Signal processing: windows (Hann, Hamming, Blackman) and the DFT (through numpy.fft)."""

from __future__ import annotations

import numpy as np

from .. import registry
from ..ir import Node

#: Cosine-sum coefficients a_k of each window: w[n] = sum_k (-1)^k a_k cos(2 pi k n / N).
_COEFFICIENTS = {
    "HannWindow": (0.5, 0.5),
    "HammingWindow": (25 / 46, 21 / 46),
    "BlackmanWindow": (0.42, 0.5, 0.08),
}


def _window(name: str):
    coefficients = _COEFFICIENTS[name]

    def build(node: Node, opset: int):
        from onnx.helper import tensor_dtype_to_np_dtype

        dtype = tensor_dtype_to_np_dtype(node.attrs.get("output_datatype", 1))
        periodic = node.attrs.get("periodic", 1)

        def run(size):
            n = int(np.asarray(size).reshape(-1)[0])
            denominator = n if periodic else n - 1
            k = np.arange(n, dtype=np.float64) * 2 * np.pi / denominator
            w = sum((-1) ** i * a * np.cos(i * k) for i, a in enumerate(coefficients))
            return (np.asarray(w).astype(dtype),)
        return run
    return build


for _name in _COEFFICIENTS:
    registry.register(_name, 17)(_window(_name))


def _dft(x: np.ndarray, length: int | None, axis: int, inverse: bool, onesided: bool) -> np.ndarray:
    """DFT of a real (..., 1) or complex (..., 2) signal along ``axis``; output (..., 2)."""
    signal = x[..., 0] + 1j * x[..., 1] if x.shape[-1] == 2 else x[..., 0]
    ax = axis % x.ndim
    if inverse and onesided:  # a half spectrum in, a real signal (..., 1) out
        y = np.fft.irfft(signal, n=length or 2 * (signal.shape[ax] - 1), axis=ax)
        return y[..., None].astype(x.dtype)
    n = length or signal.shape[ax]
    y = np.fft.ifft(signal, n=n, axis=ax) if inverse else np.fft.fft(signal, n=n, axis=ax)
    if onesided:
        y = np.take(y, range(n // 2 + 1), axis=ax)
    return np.stack([y.real, y.imag], axis=-1).astype(x.dtype)


@registry.register("DFT", 17, 19)
def dft_attr(node: Node, opset: int):
    """DFT with ``axis`` as an attribute (opsets 17 to 19)."""
    axis, inverse, onesided = node.attrs.get("axis", 1), node.attrs.get("inverse", 0), node.attrs.get("onesided", 0)

    def run(x, length=None):
        n = None if length is None or length.size == 0 else int(length.reshape(-1)[0])
        return (_dft(x, n, axis, bool(inverse), bool(onesided)),)
    return run


@registry.register("DFT", 20)
def dft(node: Node, opset: int):
    """DFT with ``axis`` as an input (default -2: the last signal axis)."""
    inverse, onesided = node.attrs.get("inverse", 0), node.attrs.get("onesided", 0)

    def run(x, length=None, axis=None):
        n = None if length is None or length.size == 0 else int(length.reshape(-1)[0])
        ax = -2 if axis is None or axis.size == 0 else int(axis.reshape(-1)[0])
        return (_dft(x, n, ax, bool(inverse), bool(onesided)),)
    return run


@registry.register("STFT", 17)
def stft(node: Node, opset: int):
    """Short-time Fourier transform: strided frames (a view), windowed, one batched FFT."""
    onesided = bool(node.attrs.get("onesided", 1))

    def run(signal, frame_step, window=None, frame_length=None):
        x = signal[..., 0] + 1j * signal[..., 1] if signal.shape[-1] == 2 else signal[..., 0]
        if frame_length is not None and frame_length.size:
            length = int(frame_length.reshape(-1)[0])
        else:
            length = window.shape[0] if window is not None else x.shape[-1]
        step = int(np.asarray(frame_step).reshape(-1)[0])
        frames = np.lib.stride_tricks.sliding_window_view(x, length, axis=-1)[:, ::step]
        if window is not None:
            frames = frames * window
        y = np.fft.rfft(frames, axis=-1) if onesided and signal.shape[-1] == 1 else np.fft.fft(frames, axis=-1)
        return (np.stack([y.real, y.imag], axis=-1).astype(signal.dtype),)
    return run


@registry.register("MelWeightMatrix", 17)
def mel_weight_matrix(node: Node, opset: int):
    """Triangular mel filters over DFT bins (the specification's formula, vectorized over bins)."""
    from onnx.helper import tensor_dtype_to_np_dtype

    dtype = tensor_dtype_to_np_dtype(node.attrs.get("output_datatype", 1))

    def run(num_mel_bins, dft_length, sample_rate, lower_hz, upper_hz):
        bins, length, rate = int(num_mel_bins), int(dft_length), int(sample_rate)
        low_mel = 2595 * np.log1p(lower_hz / 700) / np.log(10)
        high_mel = 2595 * np.log1p(upper_hz / 700) / np.log(10)
        points = np.arange(0, bins + 2) * ((high_mel - low_mel) / (bins + 2)) + low_mel
        edges = (((length + 1) * (700 * np.expm1(points / 2595 * np.log(10)))) // rate).astype(int)
        lo, mid, hi = edges[:-2], edges[1:-1], edges[2:]
        j = np.arange(length // 2 + 1)[:, None]
        rising = np.where(mid == lo, 1.0, (j - lo) / np.where(mid == lo, 1, mid - lo))
        out = np.where((j >= lo) & (j <= mid), rising, 0.0)
        falling = (j >= mid) & (j < hi) & (hi > mid)
        out = np.where(falling, (hi - j) / np.where(hi > mid, hi - mid, 1), out)
        return (out.astype(dtype),)
    return run
