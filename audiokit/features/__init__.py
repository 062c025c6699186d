"""Feature extraction: the :class:`FeatureConfig` every store and model carries, and
the functions that turn samples into features.

Kinds
-----
``logmel``      power mel spectrogram in dB, ``(n_mels, frames)``
``mfcc``        MFCCs, ``(n_mfcc, frames)``
``mfcc-stats``  mean and standard deviation over time of per-frame features: ``stats="full"``
                (default) MFCCs, their deltas and 13 spectral rows, ``(4 * n_mfcc + 26,)``;
                ``stats="mfcc"`` the MFCCs only, ``(2 * n_mfcc,)`` (:func:`stats_names`)
``f0-range``    (f0 of the lowest note, f0 of the highest note) in Hz, ``(2,)``

Frames of the spectral kinds follow the sample rate unless given: a window ``n_fft`` of at
least 25 ms rounded up to a power of two, a hop of 10 ms, 64 mel bands
(:func:`frame_settings`; ``f0-range`` records librosa's 2048/512/128 as before).

Examples
--------
>>> import numpy as np
>>> from audiokit.features import FeatureConfig, extract
>>> cfg = FeatureConfig(kind="mfcc-stats", sr=16000)
>>> (cfg.n_fft, cfg.hop_length, cfg.n_mels, cfg.stats)
(512, 160, 64, 'full')
>>> y = np.sin(2 * np.pi * 440 * np.arange(16000) / 16000).astype(np.float32)
>>> extract(cfg, y).shape
(106,)
>>> extract(cfg.replace(stats="mfcc"), y).shape
(40,)
"""

from __future__ import annotations

import contextvars
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

# -- frames: the defaults follow the sample rate ------------------------------------------------
#: Window of the spectral kinds when ``n_fft`` is not given: the smallest power of two of at
#: least this many milliseconds of samples (256 at 8 kHz, 512 at 16 kHz, 1024 at 22.05 kHz,
#: 2048 at 44.1 and 48 kHz).
WIN_MS = 25.0
#: Hop of the spectral kinds when ``hop_length`` is not given, in milliseconds (rounded to
#: samples: 80 at 8 kHz, 160 at 16 kHz, 220 at 22.05 kHz, 441 at 44.1 kHz, 480 at 48 kHz).
HOP_MS = 10.0
#: Mel bands when ``n_mels`` is not given.
N_MELS = 64
#: What a stored configuration without a setting meant before that setting existed (librosa's
#: n_fft/hop_length/n_mels, the 2·n_mfcc statistics). ``f0-range`` keeps these values too:
#: its features do not use them, and its configurations stay as they were.
LEGACY = {"n_fft": 2048, "hop_length": 512, "n_mels": 128, "stats": "mfcc"}
#: The statistics vectors of ``mfcc-stats`` (:func:`stats_names`).
STATS = ("mfcc", "full")
#: The statistics vector of a new ``mfcc-stats`` configuration that does not say (the one
#: place this default is set; stores and models without the field mean ``"mfcc"``).
DEFAULT_STATS = "full"


def n_fft_for(sr: float, win_ms: float = WIN_MS) -> int:
    """The smallest power of two of at least ``win_ms`` milliseconds of samples at ``sr``.

    >>> [n_fft_for(sr) for sr in (8000, 16000, 22050, 44100, 48000)]
    [256, 512, 1024, 2048, 2048]
    """
    if not (win_ms > 0 and math.isfinite(win_ms)):
        raise UsageError(f"win_ms must be a positive number of milliseconds (got {win_ms})")
    n = max(1, math.ceil(sr * win_ms / 1000 - 1e-9))
    return 1 << (n - 1).bit_length()


def hop_for(sr: float, hop_ms: float = HOP_MS) -> int:
    """``hop_ms`` milliseconds in samples at ``sr``, rounded (Python's ``round``: 220.5 → 220).

    >>> [hop_for(sr) for sr in (8000, 16000, 22050, 44100, 48000)]
    [80, 160, 220, 441, 480]
    """
    if not (hop_ms > 0 and math.isfinite(hop_ms)):
        raise UsageError(f"hop_ms must be a positive number of milliseconds (got {hop_ms})")
    return int(round(sr * hop_ms / 1000))


def _contrast_gap(sr: float, n_fft: int) -> tuple[float, float] | None:
    """The first spectral-contrast octave (:func:`contrast_fmin` on) without an FFT bin at these
    settings, or ``None`` (librosa fails on such a band). Arithmetic, no arrays: ``n_fft`` may be
    anything a stored configuration says."""
    fmin, top = contrast_fmin(sr), int(n_fft) // 2
    for k in range(1, CONTRAST_BANDS + 1):
        lo, hi = fmin * 2 ** (k - 1), fmin * 2 ** k
        if math.ceil(lo * n_fft / sr - 1e-9) > min(math.floor(hi * n_fft / sr + 1e-9), top):
            return lo, hi
    return None


