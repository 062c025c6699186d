"""Feature extraction: the :class:`FeatureConfig` every store and model carries, and
the functions that turn samples into features.

Kinds
-----
``logmel``      power mel spectrogram in dB, ``(n_mels, frames)``
``mfcc``        MFCCs, ``(n_mfcc, frames)``
``mfcc-stats``  per-coefficient mean and standard deviation over time, ``(2 * n_mfcc,)``
``f0-range``    (f0 of the lowest note, f0 of the highest note) in Hz, ``(2,)``

Examples
--------
>>> import numpy as np
>>> from audiokit.features import FeatureConfig, extract
>>> cfg = FeatureConfig(kind="mfcc-stats", sr=16000)
>>> y = np.sin(2 * np.pi * 440 * np.arange(16000) / 16000).astype(np.float32)
>>> extract(cfg, y).shape
(40,)
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from dataclasses import dataclass, field

import numpy as np

from audiokit.errors import AudioError, UsageError

KINDS = ("logmel", "mfcc", "mfcc-stats", "f0-range")
#: Kinds whose items are time-frequency images; they need a fixed duration in a store.
SEQUENCE_KINDS = ("logmel", "mfcc")
PAD_MODES = ("constant", "edge")
CROP_MODES = ("center", "start")


@dataclass(frozen=True)
class FeatureConfig:
    """Everything needed to compute features again, stored with every store and model.

    Parameter names follow librosa (``sr``, ``n_fft``, ``hop_length``, ``n_mels``,
    ``fmin``, ``fmax``, ``n_mfcc``).
    """

    kind: str = "logmel"
    sr: int = 22050
    n_fft: int = 2048
    hop_length: int = 512
    n_mels: int = 128
    fmin: float = 0.0
    fmax: float | None = None
    n_mfcc: int = 20
    #: Fixed item length in seconds (``None``: the whole file; needed for stores of sequences).
    duration: float | None = None
    pad_mode: str = "constant"
    crop: str = "center"
    #: Peak normalisation x / max|x| before features (the KNN paper's first step).
    normalize: bool = True
    #: Dynamic range of log-mel in dB below the clip's peak (librosa's ``top_db``).
    top_db: float | None = 80.0
    #: f0-range only: estimator, search band and HPS harmonics.
    f0_method: str = "hps"
    f0_fmin: float = 50.0
    f0_fmax: float = 2000.0
    harmonics: int = 5
    extra: dict = field(default_factory=dict, compare=True, hash=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise UsageError(f"unknown feature kind {self.kind!r}; choose one of {', '.join(KINDS)}")
        if self.sr <= 0 or self.n_fft <= 0 or self.hop_length <= 0 or self.n_mels <= 0 or self.n_mfcc <= 0:
            raise UsageError("sr, n_fft, hop_length, n_mels and n_mfcc must be positive")
        fmax = self.fmax if self.fmax is not None else self.sr / 2
        if not 0 <= self.fmin < fmax <= self.sr / 2 + 1e-9:
            raise UsageError(f"need 0 <= fmin < fmax <= sr/2 (got fmin={self.fmin}, fmax={fmax}, sr={self.sr})")
        if self.duration is not None and not (self.duration > 0 and math.isfinite(self.duration)):
            raise UsageError(f"duration must be a positive number of seconds (got {self.duration})")
        if self.pad_mode not in PAD_MODES:
            raise UsageError(f"pad mode must be one of {', '.join(PAD_MODES)}")
        if self.crop not in CROP_MODES:
            raise UsageError(f"crop must be one of {', '.join(CROP_MODES)}")
        if not 0 < self.f0_fmin < self.f0_fmax:
            raise UsageError(f"need 0 < f0 fmin < f0 fmax (got {self.f0_fmin}, {self.f0_fmax})")
        if self.harmonics < 1:
            raise UsageError(f"harmonics must be at least 1 (got {self.harmonics})")
        if self.top_db is not None and not (self.top_db > 0 and math.isfinite(self.top_db)):
            raise UsageError(f"top_db must be a positive number of dB (got {self.top_db})")

    # -- serialisation -------------------------------------------------------------
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "FeatureConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    @classmethod
    def from_json(cls, s: str) -> "FeatureConfig":
        return cls.from_dict(json.loads(s))

    def replace(self, **changes) -> "FeatureConfig":
        return dataclasses.replace(self, **changes)

    # -- derived -----------------------------------------------------------------
    @property
    def n_samples(self) -> int | None:
        """Samples per item at ``sr`` when the duration is fixed."""
        return None if self.duration is None else int(round(self.duration * self.sr))

    def differences(self, other: "FeatureConfig") -> list[str]:
        """Names of the settings where two configurations disagree (empty: compatible)."""
        a, b = self.to_dict(), other.to_dict()
        return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))

    def describe(self) -> str:
        """A short human summary, e.g. ``logmel sr=22050 n_fft=2048 hop=512 n_mels=128 3.0s``."""
        parts = [self.kind, f"sr={self.sr}"]
        if self.kind == "f0-range":
            parts += [f"method={self.f0_method}", f"f0=[{self.f0_fmin:g},{self.f0_fmax:g}]Hz"]
        else:
            parts += [f"n_fft={self.n_fft}", f"hop_length={self.hop_length}", f"n_mels={self.n_mels}"]
            if self.kind != "logmel":
                parts.append(f"n_mfcc={self.n_mfcc}")
        if self.duration is not None:
            parts.append(f"duration={self.duration:g}s")
        return " ".join(parts)


# -- feature functions (samples at cfg.sr in, features out) -----------------------------

@functools.lru_cache(maxsize=16)
def _mel_basis(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None) -> np.ndarray:
    """librosa's mel filterbank, built once per setting (read-only) instead of once per clip,
    which is about a fifth of the cost of a short clip's log-mel."""
    import librosa

    basis = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    basis.setflags(write=False)
    return basis


