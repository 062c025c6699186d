"""The spectral DSP of the feature kinds in numpy alone: each function computes what the
librosa function it names computes, for the settings audiokit uses.

Why not librosa itself: importing it pulls in scipy.signal and numba (over a second before the
first feature, its first STFT a little more), which a one-file ``predict`` cannot afford; and
its spectral-shape functions normalise the spectrum once each. The arithmetic here follows
librosa's step by step (same dtypes, same window, same order of operations), so the values are
librosa's to float rounding; tests/test_dsp.py holds every function to librosa on tones, noise,
a chirp, silence and clips shorter than a window.

Spectrograms are ``(1 + n_fft // 2, frames)`` as librosa's.
"""

from __future__ import annotations

import functools

import numpy as np

from audiokit.errors import AudioError

#: librosa.power_to_db's floor on power (and spectral flatness's).
AMIN = 1e-10


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def fft_frequencies(sr: float, n_fft: int) -> np.ndarray:
    """``librosa.fft_frequencies(sr=sr, n_fft=n_fft)``: the centre of each FFT bin in Hz."""
    return np.fft.rfftfreq(n=n_fft, d=1.0 / sr)


@functools.lru_cache(maxsize=16)
def hann(n_fft: int) -> np.ndarray:
    """The periodic Hann window of ``n_fft`` samples, float64 (``scipy.signal.get_window("hann",
    n_fft, fftbins=True)``, which librosa's STFT uses), computed as scipy computes it."""
    fac = np.linspace(-np.pi, np.pi, n_fft + 1)[:n_fft]
    w = np.zeros(n_fft)
    w += 0.5 * np.cos(0 * fac)
    w += 0.5 * np.cos(fac)
    return _readonly(w)


def frame(x: np.ndarray, frame_length: int, hop_length: int) -> np.ndarray:
    """``librosa.util.frame(x, ...)`` of a 1-D signal as a read-only view, ``(frames, frame_length)``
    (transposed from librosa's layout): frame ``t`` is ``x[t * hop_length : t * hop_length + frame_length]``."""
    if x.shape[-1] < frame_length:
        raise ValueError(f"input is too short (n={x.shape[-1]}) for frame_length={frame_length}")
    return np.lib.stride_tricks.sliding_window_view(x, frame_length)[::hop_length]