#: Lowest sample rate of the spectral kinds: below it there is no audio band left to analyse.
MIN_SR = 1000
#: Longest fixed item (``duration``) in seconds: one item is held in memory whole (an hour of
#: log-mel at 22.05 kHz is ~90 MB); longer recordings are featurized as whole files (no
#: ``duration``: ``mfcc-stats`` streams them) or cut beforehand.
MAX_DURATION = 3600.0


def _slaney_mel(hz: np.ndarray) -> np.ndarray:
    """``librosa.hz_to_mel(hz)`` (Slaney: linear below 1 kHz, logarithmic above)."""
    hz = np.asarray(hz, dtype=np.float64)
    return np.where(hz >= 1000.0, 15.0 + np.log(np.maximum(hz, 1e-300) / 1000.0) / (np.log(6.4) / 27.0),
                    hz / (200.0 / 3))


def _slaney_hz(mel: np.ndarray) -> np.ndarray:
    """``librosa.mel_to_hz(mel)``."""
    mel = np.asarray(mel, dtype=np.float64)
    return np.where(mel >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0)), mel * (200.0 / 3))


def empty_mel_bands(sr: float, n_fft: int, n_mels: int, fmin: float = 0.0,
                    fmax: float | None = None) -> tuple[int, float, float] | None:
    """``(count, low_hz, high_hz)`` of the mel filters of ``librosa.filters.mel(sr=sr, n_fft=n_fft,
    n_mels=n_mels, fmin=fmin, fmax=fmax)`` that hold no FFT bin (rows of zeros: a constant row in
    every log-mel image, librosa's "Empty filters detected" warning), the first one's edges; or
    ``None``. Arithmetic on the filter edges, no filterbank: any size a configuration may say.

    >>> empty_mel_bands(22050, 1024, 64) is None
    True
    >>> empty_mel_bands(22050, 64, 64)[0]  # 33 FFT bins for 64 bands: 23 bands fall between bins
    23
    """
    n_bins = int(n_fft) // 2 + 1
    if n_mels > 2 * n_bins:  # every other filter needs a bin of its own: some are empty for sure
        return n_mels - 2 * n_bins, 0.0, float(sr) / 2
    fmax = float(sr) / 2 if fmax is None else float(fmax)
    edges = _slaney_hz(np.linspace(_slaney_mel(fmin), _slaney_mel(fmax), int(n_mels) + 2))
    lo, hi = edges[:-2], edges[2:]
    k = np.floor(lo * n_fft / sr) + 1  # the first bin above a filter's lower edge (bins are k·sr/n_fft)
    empty = (k > n_bins - 1) | (k * sr / n_fft >= hi)
    if not empty.any():
        return None
    i = int(np.argmax(empty))
    return int(empty.sum()), float(lo[i]), float(hi[i])


#: Set while a stored configuration is read (:meth:`FeatureConfig.from_dict`): the checks of
#: :meth:`FeatureConfig.check_sound` are for new settings, and a store or model written before
#: them (with, say, ``n_mfcc`` above ``n_mels``) must still open.
_STORED = contextvars.ContextVar("audiokit_stored_feature_config", default=False)


def frame_settings(sr: float, n_fft: int | None = None, hop_length: int | None = None,
                   n_mels: int | None = None) -> tuple[int, int, int]:
    """``(n_fft, hop_length, n_mels)`` with each one not given (``None``) from the sample rate:
    :data:`WIN_MS`, :data:`HOP_MS` and :data:`N_MELS` (the spectral kinds' defaults)."""
    return (n_fft_for(sr) if n_fft is None else n_fft, hop_for(sr) if hop_length is None else hop_length,
            N_MELS if n_mels is None else n_mels)