def melspectrogram(y: np.ndarray, *, sr: int = 22050, n_fft: int = 2048, hop_length: int = 512,
                   n_mels: int = 128, fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """Power mel spectrogram, ``(n_mels, frames)``: ``librosa.feature.melspectrogram(y=y, sr=sr, ...)``
    with a cached filterbank (librosa's own ``stft``, window, centring and padding)."""
    import librosa

    S = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop_length)) ** 2
    return _mel_basis(sr, n_fft, n_mels, float(fmin), None if fmax is None else float(fmax)) @ S


def logmel(y: np.ndarray, *, sr: int = 22050, n_fft: int = 2048, hop_length: int = 512, n_mels: int = 128,
           fmin: float = 0.0, fmax: float | None = None, top_db: float | None = 80.0) -> np.ndarray:
    """Power mel spectrogram in dB relative to the clip's peak, ``(n_mels, frames)`` float32.

    Equals ``librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr, ...), ref=np.max,
    top_db=top_db)`` (to float rounding; the tests hold it to 1e-3 dB). ``ref=np.max`` makes
    the image independent of recording level: 0 dB is the clip's loudest bin, and with the
    default ``top_db=80`` nothing lies below -80 dB.
    """
    import librosa

    S = melspectrogram(y, sr=sr, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, fmin=fmin, fmax=fmax)
    return librosa.power_to_db(S, ref=np.max, top_db=top_db).astype(np.float32)