def stft_magnitude(y: np.ndarray, *, n_fft: int, hop_length: int, center: bool = True) -> np.ndarray:
    """``np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop_length, center=center,
    pad_mode="constant"))`` of a 1-D signal: periodic Hann window of ``n_fft`` samples;
    ``center=True`` pads ``n_fft // 2`` zeros at each end (``1 + len(y) // hop_length`` frames for
    an even ``n_fft``, also for a clip shorter than ``n_fft``); ``center=False`` needs at least
    ``n_fft`` samples. float32 in gives float32 out (librosa's complex64 STFT), float64 float64.

    As librosa does, the windowed frames are transformed in float64 and the spectrum rounded to
    the output's precision before its magnitude is taken, and samples that are not all finite
    are refused (:class:`~audiokit.errors.AudioError`).
    """
    y = np.asarray(y)
    if not np.issubdtype(y.dtype, np.floating):
        y = y.astype(np.float64)
    if not np.isfinite(y).all():
        raise AudioError("contains NaN or infinite samples")
    cdtype = np.complex64 if y.dtype == np.float32 else np.complex128
    if center:
        y = np.pad(y, n_fft // 2)
    frames = frame(y, n_fft, hop_length)
    spec = np.fft.rfft(frames * hann(n_fft), axis=-1)  # (frames, bins): librosa's Fortran-ordered matrix, transposed
    if spec.dtype != cdtype:
        spec = spec.astype(cdtype)
    return np.abs(spec).T


def _hz_to_mel(f: float) -> float:
    """``librosa.hz_to_mel(f)`` of a number (Slaney's scale)."""
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    if f >= min_log_hz:
        return min_log_mel + np.log(f / min_log_hz) / logstep
    return f / f_sp


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    """``librosa.mel_to_hz(mels)`` of an array (Slaney's scale)."""
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    freqs = f_sp * mels
    log_t = mels >= min_log_mel
    freqs[log_t] = min_log_hz * np.exp(logstep * (mels[log_t] - min_log_mel))
    return freqs


def mel_frequencies(n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """``librosa.mel_frequencies(n_mels, fmin=fmin, fmax=fmax)`` (Slaney, ``htk=False``)."""
    return _mel_to_hz(np.linspace(_hz_to_mel(float(fmin)), _hz_to_mel(float(fmax)), n_mels))


def mel_filterbank(sr: float, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """``librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)``: triangular
    filters on Slaney's mel scale, each scaled to unit area (``norm="slaney"``), float32
    ``(n_mels, 1 + n_fft // 2)``. (librosa's "Empty filters" warning is not repeated:
    :meth:`FeatureConfig.check_sound` refuses such settings.)"""
    fmax = float(sr) / 2 if fmax is None else fmax
    weights = np.zeros((n_mels, 1 + n_fft // 2), dtype=np.float32)
    mel_f = mel_frequencies(n_mels + 2, fmin, fmax)
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fft_frequencies(sr, n_fft))
    lower = -ramps[:n_mels] / fdiff[:n_mels, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights[:] = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2:n_mels + 2] - mel_f[:n_mels]))[:, None]
    return weights


def power_to_db(S: np.ndarray, *, ref: float | str = 1.0, amin: float = AMIN,
                top_db: float | None = 80.0) -> np.ndarray:
    """``librosa.power_to_db(S, ref=ref, amin=amin, top_db=top_db)`` of real power ``S``;
    ``ref="max"`` stands for librosa's ``ref=np.max``."""
    S = np.asarray(S)
    ref_value = np.max(S) if isinstance(ref, str) and ref == "max" else np.abs(ref)
    log_spec = 10.0 * np.log10(np.maximum(amin, S))
    log_spec -= 10.0 * np.log10(np.maximum(amin, ref_value))
    if top_db is not None:
        log_spec = np.maximum(log_spec, log_spec.max() - top_db)
    return log_spec


@functools.lru_cache(maxsize=16)
def dct_matrix(n_out: int, n_in: int) -> np.ndarray:
    """The first ``n_out`` rows of the orthonormal DCT-II of ``n_in`` points, float64 ``(n_out, n_in)``:
    ``dct_matrix(k, n) @ X`` is ``scipy.fft.dct(X, type=2, norm="ortho", axis=0)[:k]`` (what
    ``librosa.feature.mfcc`` applies), and, for ``k == n``, its transpose is the inverse DCT."""
    n = np.arange(n_in)
    k = np.arange(n_out)[:, None]
    D = np.cos(np.pi * k * (2 * n + 1) / (2 * n_in)) * np.sqrt(2.0 / n_in)
    D[0] *= np.sqrt(0.5)
    return _readonly(D)


def mfcc(S_db: np.ndarray, n_mfcc: int) -> np.ndarray:
    """``librosa.feature.mfcc(S=S_db, n_mfcc=n_mfcc)`` of a dB mel spectrogram ``(n_mels, frames)``:
    its orthonormal DCT-II over the mel axis, first ``n_mfcc`` rows (fewer when there are fewer
    bands, as librosa), in ``S_db``'s dtype."""
    D = dct_matrix(min(n_mfcc, S_db.shape[-2]), S_db.shape[-2])
    return (D @ S_db).astype(S_db.dtype, copy=False)


def delta(data: np.ndarray, width: int = 9) -> np.ndarray:
    """``librosa.feature.delta(data, width=width)`` along the last axis (``mode="interp"``): the
    Savitzky-Golay first derivative with polynomial order 1, i.e. the least-squares slope over
    ``width`` frames, ``sum(k * x[t + k]) / sum(k²)`` for ``k`` in ``-h..h``; the first and last
    ``h = width // 2`` frames take the slope of the first and last ``width`` frames (scipy's
    polynomial fit of the edges, which for a line is that same slope). Needs an odd
    ``width >= 3`` of at most the number of frames."""
    data = np.asarray(data)
    T = data.shape[-1]
    if width < 3 or width % 2 != 1:
        raise ValueError("width must be an odd integer >= 3")
    if width > T:
        raise ValueError(f"width={width} cannot exceed the number of frames {T}")
    x = data.astype(np.float64)
    h = width // 2
    acc = np.zeros(x.shape[:-1] + (T - 2 * h,))
    for k in range(1, h + 1):
        acc += k * (x[..., h + k:T - h + k] - x[..., h - k:T - h - k])
    acc /= h * (h + 1) * (2 * h + 1) / 3  # sum of k² over -h..h
    out = np.empty(data.shape, dtype=data.dtype if np.issubdtype(data.dtype, np.floating) else np.float64)
    out[..., h:T - h] = acc
    out[..., :h] = acc[..., :1]
    out[..., T - h:] = acc[..., -1:]
    return out


def l1_normalize(S: np.ndarray) -> np.ndarray:
    """``librosa.util.normalize(S, norm=1, axis=-2)`` of a non-negative spectrogram: each frame
    divided by its sum (a frame summing to less than the dtype's smallest normal number is left
    as it is), in ``S``'s dtype. The spectral centroid and bandwidth both start from it."""
    length = np.sum(S.astype(np.float64), axis=-2, keepdims=True)
    length[length < np.finfo(S.dtype).tiny] = 1.0
    out = np.empty_like(S)
    out[:] = S / length
    return out


def spectral_centroid(S: np.ndarray, freq: np.ndarray, *, S_norm: np.ndarray | None = None) -> np.ndarray:
    """``librosa.feature.spectral_centroid(S=S, freq=freq)``, ``(1, frames)`` float64. ``S_norm``:
    :func:`l1_normalize` of ``S`` when the caller has it already."""
    S_norm = l1_normalize(S) if S_norm is None else S_norm
    return np.sum(freq[:, None] * S_norm, axis=-2, keepdims=True)


def spectral_bandwidth(S: np.ndarray, freq: np.ndarray, *, centroid: np.ndarray | None = None,
                       S_norm: np.ndarray | None = None) -> np.ndarray:
    """``librosa.feature.spectral_bandwidth(S=S, freq=freq, centroid=centroid)`` (``p=2``,
    ``norm=True``), ``(1, frames)`` float64."""
    S_norm = l1_normalize(S) if S_norm is None else S_norm
    if centroid is None:
        centroid = spectral_centroid(S, freq, S_norm=S_norm)
    deviation = np.subtract.outer(centroid[0], freq).T  # librosa's abs() is moot when squared
    return np.sum(S_norm * deviation ** 2, axis=-2, keepdims=True) ** 0.5


def spectral_rolloff(S: np.ndarray, freq: np.ndarray, *, roll_percent: float = 0.85) -> np.ndarray:
    """``librosa.feature.spectral_rolloff(S=S, freq=freq, roll_percent=roll_percent)``: the
    frequency of the first bin where the cumulative energy reaches ``roll_percent`` of the
    frame's, ``(1, frames)`` float64."""
    total = np.cumsum(S, axis=-2)
    threshold = roll_percent * total[-1:]
    return freq[np.argmax(total >= threshold, axis=-2)][None, :].astype(np.float64)


def spectral_flatness(S: np.ndarray, *, amin: float = AMIN, power: float = 2.0) -> np.ndarray:
    """``librosa.feature.spectral_flatness(S=S, amin=amin, power=power)``: geometric over arithmetic
    mean of the power spectrum, ``(1, frames)`` in ``S``'s dtype."""
    S_thresh = np.maximum(amin, S ** power)
    gmean = np.exp(np.mean(np.log(S_thresh), axis=-2, keepdims=True))
    amean = np.mean(S_thresh, axis=-2, keepdims=True)
    return gmean / amean


def rms(S: np.ndarray, frame_length: int) -> np.ndarray:
    """``librosa.feature.rms(S=S, frame_length=frame_length)``: the RMS of each frame from its
    magnitude spectrum (Parseval; the DC bin, and for an even ``frame_length`` the Nyquist bin,
    counted once), ``(1, frames)`` float32."""
    x = np.square(S, dtype=np.float32)
    x[0, :] *= 0.5
    if frame_length % 2 == 0:
        x[-1, :] *= 0.5
    return np.sqrt(2 * np.sum(x, axis=-2, keepdims=True) / frame_length ** 2)


def zero_crossing_rate(y: np.ndarray, *, frame_length: int, hop_length: int, threshold: float = 1e-10) -> np.ndarray:
    """``librosa.feature.zero_crossing_rate(y, frame_length=frame_length, hop_length=hop_length,
    center=False)`` of a 1-D signal: in each frame the share of the ``frame_length - 1``
    neighbouring pairs whose signs differ (values within ``threshold`` of zero count as +0; the
    frame's first sample has no pair), ``(1, frames)`` float64."""
    y = np.asarray(y)
    n = 1 + (y.shape[-1] - frame_length) // hop_length
    if n < 1:
        raise ValueError(f"input is too short (n={y.shape[-1]}) for frame_length={frame_length}")
    neg = np.signbit(y) & ~((y >= -threshold) & (y <= threshold))
    cum = np.zeros(y.shape[-1], dtype=np.int64)
    np.cumsum(neg[1:] != neg[:-1], out=cum[1:])  # cum[i]: crossings between samples 0..i
    starts = np.arange(n) * hop_length
    return ((cum[starts + frame_length - 1] - cum[starts]) / frame_length)[None, :]