@dataclass(frozen=True)
class FeatureConfig:
    """Everything needed to compute features again, stored with every store and model.

    Parameter names follow librosa (``sr``, ``n_fft``, ``hop_length``, ``n_mels``,
    ``fmin``, ``fmax``, ``n_mfcc``).

    ``n_fft``, ``hop_length``, ``n_mels`` and ``stats`` left out (``None``) are resolved when
    the configuration is made, so it always holds concrete values (and records them): from
    ``sr`` for the spectral kinds (:func:`frame_settings`: 25 ms window rounded up to a power
    of two, 10 ms hop, 64 mel bands), librosa's 2048/512/128 for ``f0-range``;
    ``stats`` is :data:`DEFAULT_STATS` for ``mfcc-stats`` and ``None`` for the other kinds
    (it does not apply to them). :meth:`replace` keeps the resolved values: changing ``sr``
    alone does not change ``n_fft``. :meth:`from_dict` (stored configurations) gives a
    setting the store does not have its :data:`LEGACY` value.
    """

    kind: str = "logmel"
    sr: int = 22050
    n_fft: int | None = None
    hop_length: int | None = None
    n_mels: int | None = None
    fmin: float = 0.0
    fmax: float | None = None
    n_mfcc: int = 20
    #: mfcc-stats only: ``"full"`` or ``"mfcc"`` (:func:`stats_names`); ``None`` for other kinds.
    stats: str | None = None
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
        if not self.sr > 0:
            raise UsageError(f"sr must be positive (got {self.sr})")
        if self.kind == "f0-range":
            auto = (LEGACY["n_fft"], LEGACY["hop_length"], LEGACY["n_mels"])
        else:
            auto = frame_settings(self.sr, self.n_fft, self.hop_length, self.n_mels)
        for name, value in zip(("n_fft", "hop_length", "n_mels"), auto):
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        if self.stats is not None and self.stats not in STATS:
            raise UsageError(f"stats must be one of {', '.join(STATS)} (got {self.stats!r})")
        if self.kind != "mfcc-stats":
            object.__setattr__(self, "stats", None)
        elif self.stats is None:
            object.__setattr__(self, "stats", DEFAULT_STATS)
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
        if _STORED.get():
            object.__setattr__(self, "_stored", True)  # kept by replace(): see _STORED
        else:
            self.check_sound()
        if self.stats == "full":
            gap = _contrast_gap(self.sr, self.n_fft)
            if gap is not None:
                raise UsageError(f"stats='full' needs a frequency bin in every spectral-contrast band; n_fft="
                                 f"{self.n_fft} at sr={self.sr} has none in {gap[0]:g}-{gap[1]:g} Hz (use a "
                                 "larger n_fft)")

    def check_sound(self) -> None:
        """Refuse settings that would make features silently wrong or a run fail late, naming the
        parameters (:class:`UsageError`): for the spectral kinds a sample rate below
        :data:`MIN_SR`, a hop longer than the window (samples between frames never seen), more
        MFCCs than mel bands (librosa returns only ``n_mels`` of them), mel filters without an FFT
        bin (:func:`empty_mel_bands`); for every kind a ``duration`` above :data:`MAX_DURATION`.
        Run for every new configuration; stored ones (:meth:`from_dict`) are read as they are."""
        if self.duration is not None and self.duration > MAX_DURATION:
            raise UsageError(f"duration={self.duration:g} s is more than {MAX_DURATION:g} s: an item is held in "
                             "memory whole; leave duration out for whole files, or cut the recordings")
        if self.kind == "f0-range":  # decoded at each file's own rate; the frame settings are not used
            return
        if self.sr < MIN_SR:
            raise UsageError(f"sr={self.sr} Hz is below {MIN_SR} Hz: no audio band left to analyse "
                             "(8000 for telephone speech, 16000 or 22050 for most data)")
        if self.kind != "logmel" and self.n_mfcc > self.n_mels:
            raise UsageError(f"n_mfcc={self.n_mfcc} is more than n_mels={self.n_mels}: there are only as many "
                             "MFCCs as mel bands; lower n_mfcc or raise n_mels")
        empty = empty_mel_bands(self.sr, self.n_fft, self.n_mels, self.fmin, self.fmax)
        if empty is not None:
            k, lo, hi = empty
            top = self.sr / 2 if self.fmax is None else self.fmax
            band = "" if (self.fmin, self.fmax) == (0.0, None) else f" between fmin={self.fmin:g} and fmax={top:g}"
            raise UsageError(f"n_fft={self.n_fft} is too small for n_mels={self.n_mels} at sr={self.sr}{band}: "
                             f"empty mel bands ({k} of {self.n_mels} hold no FFT bin, the first {lo:.0f}-{hi:.0f} "
                             "Hz); use a larger n_fft or fewer n_mels")
        if self.hop_length > self.n_fft:
            raise UsageError(f"hop_length={self.hop_length} is longer than n_fft={self.n_fft}: the samples "
                             "between frames would never be analysed; use a hop of at most the window")

    # -- serialisation -------------------------------------------------------------
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "FeatureConfig":
        """The configuration a store or model recorded. Unknown keys (from a later version)
        are ignored; a setting it lacks (or holds as null) means what it meant before the
        setting existed (:data:`LEGACY`), so an old store keeps its meaning."""
        known = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        for k, v in LEGACY.items():
            if kw.get(k) is None:
                kw[k] = v
        token = _STORED.set(True)  # read as it is: check_sound() is for new settings
        try:
            return cls(**kw)
        finally:
            _STORED.reset(token)

    @classmethod
    def from_json(cls, s: str) -> "FeatureConfig":
        return cls.from_dict(json.loads(s))

    def replace(self, **changes) -> "FeatureConfig":
        """A copy with ``changes``; a stored configuration's copy is read as stored too (no
        :meth:`check_sound`), so ``replace(duration=None)`` works on any store's settings."""
        if not getattr(self, "_stored", False):
            return dataclasses.replace(self, **changes)
        token = _STORED.set(True)
        try:
            return dataclasses.replace(self, **changes)
        finally:
            _STORED.reset(token)

    # -- derived -----------------------------------------------------------------
    @property
    def n_samples(self) -> int | None:
        """Samples per item at ``sr`` when the duration is fixed."""
        return None if self.duration is None else int(round(self.duration * self.sr))

    @property
    def feature_names(self) -> list[str] | None:
        """Names of the entries of a vector item: ``mfcc-stats`` (:func:`stats_names`) and
        ``f0-range``; ``None`` for the image kinds."""
        if self.kind == "mfcc-stats":
            return stats_names(self.n_mfcc, self.stats)
        return ["f0_low", "f0_high"] if self.kind == "f0-range" else None

    def differences(self, other: "FeatureConfig") -> list[str]:
        """Names of the settings where two configurations disagree (empty: compatible)."""
        a, b = self.to_dict(), other.to_dict()
        return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))

    def describe(self) -> str:
        """A short human summary, e.g.
        ``mfcc-stats sr=16000 n_fft=512 hop_length=160 (32/10 ms) n_mels=64 n_mfcc=20 stats=full``."""
        parts = [self.kind, f"sr={self.sr}"]
        if self.kind == "f0-range":
            parts += [f"method={self.f0_method}", f"f0=[{self.f0_fmin:g},{self.f0_fmax:g}]Hz"]
        else:
            ms = [f"{1000 * n / self.sr:.3g}" for n in (self.n_fft, self.hop_length)]
            parts += [f"n_fft={self.n_fft}", f"hop_length={self.hop_length}", f"({ms[0]}/{ms[1]} ms)",
                      f"n_mels={self.n_mels}"]
            if self.kind != "logmel":
                parts.append(f"n_mfcc={self.n_mfcc}")
            if self.stats is not None:
                parts.append(f"stats={self.stats}")
        if self.duration is not None:
            parts.append(f"duration={self.duration:g}s")
        return " ".join(parts)