def mfcc(y: np.ndarray, *, sr: int = 22050, n_mfcc: int = 20, n_fft: int = 2048, hop_length: int = 512,
         n_mels: int = 128, fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """MFCCs, ``(n_mfcc, frames)`` float32: ``librosa.feature.mfcc(y=y, sr=sr, ...)`` with these
    settings (which is the DCT-II of ``power_to_db(melspectrogram)`` with ``ref=1``, ``top_db=80``)."""
    import librosa

    S = melspectrogram(y, sr=sr, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, fmin=fmin, fmax=fmax)
    return librosa.feature.mfcc(S=librosa.power_to_db(S), n_mfcc=n_mfcc).astype(np.float32)


def mfcc_stats(y: np.ndarray, **kwargs) -> np.ndarray:
    """Per-coefficient mean then standard deviation of :func:`mfcc` over time, ``(2 * n_mfcc,)``."""
    m = mfcc(y, **kwargs)
    return np.concatenate([m.mean(axis=1), m.std(axis=1)]).astype(np.float32)


def extract(cfg: FeatureConfig, y: np.ndarray) -> np.ndarray:
    """Features of one clip ``y`` (mono, at ``cfg.sr``) for the sequence and stats kinds.

    The clip is cropped/padded to ``cfg.duration`` first when that is set.
    ``f0-range`` items are pairs of files: use :func:`extract_pair_files`.
    """
    from audiokit.audio import fix_length

    if cfg.kind == "f0-range":
        raise UsageError("f0-range features are computed from a pair of files (extract_pair_files)")
    if cfg.n_samples is not None:
        y = fix_length(y, cfg.n_samples, pad_mode=cfg.pad_mode, crop=cfg.crop)
    if y.shape[-1] < 1:
        raise AudioError("no samples after cropping")
    common = dict(sr=cfg.sr, n_fft=cfg.n_fft, hop_length=cfg.hop_length, n_mels=cfg.n_mels, fmin=cfg.fmin,
                  fmax=cfg.fmax)
    import warnings

    with warnings.catch_warnings():
        # A clip shorter than n_fft (but at least n_fft/4, checked by the callers) is padded by
        # librosa on purpose; its "n_fft=... is too large" warning would print two lines of
        # Python source on stderr per such file.
        warnings.filterwarnings("ignore", message=r"n_fft=\d+ is too large", category=UserWarning)
        if cfg.kind == "logmel":
            return logmel(y, top_db=cfg.top_db, **common)
        if cfg.kind == "mfcc":
            return mfcc(y, n_mfcc=cfg.n_mfcc, **common)
        return mfcc_stats(y, n_mfcc=cfg.n_mfcc, **common)


def _clip_window(cfg: FeatureConfig, total: float) -> tuple[float, float | None]:
    """``(offset, duration)`` in seconds of the part of a ``total``-second file that an item uses.

    With a fixed duration only that part (plus a 50 ms margin at each cut, so the resampler
    sees the same context as it would in the whole file) is decoded.
    """
    margin = 0.05
    if cfg.duration is None or total <= cfg.duration + 2 * margin:
        return 0.0, None
    if cfg.crop == "center":
        return (total - cfg.duration) / 2 - margin, cfg.duration + 2 * margin
    return 0.0, cfg.duration + margin


def _load_clip_info(cfg: FeatureConfig, path: str):
    """:func:`load_clip` that also returns the file's header (one open, one header parse)."""
    from audiokit import audio

    with audio.AudioFile(path) as f:
        offset, dur = _clip_window(cfg, f.duration)
        y, _ = f.read(sr=cfg.sr, offset=offset, duration=dur)
        info = f.info
    if cfg.n_samples is not None:
        y = audio.fix_length(y, cfg.n_samples, pad_mode=cfg.pad_mode, crop=cfg.crop)
    if cfg.normalize:
        y = audio.peak_normalize(y)
    return y, info


def load_clip(cfg: FeatureConfig, path: str) -> np.ndarray:
    """Load the part of ``path`` that an item of ``cfg`` uses, at ``cfg.sr``, cropped or padded
    to ``cfg.duration`` and then peak-normalised if ``cfg.normalize``.

    With a fixed duration only the middle (``crop="center"``) or the first
    (``crop="start"``) ``duration`` seconds are decoded, so a one-hour file costs what its
    clip costs.
    """
    return _load_clip_info(cfg, path)[0]


#: mfcc-stats of a file longer than this (seconds) are computed block by block from a stream of
#: the file (:func:`_mfcc_stats_stream`), so memory does not grow with the length of a recording.
STREAM_SECONDS = 600.0
#: STFT frames per block of the streamed computation (about 12 s at 22.05 kHz, hop 512).
STREAM_FRAMES = 512


def _extract_file_info(cfg: FeatureConfig, path: str):
    """:func:`extract_file` that also returns the file's :class:`~audiokit.audio.AudioInfo`."""
    if cfg.kind == "mfcc-stats" and cfg.duration is None:
        from audiokit import audio

        with audio.AudioFile(path) as f:
            if f.duration > STREAM_SECONDS:
                return _mfcc_stats_stream(cfg, f), f.info
    y, info = _load_clip_info(cfg, path)
    if y.shape[-1] < cfg.n_fft // 4 and cfg.duration is None:
        raise AudioError(f"too short ({y.shape[-1]} samples at {cfg.sr} Hz) for n_fft={cfg.n_fft}", path=path)
    try:
        feats = extract(cfg, y)
    except AudioError as exc:
        raise AudioError(exc.reason, path=path) from exc
    if not np.isfinite(feats).all():
        raise AudioError("features are not finite", path=path)
    return feats, info


def _mel_power_stream(cfg: FeatureConfig, f, *, scale: float = 1.0):
    """The power mel spectrogram of a whole open file, ``(n_mels, frames)`` blocks in order.

    Frames are cut exactly as ``librosa.stft(y, center=True, pad_mode="constant")`` cuts the
    whole signal (``n_fft // 2`` zeros before and after; ``1 + n // hop`` frames), each block
    by ``librosa.stft(center=False)`` on its stretch of samples, so only one block of the
    signal and of the spectrogram is in memory at a time. ``scale`` divides the samples first
    (peak normalisation).
    """
    import librosa

    n_fft, hop = cfg.n_fft, cfg.hop_length
    basis = _mel_basis(cfg.sr, n_fft, cfg.n_mels, float(cfg.fmin), None if cfg.fmax is None else float(cfg.fmax))
    buf = np.zeros(n_fft // 2, np.float32)  # padded samples from frame `t`'s start on
    t = n = 0

    def frames(buf: np.ndarray, k: int) -> np.ndarray:
        out = []
        for j in range(0, k, STREAM_FRAMES):  # at most STREAM_FRAMES frames of STFT at a time
            kk = min(STREAM_FRAMES, k - j)
            seg = buf[j * hop: j * hop + (kk - 1) * hop + n_fft]
            S = np.abs(librosa.stft(seg, n_fft=n_fft, hop_length=hop, center=False)) ** 2
            out.append(basis @ S)
        return np.concatenate(out, axis=1)

    block = max(n_fft, int(STREAM_FRAMES * hop * f.info.sr / cfg.sr))  # native frames per read
    for y in f.stream(sr=cfg.sr, block_frames=block):
        if scale != 1.0:
            y = y / scale
        n += len(y)
        buf = np.concatenate([buf, y])
        k = (len(buf) - n_fft) // hop + 1 if len(buf) >= n_fft else 0
        if k > 0:
            yield frames(buf, k)
            t += k
            buf = buf[k * hop:]
    buf = np.concatenate([buf, np.zeros(n_fft // 2, np.float32)])
    k = 1 + n // hop - t
    if k > 0:
        yield frames(buf, k)


def _mfcc_stats_stream(cfg: FeatureConfig, f) -> np.ndarray:
    """:func:`mfcc_stats` of a whole long file in memory that does not grow with its length.

    Two passes over the file: the first finds the peak (for ``normalize``) and the loudest mel
    bin (``power_to_db``'s ``top_db`` floor is relative to it), the second turns each block into
    MFCCs exactly as :func:`mfcc` does and adds them up (float64 sums for the mean and standard
    deviation). Equals :func:`mfcc_stats` on the whole signal to float rounding (the tests hold
    it to 1e-3 relative).
    """
    import scipy.fft

    peak = 0.0
    for y in f.stream(sr=cfg.sr, block_frames=max(cfg.n_fft, int(STREAM_FRAMES * cfg.hop_length * f.info.sr / cfg.sr))):
        peak = max(peak, float(np.max(np.abs(y))))
    scale = peak if (cfg.normalize and peak > 0) else 1.0
    amin, top_db = 1e-10, 80.0  # librosa.power_to_db's defaults, as mfcc() uses them
    smax = max(float(S.max()) for S in _mel_power_stream(cfg, f, scale=scale))
    floor = 10.0 * np.log10(max(amin, smax)) - top_db
    total = np.zeros(cfg.n_mfcc)
    squares = np.zeros(cfg.n_mfcc)
    count = 0
    for S in _mel_power_stream(cfg, f, scale=scale):
        db = np.maximum(10.0 * np.log10(np.maximum(amin, S)), floor)
        m = scipy.fft.dct(db, axis=-2, type=2, norm="ortho")[: cfg.n_mfcc].astype(np.float32).astype(np.float64)
        total += m.sum(axis=1)
        squares += (m * m).sum(axis=1)
        count += m.shape[1]
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean * mean, 0.0))
    out = np.concatenate([mean, std]).astype(np.float32)
    if not np.isfinite(out).all():
        raise AudioError("features are not finite", path=f.path)
    return out


def extract_file(cfg: FeatureConfig, path: str) -> np.ndarray:
    """Features of one audio file under ``cfg`` (load, crop/pad, normalise, extract).

    Raises
    ------
    AudioError
        The file cannot be used (unreadable, empty, non-finite, too short), naming it.
    """
    return _extract_file_info(cfg, path)[0]


def extract_pair_files(cfg: FeatureConfig, low: str, high: str) -> np.ndarray:
    """``(f0_low, f0_high)`` in Hz for the ``f0-range`` kind, from the pitch module's estimator.

    Raises :class:`AudioError` naming the file when either is unvoiced.
    """
    from audiokit import audio
    from audiokit.pitch import estimate_f0

    out = []
    for p in (low, high):
        y, sr = audio.load(p, normalize=True)
        try:
            f0 = estimate_f0(y, sr=sr, method=cfg.f0_method, fmin=cfg.f0_fmin, fmax=cfg.f0_fmax,
                             harmonics=cfg.harmonics)
        except AudioError as exc:  # e.g. shorter than one analysis frame: name this file, not the pair
            raise AudioError(exc.reason, path=p) from exc
        if f0 is None or not np.isfinite(f0):
            raise AudioError("no pitch found (unvoiced, silent or noise)", path=p)
        out.append(float(f0))
    return np.asarray(out, dtype=np.float32)


def extract_windows(cfg: FeatureConfig, path: str, *, max_windows: int = 64) -> np.ndarray:
    """Features of a whole file as a stack of items, ``(W, *item_shape)``, for prediction.

    For the sequence kinds with a fixed duration the file is cut into windows of that
    duration with 50 % overlap (a short file, or the tail, is padded as in a store), and a
    prediction averages the windows' log-probabilities. At most ``max_windows`` evenly
    spaced windows are used, so a one-hour file costs what 64 clips cost. Other kinds give
    one item: ``(1, *item_shape)``.
    """
    from audiokit import audio

    if cfg.kind == "f0-range":
        raise UsageError("f0-range models take pairs of files (use 'audiokit pitch LOW HIGH --model')")
    if cfg.kind not in SEQUENCE_KINDS or cfg.duration is None:
        return extract_file(cfg, path)[None]
    n = cfg.n_samples
    with audio.AudioFile(path) as f:
        total = f.duration
        if total <= cfg.duration:
            return extract_file(cfg, path)[None]
        step = cfg.duration / 2
        starts = np.arange(0.0, total - cfg.duration + 1e-9, step)
        if total - (starts[-1] + cfg.duration) > 0.25 * cfg.duration:
            starts = np.append(starts, total - cfg.duration)  # cover the tail
        if len(starts) > max_windows:
            starts = starts[np.linspace(0, len(starts) - 1, max_windows).round().astype(int)]
        out = []
        for s in starts:
            y, _ = f.read(sr=cfg.sr, offset=float(s), duration=cfg.duration)
            y = audio.fix_length(y, n, pad_mode=cfg.pad_mode, crop="start")
            if cfg.normalize:
                y = audio.peak_normalize(y)
            out.append(extract(cfg, y))
    feats = np.stack(out)
    if not np.isfinite(feats).all():
        raise AudioError("features are not finite", path=path)
    return feats
