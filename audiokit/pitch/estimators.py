"""Fundamental-frequency estimators: the KNN paper's Harmonic Product Spectrum, a
short-time HPS, and YIN.

Everything here is numpy only, on purpose: ``audiokit pitch low.wav high.wav`` must
answer in well under a second, and importing librosa (numba) or scipy.signal costs
more than the whole analysis. librosa.yin / librosa.pyin are the reference the
benchmark (bench/pitch.py) compares against; the YIN here follows de Cheveigné &
Kawahara (2002) as librosa.yin does, vectorised over frames the same way, and adds a
voicing decision (librosa.yin has none) so silence and noise come out unvoiced.

Methods
-------
``hps``   The paper: the whole (peak-normalised, mono) signal, Hamming window, one FFT
          zero-padded for resolution, product of ``harmonics`` downsampled magnitude
          spectra, peak in [fmin, fmax] refined by interpolation, then the
          octave-error guard (:func:`_octave_guard`).
          Frame by frame (``--frames``), the same HPS runs on short frames (:func:`shps`).
``yin``   YIN on short frames (cumulative-mean-normalised difference, absolute
          threshold, parabolic interpolation); voiced when the aperiodicity is low and
          the frame is not silent; the file's f0 is the centre of the voiced frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from audiokit.errors import AudioError, UsageError

METHODS = ("hps", "yin")
#: The method ``audiokit pitch`` uses when none is given: the most accurate one in
#: bench/pitch.py on the real-ish recordings (docs/benchmarks.md, section "pitch").
DEFAULT_METHOD = "yin"

#: Hop between analysis frames, seconds.
HOP_SECONDS = 0.01
#: Frames quieter than this (dB below the loudest frame of the file) are silence.
SILENCE_DB = 40.0
#: YIN: absolute threshold on the normalised difference (de Cheveigné & Kawahara use 0.1–0.2).
YIN_THRESHOLD = 0.15
#: YIN: a frame is voiced when its best normalised difference is below this.
YIN_VOICING = 0.35
#: HPS: a frame/file is voiced when this share of its power lies on the harmonics of f0.
HPS_VOICING = 0.5
#: Octave guard: the sub-harmonic wins when its evidence reaches this share of the
#: candidate's (spectral magnitudes, relative)...
OCTAVE_RATIO = 0.2
#: ... and is at least this (relative to the spectrum's peak, -60 dB: not numerical noise) ...
SUB_MIN = 1e-3
#: ... and its new harmonics are peaks this many times the spectrum around them (noise: 2-3).
FLOOR_FACTOR = 8.0
#: Frames analysed at once by YIN / short-time HPS (bounds memory on long recordings).
YIN_BLOCK = 512
HPS_BLOCK = 64
#: The whole-signal HPS looks at the middle this many seconds of a longer recording.
HPS_MAX_SECONDS = 30.0
#: A file is voiced when at least this share of its non-silent frames is voiced (and >= 3 frames).
MIN_VOICED_SHARE = 0.2


@dataclass
class F0Result:
    """What an estimator found in one signal.

    ``f0`` is the file's fundamental in Hz, or ``None`` when unvoiced. Frame-wise
    methods also give ``times`` (s, frame centres), ``frame_f0`` (Hz, NaN where
    unvoiced) and ``confidence`` (0..1) per frame; ``voiced_share`` is the share of
    non-silent frames that are voiced. The whole-signal ``hps`` gives one frame.
    """

    f0: float | None
    method: str
    sr: int
    times: np.ndarray = field(default_factory=lambda: np.zeros(0))
    frame_f0: np.ndarray = field(default_factory=lambda: np.zeros(0))
    confidence: np.ndarray = field(default_factory=lambda: np.zeros(0))
    voiced_share: float = 0.0
    #: Overall confidence of the file's f0 (0..1): median confidence of the voiced frames.
    strength: float = 0.0


# -- helpers ----------------------------------------------------------------------------------

def check_band(*, sr: int, fmin: float, fmax: float) -> tuple[float, float]:
    """Validate the search band; ``fmax`` is capped below Nyquist. Raises UsageError."""
    if not (np.isfinite(fmin) and np.isfinite(fmax)) or fmin <= 0:
        raise UsageError(f"fmin must be a positive number of Hz (got {fmin:g})")
    if fmin >= fmax:
        raise UsageError(f"need fmin < fmax (got fmin={fmin:g} Hz, fmax={fmax:g} Hz)")
    fmax = min(float(fmax), 0.45 * sr)
    if fmin >= fmax:
        raise UsageError(f"fmin={fmin:g} Hz is not below the usable limit {fmax:g} Hz of audio at {sr} Hz")
    return float(fmin), fmax


def min_samples(*, sr: int, fmin: float) -> int:
    """The shortest signal any method analyses: one YIN frame, two periods of ``fmin``."""
    return 2 * int(np.ceil(sr / fmin)) + 2


def _frame(y: np.ndarray, length: int, hop: int) -> np.ndarray:
    """Frames ``(n, length)`` of ``y`` centred at ``0, hop, 2*hop, ...`` without padding the ends
    (the first frame starts at sample 0); a view, not a copy."""
    n = 1 + (len(y) - length) // hop
    return np.lib.stride_tricks.sliding_window_view(y, length)[::hop][:n]


def _parabolic(v: np.ndarray, i: np.ndarray) -> np.ndarray:
    """Sub-bin offset of the extremum of a parabola through ``v[i-1], v[i], v[i+1]`` (rows)."""
    rows = np.arange(v.shape[0])
    i = np.clip(i, 1, v.shape[1] - 2)
    a, b, c = v[rows, i - 1], v[rows, i], v[rows, i + 1]
    den = a - 2 * b + c
    with np.errstate(divide="ignore", invalid="ignore"):
        off = np.where(np.abs(den) > 1e-12, 0.5 * (a - c) / den, 0.0)
    return np.clip(off, -0.5, 0.5)


def _frame_levels(x: np.ndarray, length: int, hop: int, n: int) -> np.ndarray:
    """RMS level of the ``n`` frames of :func:`_frame` in dB relative to the loudest frame
    (-inf for digital silence), from a running sum of x² (no per-frame copies)."""
    c = np.concatenate([[0.0], np.cumsum(np.asarray(x, dtype=np.float64) ** 2)])
    starts = np.arange(n) * hop
    rms = np.sqrt(np.maximum(c[starts + length] - c[starts], 0.0) / length)
    peak = rms.max() if rms.size else 0.0
    with np.errstate(divide="ignore"):
        return 20 * np.log10(rms / peak) if peak > 0 else np.full(len(rms), -np.inf)


def _summarise(method: str, sr: int, times, f0s, conf, nonsilent) -> F0Result:
    """The file's f0 from its voiced frames, or None when too few frames are voiced.

    The median of log f0 finds the note; frames more than 3 semitones from it (octave
    errors, a slide into the note) are dropped, and the rest are averaged in log
    frequency: the centre of a vibrato, where the median of a vibrato whose low swing is
    voiced less often (faster pitch change, hum) would lean to the high swing.
    """
    voiced = np.isfinite(f0s)
    n_ns = int(nonsilent.sum())
    share = float(voiced.sum() / n_ns) if n_ns else 0.0
    f0 = None
    strength = 0.0
    if voiced.sum() >= min(3, len(f0s)) and voiced.any() and share >= MIN_VOICED_SHARE:
        lf = np.log2(f0s[voiced])
        med = np.median(lf)
        near = np.abs(lf - med) <= 0.25
        f0 = float(2.0 ** np.mean(lf[near]))
        strength = float(np.median(conf[voiced]))
    return F0Result(f0, method, sr, times, f0s, conf, share, strength)


# -- HPS ------------------------------------------------------------------------------------

def _hps_frames(frames: np.ndarray, *, sr: int, fmin: float, fmax: float, harmonics: int,
                n_fft: int, centroid: bool = False, octave_guard: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """HPS f0 and harmonicity of each row of ``frames`` (already windowed).

    The peak is refined by parabolic interpolation of log-HPS, or with ``centroid`` by the
    HPS-weighted mean log-frequency within ±1 semitone of the peak bin (the same for a
    clean peak; for a long signal with vibrato, whose HPS peak is a band with horns at the
    vibrato's extremes, the centre of the band rather than one horn).

    Returns ``(f0 (n,), harmonicity (n,))``; f0 is NaN for an all-zero frame.
    """
    spec = np.abs(np.fft.rfft(frames, n=n_fft, axis=1))
    peak = spec.max(axis=1, keepdims=True)
    silent = peak[:, 0] <= 0
    spec = spec / np.where(peak > 0, peak, 1.0)
    n_bins = spec.shape[1]
    bin_hz = sr / n_fft
    k_lo = max(1, int(np.floor(fmin / bin_hz)))
    k_hi = min(int(np.ceil(fmax / bin_hz)) + 1, n_bins - 1)
    # The product of the magnitude spectrum and its copies downsampled by 2..H (the paper's
    # eq. 5), summed as logs. Bins whose h-th harmonic lies above Nyquist get the floor, so
    # every candidate is a product of the same number of factors.
    floor = 1e-4
    log_spec = np.log(np.maximum(spec, floor))
    hps = np.zeros((spec.shape[0], k_hi + 1))
    for h in range(1, harmonics + 1):
        idx = np.arange(k_hi + 1) * h
        ok = idx < n_bins
        part = np.full((spec.shape[0], k_hi + 1), np.log(floor))
        part[:, ok] = log_spec[:, idx[ok]]
        hps += part
    band = hps[:, k_lo:k_hi + 1]
    k = np.argmax(band, axis=1) + k_lo

    def refine(i: int, ki: int) -> float:
        if not centroid:
            return float((ki + _parabolic(hps[i:i + 1], np.array([ki]))[0]) * bin_hz)
        c = float(ki)
        for _ in range(4):  # re-centre: a vibrato band's two horns pull the window to its middle
            a = max(k_lo, int(np.floor(c * 2 ** (-1 / 12))))
            b = min(k_hi, int(np.ceil(c * 2 ** (1 / 12))))
            w = np.exp((hps[i, a:b + 1] - hps[i, ki]) / harmonics)
            w = w - w.min() + 1e-12  # the background, flat, would pull towards the window's middle
            c = float(np.exp(np.sum(w * np.log(np.arange(a, b + 1))) / np.sum(w)))
        return c * bin_hz

    f0 = np.array([refine(i, int(ki)) for i, ki in enumerate(k)])
    if octave_guard:
        for i in range(len(f0)):
            g = _octave_guard(spec[i], f0[i], bin_hz=bin_hz, fmin=fmin, harmonics=harmonics)
            # (an answer above the band, from the doubling check, is not taken: the band is what was
            # asked for, and band_check says when the pitch seems to lie beyond it)
            if np.isfinite(g) and abs(np.log2(g / f0[i])) > 0.5 / 12 and g / bin_hz * 2 ** (-0.5 / 12) <= k_hi:
                # the guard moved by octaves (or a third): the HPS peak nearest its answer, refined
                a = max(k_lo, int(np.floor(g / bin_hz * 2 ** (-0.5 / 12))))
                b = max(a, min(k_hi, int(np.ceil(g / bin_hz * 2 ** (0.5 / 12)))))
                f0[i] = refine(i, a + int(np.argmax(hps[i, a:b + 1])))
    # A whole signal's harmonics are as wide as its vibrato (up to a semitone); a short frame's are not.
    tol = 0.06 if centroid else 0.03
    harm = np.array([_harmonicity(s, f, bin_hz=bin_hz, harmonics=harmonics, tol=tol) for s, f in zip(spec, f0)])
    f0[silent] = np.nan
    harm[silent] = 0.0
    return f0, harm


def _peak_near(spec: np.ndarray, f: float, bin_hz: float, tol: float = 0.02) -> float:
    """Largest magnitude within ±``tol`` (relative, at least ±1 bin) of frequency ``f``."""
    c = f / bin_hz
    w = max(1.0, tol * c)
    lo, hi = int(np.floor(c - w)), int(np.ceil(c + w)) + 1
    if lo >= len(spec) or hi <= 0:
        return 0.0
    return float(spec[max(lo, 0):min(hi, len(spec))].max())


def _evidence(spec: np.ndarray, f: float, multiples, bin_hz: float) -> float:
    """Median magnitude at the given multiples of ``f`` (those below Nyquist).

    The median, not the mean, so that one stray line (mains hum, a partial of another
    sound) near one multiple is not taken for a harmonic series."""
    nyq = bin_hz * (len(spec) - 1)
    vals = [_peak_near(spec, m * f, bin_hz) for m in multiples if m * f < nyq]
    return float(np.median(vals)) if vals else 0.0


def _octave_guard(spec: np.ndarray, f: float, *, bin_hz: float, fmin: float, harmonics: int) -> float:
    """Correct HPS's octave errors with a sub-harmonic check (docs/pitch.md, "octave guard").

    HPS's known failure is an f0 that is a multiple of the true one: when the fundamental
    and the low harmonics are weak (a low voice whose strongest harmonics sit in the first
    formant near 800 Hz, a small microphone, a missing fundamental), the product is
    largest at 2 f0 or 3 f0. So for ``d`` in 2, 3: if the multiples of ``g = f/d`` that
    are *not* multiples of ``f`` (for d = 2 the odd multiples ``g, 3g, 5g, ...``) carry
    at least ``OCTAVE_RATIO`` of the magnitude found at the multiples of ``f``, and are
    peaks, ``FLOOR_FACTOR`` times the median magnitude around them (:func:`_prominence`),
    the true fundamental is ``g``. Repeated while it applies (``f/4``, ``f/6``).
    A tone at ``f`` has nothing between its harmonics, so this does not fire on it.

    The opposite error (an octave too low) needs a product over harmonics to gain from
    empty bins, which happens only when the signal has one or two partials (then f/2 and f
    tie). A relative check for it (odd vs even harmonics of ``f``) was tried and did more
    harm than good on voices, whose formants make even harmonics stronger than odd ones;
    what remains fires only when ``f`` and all its odd multiples are below -60 dB.
    """
    if not np.isfinite(f):
        return f
    n = max(harmonics, 3)
    for _ in range(3):
        for d in (2, 3):
            g = f / d
            if g < fmin:
                continue
            new = [m for m in range(1, d * n + 1) if m % d]
            here = _evidence(spec, f, range(1, n + 1), bin_hz)
            sub = _evidence(spec, g, new, bin_hz)
            if (here > 0 and sub >= max(OCTAVE_RATIO * here, SUB_MIN)
                    and _prominence(spec, g, new, bin_hz) >= FLOOR_FACTOR):
                f = g
                break
        else:
            break
    # The opposite error, strictly: nothing at all (< SUB_MIN) at f and its odd multiples but
    # something at the even ones means f is half the fundamental. Only a signal with one or
    # two partials (a bare sine pair) gets here; any voice has odd harmonics above -60 dB.
    nyq = bin_hz * (len(spec) - 1)
    for _ in range(3):
        odd = [_peak_near(spec, m * f, bin_hz) for m in range(1, 2 * n, 2) if m * f < nyq]
        even = [_peak_near(spec, m * f, bin_hz) for m in range(2, 2 * n + 1, 2) if m * f < nyq]
        if not (odd and even and max(odd) < SUB_MIN and max(even) >= 100 * SUB_MIN):
            break
        f = 2 * f
    return f


def _prominence(spec: np.ndarray, g: float, multiples, bin_hz: float) -> float:
    """Median, over the multiples ``m`` of ``g``, of the peak near ``m g`` divided by the median
    magnitude from ``(m - 1/2) g`` to ``(m + 1/2) g``: about 2-3 for noise (the largest of many
    noise bins over their median), tens for a harmonic."""
    out = []
    for m in multiples:
        lo, hi = int((m - 0.5) * g / bin_hz), min(int((m + 0.5) * g / bin_hz) + 1, len(spec))
        if hi - lo < 3:
            continue
        out.append(_peak_near(spec, m * g, bin_hz) / max(float(np.median(spec[lo:hi])), 1e-12))
    return float(np.median(out)) if out else 0.0


def _harmonicity(spec: np.ndarray, f: float, *, bin_hz: float, harmonics: int, tol: float = 0.03) -> float:
    """Share of the power between ``f/2`` and ``(H + 0.5) f`` that lies within ±``tol`` of a harmonic."""
    if not np.isfinite(f) or f <= 0:
        return 0.0
    p = spec.astype(np.float64) ** 2
    H = max(harmonics, 3)
    lo, hi = int(0.5 * f / bin_hz), min(int((H + 0.5) * f / bin_hz) + 1, len(p))
    total = p[lo:hi].sum()
    if total <= 0:
        return 0.0
    on = 0.0
    for h in range(1, H + 1):
        c = h * f / bin_hz
        w = max(1.0, tol * c)
        a, b = int(np.floor(c - w)), min(int(np.ceil(c + w)) + 1, len(p))
        if a >= len(p):
            break
        on += p[max(a, 0):b].sum()
    return float(min(on / total, 1.0))


def hps(y: np.ndarray, *, sr: int, fmin: float = 50.0, fmax: float = 2000.0, harmonics: int = 5,
        octave_guard: bool = True) -> F0Result:
    """The KNN paper's f0: HPS of the whole signal (one Hamming-windowed, zero-padded FFT).

    ``y`` should already be mono and peak-normalised (``audio.load(normalize=True)`` does
    both, as the paper does). Zero-padding to at least twice the signal length (and to a
    resolution of 0.5 Hz or finer) gives the peak interpolation fine bins to work on.
    A signal longer than ``HPS_MAX_SECONDS`` is cut to its middle ``HPS_MAX_SECONDS``
    (one sung note is seconds long; the FFT of an hour would need gigabytes).
    The result is unvoiced when the signal is silent or less than ``HPS_VOICING`` of its
    power is harmonic. ``octave_guard=False`` leaves out :func:`_octave_guard` (to see
    the paper's method fail the way it is known to).
    """
    fmin, fmax = check_band(sr=sr, fmin=fmin, fmax=fmax)
    x = np.asarray(y, dtype=np.float64)
    cap = int(HPS_MAX_SECONDS * sr)
    if len(x) > cap:
        x = x[(len(x) - cap) // 2:][:cap]
    n_fft = 1 << int(np.ceil(np.log2(max(len(x) * 2, sr / 0.5))))
    frames = (x * np.hamming(len(x)))[None, :]
    f0, harm = _hps_frames(frames, sr=sr, fmin=fmin, fmax=fmax, harmonics=harmonics, n_fft=n_fft,
                           centroid=True, octave_guard=octave_guard)
    ok = np.isfinite(f0[0]) and harm[0] >= HPS_VOICING
    t = np.array([len(x) / 2 / sr])
    fr = np.where(ok, f0, np.nan)
    return F0Result(float(f0[0]) if ok else None, "hps", sr, t, fr, harm, 1.0 if ok else 0.0,
                    float(harm[0]) if ok else 0.0)


def shps(y: np.ndarray, *, sr: int, fmin: float = 50.0, fmax: float = 2000.0, harmonics: int = 5,
         hop_length: int | None = None) -> F0Result:
    """Short-time HPS: :func:`hps` on Hamming-windowed frames of about four periods of
    ``fmin`` (at least 40 ms), zero-padded 4×; its F0Result.f0 summarises the voiced frames
    as YIN's does (:func:`analyze` reports the whole-signal :func:`hps` f0 instead)."""
    fmin, fmax = check_band(sr=sr, fmin=fmin, fmax=fmax)
    x = np.asarray(y, dtype=np.float64)
    hop = hop_length or max(1, int(round(HOP_SECONDS * sr)))
    length = max(int(np.ceil(4 * sr / fmin)), int(0.04 * sr))
    length = min(length, len(x))
    frames = _frame(x, length, hop)
    levels = _frame_levels(x, length, hop, len(frames))
    nonsilent = levels > -SILENCE_DB
    n_fft = 1 << int(np.ceil(np.log2(4 * length)))
    f0 = np.full(len(frames), np.nan)
    harm = np.zeros(len(frames))
    idx = np.flatnonzero(nonsilent)
    window = np.hamming(length)
    for b in range(0, len(idx), HPS_BLOCK):  # blocks keep memory bounded on long files
        sel = idx[b:b + HPS_BLOCK]
        f0[sel], harm[sel] = _hps_frames(frames[sel] * window, sr=sr, fmin=fmin, fmax=fmax,
                                         harmonics=harmonics, n_fft=n_fft)
    f0[harm < HPS_VOICING] = np.nan
    times = (np.arange(len(frames)) * hop + length / 2) / sr
    return _summarise("hps", sr, times, f0, harm, nonsilent)


# -- is the pitch inside the band? ------------------------------------------------------------

#: An f0 within this many semitones of fmin or fmax may be the band's edge rather than the pitch.
EDGE_SEMITONES = 1.0
#: "Little energy at the f0 found": its partial is below this share of the strongest one (-20 dB).
WEAK_F0 = 0.1


def band_check(y: np.ndarray, *, sr: int, f0: float | None, fmin: float, fmax: float) -> list[dict]:
    """Signs that the pitch of ``y`` lies outside ``[fmin, fmax]``, so that ``f0`` (what an
    estimator found inside the band) is a sub-harmonic or a harmonic of it, or the band's edge.

    An estimator searching a band can only answer inside it: a 2640 Hz tone searched up to
    2000 Hz comes out as 1320 Hz (its period twice over fits the band), a piano's A0 (27.5 Hz)
    searched from 50 Hz as A1. Each finding is a dict with ``check`` and ``hz``:

    * ``above_fmax``: the strongest partial of the whole-signal spectrum (``hz``) lies above
      ``fmax`` and the f0 found has less than ``WEAK_F0`` of its magnitude: the f0 found is a
      sub-harmonic of a pitch above the band;
    * ``below_fmin``: ``hz = f0/2`` (or ``f0/3``) is below ``fmin`` and its multiples that are
      not multiples of ``f0`` are peaks, by the same test as the octave guard
      (:func:`_octave_guard`): the pitch is that sub-harmonic, below the band;
    * ``edge``: ``f0`` is within ``EDGE_SEMITONES`` of ``fmin`` or ``fmax`` (``limit`` says
      which): a pitch beyond the edge would be reported there.

    Nothing is checked for an unvoiced file (``f0 is None``). numpy only, one FFT.
    """
    if f0 is None or not np.isfinite(f0):
        return []
    fmin, fmax = check_band(sr=sr, fmin=fmin, fmax=fmax)
    x = np.asarray(y, dtype=np.float64)
    cap = int(HPS_MAX_SECONDS * sr)
    if len(x) > cap:
        x = x[(len(x) - cap) // 2:][:cap]
    n_fft = 1 << int(np.ceil(np.log2(max(len(x), sr))))  # bins of 1 Hz or finer
    spec = np.abs(np.fft.rfft(x * np.hamming(len(x)), n=n_fft))
    peak = spec.max() if spec.size else 0.0
    if not peak > 0:
        return []
    spec = spec / peak
    bin_hz = sr / n_fft
    strongest = float(np.argmax(spec)) * bin_hz
    if strongest > fmax * 2 ** (0.5 / 12) and _peak_near(spec, f0, bin_hz) < WEAK_F0:
        return [{"check": "above_fmax", "hz": round(strongest, 2)}]
    n = 5
    for d in (2, 3):
        g = f0 / d
        if g >= fmin or g < 4 * bin_hz:
            continue
        new = [m for m in range(1, d * n + 1) if m % d]
        here = _evidence(spec, f0, range(1, n + 1), bin_hz)
        sub = _evidence(spec, g, new, bin_hz)
        if (here > 0 and sub >= max(OCTAVE_RATIO * here, SUB_MIN)
                and _prominence(spec, g, new, bin_hz) >= FLOOR_FACTOR):
            return [{"check": "below_fmin", "hz": round(g, 2)}]
    if f0 <= fmin * 2 ** (EDGE_SEMITONES / 12):
        return [{"check": "edge", "limit": "fmin", "hz": round(f0, 2)}]
    if f0 >= fmax * 2 ** (-EDGE_SEMITONES / 12):
        return [{"check": "edge", "limit": "fmax", "hz": round(f0, 2)}]
    return []


# -- YIN ------------------------------------------------------------------------------------

def yin(y: np.ndarray, *, sr: int, fmin: float = 50.0, fmax: float = 2000.0, hop_length: int | None = None,
        threshold: float = YIN_THRESHOLD) -> F0Result:
    """YIN (de Cheveigné & Kawahara 2002) with a voicing decision.

    Each frame holds two periods of ``fmin`` (integration window = the longest lag).
    The difference function is computed for all frames at once through an FFT
    autocorrelation and cumulative sums of energy (as librosa.yin does). The lag is the
    first local minimum of the normalised difference below ``threshold`` (else the
    global minimum), refined by parabolic interpolation. A frame is voiced when its
    normalised difference there is below ``YIN_VOICING`` and it is within
    ``SILENCE_DB`` of the loudest frame; confidence is ``1 - d'``.
    """
    fmin, fmax = check_band(sr=sr, fmin=fmin, fmax=fmax)
    x = np.asarray(y, dtype=np.float64)
    tau_min = max(2, int(np.floor(sr / fmax)))
    tau_max = int(np.ceil(sr / fmin))
    W = tau_max  # integration window
    length = W + tau_max + 1
    if len(x) < length:
        raise AudioError(f"too short: {len(x)} samples at {sr} Hz, one analysis frame needs {length} "
                         f"({length / sr * 1000:.0f} ms for fmin={fmin:g} Hz)")
    hop = hop_length or max(1, int(round(HOP_SECONDS * sr)))
    frames = _frame(x, length, hop)
    levels = _frame_levels(x, length, hop, len(frames))
    nonsilent = levels > -SILENCE_DB
    n = len(frames)
    tau = np.full(n, np.nan)
    ap = np.ones(n)
    idx = np.flatnonzero(nonsilent)
    # Blocks of frames keep memory bounded on long files (a block's arrays are ~10 MB).
    for b in range(0, len(idx), YIN_BLOCK):
        sel = idx[b:b + YIN_BLOCK]
        tau[sel], ap[sel] = _yin_block(frames[sel], W=W, tau_min=tau_min, tau_max=tau_max, threshold=threshold)
    conf = np.where(nonsilent, np.clip(1.0 - ap, 0.0, 1.0), 0.0)
    f0 = sr / tau
    voiced = nonsilent & (ap < YIN_VOICING) & (f0 >= fmin * 0.97) & (f0 <= fmax * 1.03)
    f0 = np.where(voiced, f0, np.nan)
    times = (np.arange(n) * hop + length / 2) / sr
    return _summarise("yin", sr, times, f0, conf, nonsilent)


def _yin_block(fr: np.ndarray, *, W: int, tau_min: int, tau_max: int,
               threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """YIN on a block of frames ``(n, W + tau_max + 1)``: the period in samples (fractional)
    and the normalised difference d' at the chosen dip (the aperiodicity) of each frame."""
    n, length = fr.shape
    # r(tau) = sum_{j<W} x[j] x[j+tau]: cross-correlation of the frame with its first W samples.
    # j + tau < length for every term, so a circular correlation of length >= length is exact.
    n_fft = 1 << int(np.ceil(np.log2(length)))
    A = np.fft.rfft(fr, n=n_fft, axis=1)
    B = np.fft.rfft(fr[:, :W], n=n_fft, axis=1)
    r = np.fft.irfft(A * np.conj(B), n=n_fft, axis=1)[:, :tau_max + 1]
    c = np.concatenate([np.zeros((n, 1)), np.cumsum(fr ** 2, axis=1)], axis=1)
    energy = c[:, W:W + tau_max + 1] - c[:, :tau_max + 1]  # sum_{j=tau}^{tau+W-1} x[j]^2
    d = np.maximum(energy[:, :1] + energy - 2 * r, 0.0)
    d[:, 0] = 0.0
    cum = np.cumsum(d[:, 1:], axis=1)
    d_norm = np.ones((n, tau_max + 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        d_norm[:, 1:] = np.where(cum > 0, d[:, 1:] * np.arange(1, tau_max + 1) / cum, 1.0)
    seg = d_norm[:, tau_min:tau_max + 1]
    # First local minimum below the threshold: where d' < thr and d'[t] <= d'[t+1].
    below = seg < threshold
    is_min = np.zeros_like(below)
    is_min[:, :-1] = seg[:, :-1] <= seg[:, 1:]
    is_min[:, -1] = True
    cand = below & is_min
    has = cand.any(axis=1)
    best = np.where(has, np.argmax(cand, axis=1), np.argmin(seg, axis=1)) + tau_min
    rows = np.arange(n)
    ap = d_norm[rows, best]
    # The dip is chosen on d' but located on the raw difference d: the normalisation by the
    # running mean tilts d' and moves its minimum when the dip is shallow (noise), while
    # white noise only adds a constant to d. So: the lowest d within ±4 % of the chosen lag,
    # then parabolic interpolation on d.
    span = np.maximum(1, np.ceil(0.04 * best)).astype(int)
    lags = np.arange(-int(span.max()), int(span.max()) + 1)
    cand_lags = best[:, None] + lags[None, :]
    valid = (np.abs(lags)[None, :] <= span[:, None]) & (cand_lags >= tau_min) & (cand_lags <= tau_max)
    vals = np.where(valid, d[rows[:, None], np.clip(cand_lags, 0, tau_max)], np.inf)
    best = np.clip(cand_lags[rows, np.argmin(vals, axis=1)], 1, tau_max - 1)
    tau = np.clip(best + _parabolic(d, best), 1, None)
    return tau, ap


def analyze(y: np.ndarray, *, sr: int, method: str = DEFAULT_METHOD, fmin: float = 50.0, fmax: float = 2000.0,
            harmonics: int = 5, frames: bool = False) -> F0Result:
    """Run one estimator on a mono signal; the full :class:`F0Result` (file f0 and frames).

    ``yin`` always gives its frames. ``hps`` gives one f0 for the whole signal, and with
    ``frames=True`` also the short-time HPS track (:func:`shps`); the file's f0 stays the
    whole-signal one, so it equals what ``frames=False`` gives.

    Raises
    ------
    UsageError
        Unknown method, or a bad band (``fmin >= fmax``, ``fmin <= 0``).
    AudioError
        A signal shorter than one analysis frame (:func:`min_samples`).
    """
    if method not in METHODS:
        raise UsageError(f"unknown pitch method {method!r}; choose one of {', '.join(METHODS)}")
    if harmonics < 1:
        raise UsageError(f"harmonics must be at least 1 (got {harmonics})")
    fmin, fmax = check_band(sr=sr, fmin=fmin, fmax=fmax)
    y = np.asarray(y)
    if y.ndim != 1:
        raise UsageError("pitch estimation needs a mono signal (audio.load folds channels by their mean)")
    need = min_samples(sr=sr, fmin=fmin)
    if len(y) < need:
        raise AudioError(f"too short: {len(y)} samples at {sr} Hz, one analysis frame needs {need} "
                         f"({need / sr * 1000:.0f} ms for fmin={fmin:g} Hz)")
    if method == "yin":
        return yin(y, sr=sr, fmin=fmin, fmax=fmax)
    whole = hps(y, sr=sr, fmin=fmin, fmax=fmax, harmonics=harmonics)
    if not frames:
        return whole
    track = shps(y, sr=sr, fmin=fmin, fmax=fmax, harmonics=harmonics)
    return F0Result(whole.f0, "hps", sr, track.times, track.frame_f0, track.confidence, track.voiced_share,
                    whole.strength)