# -- feature functions (samples at cfg.sr in, features out) -----------------------------

@functools.lru_cache(maxsize=16)
def _mel_basis(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None) -> np.ndarray:
    """librosa's mel filterbank (:func:`.dsp.mel_filterbank`), built once per setting (read-only)
    instead of once per clip, which is about a fifth of the cost of a short clip's log-mel.
    (0 and 0.0 are one cache key: equal numbers hash alike.)"""
    from audiokit.features import dsp

    basis = dsp.mel_filterbank(sr, n_fft, n_mels, fmin, fmax)
    basis.setflags(write=False)
    return basis


def melspectrogram(y: np.ndarray, *, sr: int = 22050, n_fft: int | None = None, hop_length: int | None = None,
                   n_mels: int | None = None, fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """Power mel spectrogram, ``(n_mels, frames)``: ``librosa.feature.melspectrogram(y=y, sr=sr, ...)``
    with a cached filterbank (librosa's ``stft``: window, centring and padding, as
    :func:`.dsp.stft_magnitude` computes it).

    ``n_fft``, ``hop_length`` and ``n_mels`` left out follow ``sr`` as in :class:`FeatureConfig`
    (:func:`frame_settings`), not librosa's fixed 2048/512/128."""
    # numpy DSP (features/dsp.py) instead of librosa: importing librosa pulls in scipy.signal and
    # numba, over a second of start-up for a one-file predict.
    from audiokit.features import dsp

    n_fft, hop_length, n_mels = frame_settings(sr, n_fft, hop_length, n_mels)
    S = dsp.stft_magnitude(y, n_fft=n_fft, hop_length=hop_length) ** 2
    return _mel_basis(sr, n_fft, n_mels, fmin, fmax) @ S


def logmel(y: np.ndarray, *, sr: int = 22050, n_fft: int | None = None, hop_length: int | None = None,
           n_mels: int | None = None, fmin: float = 0.0, fmax: float | None = None,
           top_db: float | None = 80.0) -> np.ndarray:
    """Power mel spectrogram in dB relative to the clip's peak, ``(n_mels, frames)`` float32.

    Equals ``librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr, ...), ref=np.max,
    top_db=top_db)`` (to float rounding; the tests hold it to 1e-3 dB). ``ref=np.max`` makes
    the image independent of recording level: 0 dB is the clip's loudest bin, and with the
    default ``top_db=80`` nothing lies below -80 dB. Frame settings left out follow ``sr``
    (:func:`frame_settings`).
    """
    from audiokit.features import dsp

    S = melspectrogram(y, sr=sr, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, fmin=fmin, fmax=fmax)
    return dsp.power_to_db(S, ref="max", top_db=top_db).astype(np.float32)


def mfcc(y: np.ndarray, *, sr: int = 22050, n_mfcc: int = 20, n_fft: int | None = None,
         hop_length: int | None = None, n_mels: int | None = None, fmin: float = 0.0,
         fmax: float | None = None) -> np.ndarray:
    """MFCCs, ``(n_mfcc, frames)`` float32: ``librosa.feature.mfcc(y=y, sr=sr, ...)`` with these
    settings (which is the DCT-II of ``power_to_db(melspectrogram)`` with ``ref=1``, ``top_db=80``).
    Frame settings left out follow ``sr`` (:func:`frame_settings`)."""
    from audiokit.features import dsp

    S = melspectrogram(y, sr=sr, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, fmin=fmin, fmax=fmax)
    return dsp.mfcc(dsp.power_to_db(S), n_mfcc).astype(np.float32)


# -- mfcc-stats: the statistics vectors ----------------------------------------------------------

#: Frames of the MFCC deltas (``librosa.feature.delta``'s default width). A clip of fewer
#: frames uses the largest odd width it has (at least 3; under 3 frames the deltas are 0).
DELTA_WIDTH = 9
#: Octave bands of the spectral contrast (librosa's ``n_bands``): ``CONTRAST_BANDS + 1`` rows.
CONTRAST_BANDS = 6
#: The rows after the MFCCs and their deltas in a ``"full"`` vector, in order.
SPECTRAL_ROWS = ("log_centroid", "log_bandwidth", "log_rolloff", "flatness",
                 *(f"contrast{k}" for k in range(CONTRAST_BANDS + 1)), "zcr", "rms")
_AMIN, _TOP_DB = 1e-10, 80.0  # librosa.power_to_db's defaults (MFCCs and spectral contrast use them)


def contrast_fmin(sr: float) -> float:
    """Lower edge of the spectral contrast's first octave: librosa's 200 Hz, or ``sr / 80`` when
    that is lower (below 16 kHz), so that all six octaves start below the Nyquist frequency
    (librosa refuses them otherwise: 8 kHz gives 100 Hz)."""
    return min(200.0, sr / 80)


def stats_rows(n_mfcc: int = 20, stats: str = DEFAULT_STATS) -> list[str]:
    """Names of the per-frame rows whose statistics an ``mfcc-stats`` vector holds, in order."""
    if stats not in STATS:
        raise UsageError(f"stats must be one of {', '.join(STATS)} (got {stats!r})")
    rows = [f"mfcc{i}" for i in range(n_mfcc)]
    if stats == "full":
        rows += [f"delta_mfcc{i}" for i in range(n_mfcc)] + list(SPECTRAL_ROWS)
    return rows


def stats_names(n_mfcc: int = 20, stats: str = DEFAULT_STATS) -> list[str]:
    """Names of the entries of an ``mfcc-stats`` vector: ``mean_ROW`` for every row of
    :func:`stats_rows`, then ``std_ROW`` for every row. ``"mfcc"``: ``2 * n_mfcc`` entries;
    ``"full"``: ``2 * (2 * n_mfcc + 13)`` (106 for 20 MFCCs).

    >>> stats_names(2, "mfcc")
    ['mean_mfcc0', 'mean_mfcc1', 'std_mfcc0', 'std_mfcc1']
    >>> len(stats_names(20, "full")), stats_names(20, "full")[40:44]
    (106, ['mean_log_centroid', 'mean_log_bandwidth', 'mean_log_rolloff', 'mean_flatness'])
    """
    rows = stats_rows(n_mfcc, stats)
    return [f"mean_{r}" for r in rows] + [f"std_{r}" for r in rows]


def _delta(M: np.ndarray) -> np.ndarray:
    """``librosa.feature.delta(M)`` (width :data:`DELTA_WIDTH`, ``mode="interp"``), narrower when
    the clip has fewer frames than that, zeros under 3 frames (:func:`.dsp.delta`)."""
    from audiokit.features import dsp

    T = M.shape[-1]
    width = min(DELTA_WIDTH, T if T % 2 else T - 1)
    if width < 3:
        return np.zeros_like(M)
    return dsp.delta(M, width=width)


def _contrast_peak_valley(mag: np.ndarray, freq: np.ndarray, sr: float,
                          quantile: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    """The peaks and valleys of ``librosa.feature.spectral_contrast(S=mag, sr=sr,
    fmin=contrast_fmin(sr), n_bands=CONTRAST_BANDS)``, before its ``power_to_db`` — its own loop,
    so that a stream can apply ``power_to_db``'s ``top_db`` floor relative to the whole file."""
    octa = np.zeros(CONTRAST_BANDS + 2)
    octa[1:] = contrast_fmin(sr) * (2.0 ** np.arange(0, CONTRAST_BANDS + 1))
    shape = (CONTRAST_BANDS + 1, mag.shape[-1])
    valley, peak = np.zeros(shape), np.zeros(shape)
    for k, (f_low, f_high) in enumerate(zip(octa[:-1], octa[1:])):
        band = np.logical_and(freq >= f_low, freq <= f_high)
        idx = np.flatnonzero(band)
        if k > 0:
            band[idx[0] - 1] = True
        if k == CONTRAST_BANDS:
            band[idx[-1] + 1:] = True
        sub = mag[band, :]
        if k < CONTRAST_BANDS:
            sub = sub[:-1, :]
        n = int(np.maximum(np.rint(quantile * np.sum(band)), 1))
        srt = np.sort(sub, axis=0)
        valley[k] = np.mean(srt[:n], axis=0)
        peak[k] = np.mean(srt[-n:], axis=0)
    return peak, valley


def _db(x: np.ndarray, xmax: float) -> np.ndarray:
    """``librosa.power_to_db(x)`` (``ref=1``, ``top_db=80``) of an array whose maximum, over the
    whole clip, is ``xmax``."""
    return np.maximum(10.0 * np.log10(np.maximum(_AMIN, x)), 10.0 * np.log10(max(_AMIN, xmax)) - _TOP_DB)


def _frame_rows(mag: np.ndarray, padded: np.ndarray, *, sr: float, n_fft: int,
                hop_length: int) -> tuple[np.ndarray, np.ndarray]:
    """The rows of a ``"full"`` vector that each frame gives alone, from ``mag`` = |STFT|
    ``(1 + n_fft // 2, T)`` and ``padded``, the samples its frames were cut from (``n_fft // 2``
    zeros before the clip and after it, as the STFT pads): ``(4, T)`` = log1p of the spectral
    centroid, bandwidth and roll-off (Hz), flatness; and ``(2, T)`` = zero-crossing rate of the
    same frames, RMS (from the spectrum, as ``librosa.feature.rms(S=...)``). Each row equals its
    librosa function's (:mod:`.dsp`); the spectrum is normalised once for centroid and bandwidth,
    where librosa normalises it in each."""
    from audiokit.features import dsp

    freq = dsp.fft_frequencies(sr, n_fft)
    norm = dsp.l1_normalize(mag)
    centroid = dsp.spectral_centroid(mag, freq, S_norm=norm)
    bandwidth = dsp.spectral_bandwidth(mag, freq, centroid=centroid, S_norm=norm)
    rolloff = dsp.spectral_rolloff(mag, freq)
    flatness = dsp.spectral_flatness(mag)
    zcr = dsp.zero_crossing_rate(padded, frame_length=n_fft, hop_length=hop_length)
    rms = dsp.rms(mag, n_fft)
    head = np.vstack([np.log1p(centroid), np.log1p(bandwidth), np.log1p(rolloff), flatness])
    return head, np.vstack([zcr, rms])


def _full_frames(y: np.ndarray, *, sr: int, n_mfcc: int, n_fft: int, hop_length: int, n_mels: int,
                 fmin: float, fmax: float | None) -> np.ndarray:
    """The per-frame rows of a ``"full"`` vector (:func:`stats_rows`), ``(2 * n_mfcc + 13, T)``,
    all from one STFT of the clip. The spectral contrast is ``librosa.feature.spectral_contrast(S=mag,
    sr=sr, fmin=contrast_fmin(sr), n_bands=CONTRAST_BANDS)``: its peaks and valleys in dB, each
    floored 80 dB below its own maximum."""
    from audiokit.features import dsp

    mag = dsp.stft_magnitude(y, n_fft=n_fft, hop_length=hop_length)
    mel = _mel_basis(sr, n_fft, n_mels, fmin, fmax) @ mag ** 2
    M = dsp.mfcc(dsp.power_to_db(mel), n_mfcc).astype(np.float32)
    peak, valley = _contrast_peak_valley(mag, dsp.fft_frequencies(sr, n_fft), sr)
    contrast = _db(peak, float(peak.max())) - _db(valley, float(valley.max()))
    head, tail = _frame_rows(mag, np.pad(y, n_fft // 2), sr=sr, n_fft=n_fft, hop_length=hop_length)
    return np.vstack([M, _delta(M), head, contrast, tail]).astype(np.float64)


def mfcc_stats(y: np.ndarray, *, sr: int = 22050, n_mfcc: int = 20, n_fft: int | None = None,
               hop_length: int | None = None, n_mels: int | None = None, fmin: float = 0.0,
               fmax: float | None = None, stats: str = DEFAULT_STATS) -> np.ndarray:
    """Mean then (population) standard deviation over time of per-frame features, float32.

    ``stats="mfcc"``: of :func:`mfcc`, ``(2 * n_mfcc,)``. ``stats="full"``: of the rows of
    :func:`stats_rows` — the MFCCs, their deltas, log1p of the spectral centroid, bandwidth and
    roll-off, flatness, 7 spectral-contrast bands, zero-crossing rate, RMS — ``(4 * n_mfcc + 26,)``,
    named by :func:`stats_names`. ``fmin``/``fmax`` bound the mel filterbank (the MFCCs) only.
    Frame settings left out follow ``sr`` (:func:`frame_settings`).
    """
    n_fft, hop_length, n_mels = frame_settings(sr, n_fft, hop_length, n_mels)
    kw = dict(sr=sr, n_mfcc=n_mfcc, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, fmin=fmin, fmax=fmax)
    stats_rows(n_mfcc, stats)  # checks the name
    F = mfcc(y, **kw) if stats == "mfcc" else _full_frames(y, **kw)
    return np.concatenate([F.mean(axis=1), F.std(axis=1)]).astype(np.float32)


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
    # A clip shorter than n_fft (but at least n_fft/4, checked by the callers) is zero-padded
    # by the centred STFT, as librosa pads it (without librosa's "n_fft is too large" warning).
    if cfg.kind == "logmel":
        return logmel(y, top_db=cfg.top_db, **common)
    if cfg.kind == "mfcc":
        return mfcc(y, n_mfcc=cfg.n_mfcc, **common)
    return mfcc_stats(y, n_mfcc=cfg.n_mfcc, stats=cfg.stats, **common)


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


def _stft_stream(cfg: FeatureConfig, f, *, scale: float = 1.0):
    """|STFT| of a whole open file, ``(1 + n_fft // 2, frames)`` blocks in order, each with the
    padded samples its frames were cut from (``(mag, samples)``, ``mag``'s frame ``i`` is
    ``samples[i * hop_length : i * hop_length + n_fft]``).

    Frames are cut exactly as ``librosa.stft(y, center=True, pad_mode="constant")`` cuts the
    whole signal (``n_fft // 2`` zeros before and after; ``1 + n // hop`` frames), each block
    by the uncentred STFT (:func:`.dsp.stft_magnitude`, ``center=False``) on its stretch of
    samples, so only one block of the signal and of the spectrogram is in memory at a time.
    ``scale`` divides the samples first (peak normalisation).
    """
    from audiokit.features import dsp

    n_fft, hop = cfg.n_fft, cfg.hop_length
    buf = np.zeros(n_fft // 2, np.float32)  # padded samples from frame `t`'s start on
    t = n = 0

    def frames(buf: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        out = []
        for j in range(0, k, STREAM_FRAMES):  # at most STREAM_FRAMES frames of STFT at a time
            kk = min(STREAM_FRAMES, k - j)
            seg = buf[j * hop: j * hop + (kk - 1) * hop + n_fft]
            out.append(dsp.stft_magnitude(seg, n_fft=n_fft, hop_length=hop, center=False))
        return np.concatenate(out, axis=1), buf[: (k - 1) * hop + n_fft]

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


def _mel_power_stream(cfg: FeatureConfig, f, *, scale: float = 1.0):
    """The power mel spectrogram of a whole open file, ``(n_mels, frames)`` blocks in order
    (:func:`_stft_stream`'s frames through the mel filterbank)."""
    basis = _mel_basis(cfg.sr, cfg.n_fft, cfg.n_mels, cfg.fmin, cfg.fmax)
    for mag, _ in _stft_stream(cfg, f, scale=scale):
        yield basis @ mag ** 2


class _Moments:
    """Running mean and population standard deviation of each row of ``(rows, frames)`` blocks:
    float64 sums of ``x - c`` and ``(x - c)²``, ``c`` = the first block's mean (so a row with a
    large mean and a small spread loses no precision)."""

    def __init__(self) -> None:
        self.c = self.s1 = self.s2 = None
        self.n = 0

    def add(self, X: np.ndarray) -> None:
        if X.shape[-1] == 0:
            return
        X = X.astype(np.float64)
        if self.c is None:
            self.c = X.mean(axis=1)
            self.s1 = np.zeros_like(self.c)
            self.s2 = np.zeros_like(self.c)
        d = X - self.c[:, None]
        self.s1 += d.sum(axis=1)
        self.s2 += (d * d).sum(axis=1)
        self.n += X.shape[1]

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        m = self.s1 / self.n
        return self.c + m, np.sqrt(np.maximum(self.s2 / self.n - m * m, 0.0))


class _DeltaStream:
    """:func:`_delta` of frames that arrive in blocks, equal to it on all the frames at once.

    ``librosa.feature.delta`` (a Savitzky-Golay filter, ``mode="interp"``; :func:`.dsp.delta`)
    gives an inner frame from its ``DELTA_WIDTH // 2`` neighbours on each side, and the first
    and last few frames from a fit to the first and last ``DELTA_WIDTH`` frames. So the last ``DELTA_WIDTH`` frames
    seen are kept as context: each block's deltas are computed on context + block, and only
    frames whose neighbours were all there are given out; the last ones at :meth:`finish`. A
    clip of fewer than ``DELTA_WIDTH`` frames is computed whole at the end (narrower width).
    """

    def __init__(self) -> None:
        self.h = DELTA_WIDTH // 2
        self.buf: np.ndarray | None = None
        self.started = False

    def feed(self, M: np.ndarray) -> np.ndarray:
        from audiokit.features import dsp

        buf = M if self.buf is None else np.concatenate([self.buf, M], axis=1)
        if buf.shape[1] < DELTA_WIDTH:  # only before the first DELTA_WIDTH frames
            self.buf = buf
            return buf[:, :0]
        d = dsp.delta(buf, width=DELTA_WIDTH)
        first = self.h + 1 if self.started else 0  # context frames were given out before
        self.started = True
        self.buf = buf[:, -DELTA_WIDTH:]
        return d[:, first:buf.shape[1] - self.h]

    def finish(self) -> np.ndarray:
        from audiokit.features import dsp

        if self.buf is None:
            return np.zeros((0, 0), np.float32)
        if not self.started:
            return _delta(self.buf)
        return dsp.delta(self.buf, width=DELTA_WIDTH)[:, self.h + 1:]


def _mfcc_stats_stream(cfg: FeatureConfig, f) -> np.ndarray:
    """:func:`mfcc_stats` of a whole long file in memory that does not grow with its length.

    Three passes over the file: the first finds the peak (for ``normalize``); the second the
    loudest mel bin (``power_to_db``'s ``top_db`` floor under the MFCCs is relative to it) and,
    for ``stats="full"``, the loudest spectral-contrast peak and valley (likewise); the third
    turns each block into the per-frame rows exactly as :func:`mfcc_stats` does and adds them up
    (:class:`_Moments`; the deltas across block boundaries by :class:`_DeltaStream`). Equals
    :func:`mfcc_stats` on the whole signal to float rounding (the tests hold it to 1e-3 relative).
    """
    from audiokit.features import dsp

    peak = 0.0
    for y in f.stream(sr=cfg.sr, block_frames=max(cfg.n_fft, int(STREAM_FRAMES * cfg.hop_length * f.info.sr / cfg.sr))):
        peak = max(peak, float(np.max(np.abs(y))) if len(y) else 0.0)
    scale = peak if (cfg.normalize and peak > 0) else 1.0
    full = cfg.stats == "full"
    basis = _mel_basis(cfg.sr, cfg.n_fft, cfg.n_mels, cfg.fmin, cfg.fmax)
    freq = dsp.fft_frequencies(cfg.sr, cfg.n_fft)
    smax = pmax = vmax = 0.0
    for mag, _ in _stft_stream(cfg, f, scale=scale):
        smax = max(smax, float((basis @ mag ** 2).max()))
        if full:
            p, v = _contrast_peak_valley(mag, freq, cfg.sr)
            pmax, vmax = max(pmax, float(p.max())), max(vmax, float(v.max()))
    floor = 10.0 * np.log10(max(_AMIN, smax)) - _TOP_DB
    mfccs, deltas, rest = _Moments(), _Moments(), _Moments()
    dstream = _DeltaStream()
    for mag, samples in _stft_stream(cfg, f, scale=scale):
        db = np.maximum(10.0 * np.log10(np.maximum(_AMIN, basis @ mag ** 2)), floor)
        M = dsp.mfcc(db, cfg.n_mfcc).astype(np.float32)
        mfccs.add(M)
        if full:
            deltas.add(dstream.feed(M))
            head, tail = _frame_rows(mag, samples, sr=cfg.sr, n_fft=cfg.n_fft, hop_length=cfg.hop_length)
            p, v = _contrast_peak_valley(mag, freq, cfg.sr)
            rest.add(np.vstack([head, _db(p, pmax) - _db(v, vmax), tail]))
    parts = [mfccs]
    if full:
        deltas.add(dstream.finish())
        parts += [deltas, rest]
    if mfccs.n == 0:
        raise AudioError("no samples", path=f.path)
    res = [m.result() for m in parts]
    out = np.concatenate([r[0] for r in res] + [r[1] for r in res]).astype(np.float32)
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

