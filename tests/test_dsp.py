"""audiokit.features.dsp against librosa, the oracle, on real signals: tones, noise, a chirp,
silence and a clip shorter than the window, at 8, 16, 22.05 and 48 kHz with audiokit's frame
settings (frame_settings); then the feature functions built on it (logmel, mfcc, mfcc_stats)
against librosa end to end.

The module follows librosa's arithmetic step by step, so most results are identical; the DCT
(a matrix product here, scipy's float32 FFT in librosa) and the deltas (a direct slope here,
scipy's Savitzky-Golay convolution and edge fit in librosa) differ by float rounding.
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.signal

import librosa

from audiokit import features
from audiokit.errors import AudioError
from audiokit.features import dsp, frame_settings

SRS = (8000, 16000, 22050, 48000)
SIGNALS = ("tone", "noise", "chirp", "silence", "short")
DB_TOL = 1e-3  # dB
MFCC_TOL = 1e-3  # coefficient units (values span hundreds)


def _signal(name: str, sr: int) -> np.ndarray:
    """1.3 s of a signal at ``sr``, float32 as audiokit decodes it; ``short``: half a window."""
    n_fft = frame_settings(sr)[0]
    t = np.arange(int(1.3 * sr)) / sr
    rng = np.random.default_rng(sr)
    if name == "tone":  # harmonics up to near Nyquist, a decay
        y = sum(np.sin(2 * np.pi * 330 * k * t) / k for k in range(1, 8)) * np.exp(-t)
    elif name == "noise":
        y = rng.standard_normal(t.size)
    elif name == "chirp":  # 50 Hz to 0.45·sr, exponential sweep
        f0, f1 = 50.0, 0.45 * sr
        k = np.log(f1 / f0) / t[-1]
        y = np.sin(2 * np.pi * f0 * (np.exp(k * t) - 1) / k)
    elif name == "silence":
        y = np.zeros(t.size)
    else:
        y = np.sin(2 * np.pi * 440 * t[: n_fft // 2]) + 0.1 * rng.standard_normal(n_fft // 2)
    peak = np.abs(y).max()
    return (0.5 * y / peak if peak > 0 else y).astype(np.float32)


def _lr_stft(y, n_fft, hop, center=True):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "n_fft is too large" for the short clip
        return np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop, center=center))


@pytest.fixture(params=SRS, ids=lambda sr: f"{sr}Hz")
def sr(request):
    return request.param


@pytest.fixture(params=SIGNALS)
def case(request, sr):
    n_fft, hop, n_mels = frame_settings(sr)
    y = _signal(request.param, sr)
    return dict(name=request.param, sr=sr, y=y, n_fft=n_fft, hop=hop, n_mels=n_mels, S=_lr_stft(y, n_fft, hop))


# -- the building blocks ------------------------------------------------------------------------

def test_window_and_frequencies_are_librosas(sr):
    n_fft = frame_settings(sr)[0]
    np.testing.assert_array_equal(dsp.hann(n_fft), scipy.signal.get_window("hann", n_fft, fftbins=True))
    np.testing.assert_array_equal(dsp.fft_frequencies(sr, n_fft), librosa.fft_frequencies(sr=sr, n_fft=n_fft))
    assert not dsp.hann(n_fft).flags.writeable  # cached: nobody may change it


def test_stft_magnitude_equals_librosa(case):
    ours = dsp.stft_magnitude(case["y"], n_fft=case["n_fft"], hop_length=case["hop"])
    assert ours.dtype == np.float32 and ours.shape == case["S"].shape
    assert ours.shape[1] == 1 + len(case["y"]) // case["hop"]
    np.testing.assert_allclose(ours, case["S"], rtol=1e-5, atol=1e-6 * max(1.0, case["S"].max()))


def test_uncentred_and_float64_stft_equal_librosa(sr):
    n_fft, hop, _ = frame_settings(sr)
    y = _signal("chirp", sr)
    np.testing.assert_allclose(dsp.stft_magnitude(y, n_fft=n_fft, hop_length=hop, center=False),
                               _lr_stft(y, n_fft, hop, center=False), rtol=1e-5, atol=1e-5)
    y64 = y.astype(np.float64)
    ours = dsp.stft_magnitude(y64, n_fft=n_fft, hop_length=hop)
    assert ours.dtype == np.float64
    np.testing.assert_allclose(ours, _lr_stft(y64, n_fft, hop), rtol=1e-10, atol=1e-10)
    with pytest.raises(ValueError, match="too short"):
        dsp.stft_magnitude(y[: n_fft - 1], n_fft=n_fft, hop_length=hop, center=False)
    bad = y.copy()
    bad[100] = np.nan  # refused as librosa refuses it, not turned into NaN features
    with pytest.raises(AudioError, match="NaN or infinite"):
        dsp.stft_magnitude(bad, n_fft=n_fft, hop_length=hop)


@pytest.mark.parametrize("band", [(0.0, None), (50.0, 4000.0), (1500.0, None)])
def test_mel_filterbank_equals_librosa(sr, band):
    n_fft, _, n_mels = frame_settings(sr)
    fmin, fmax = band
    ours = dsp.mel_filterbank(sr, n_fft, n_mels, fmin, fmax)
    ref = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    assert ours.dtype == ref.dtype == np.float32 and ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(dsp.mel_frequencies(n_mels, fmin, fmax or sr / 2),
                               librosa.mel_frequencies(n_mels, fmin=fmin, fmax=fmax or sr / 2), rtol=1e-12)


def test_power_to_db_equals_librosa(case):
    P = dsp.mel_filterbank(case["sr"], case["n_fft"], case["n_mels"]) @ case["S"] ** 2
    for kw in (dict(), dict(ref="max"), dict(ref="max", top_db=60.0), dict(top_db=None), dict(ref=2.5, amin=1e-6)):
        lkw = dict(kw, ref=np.max) if kw.get("ref") == "max" else kw
        ours, ref = dsp.power_to_db(P, **kw), librosa.power_to_db(P, **lkw)
        assert ours.dtype == ref.dtype and ours.shape == ref.shape
        np.testing.assert_allclose(ours, ref, rtol=0, atol=DB_TOL, err_msg=str(kw))


def test_mfcc_and_dct_equal_librosa(case):
    db = librosa.power_to_db(dsp.mel_filterbank(case["sr"], case["n_fft"], case["n_mels"]) @ case["S"] ** 2)
    for n_mfcc in (13, 20, case["n_mels"], case["n_mels"] + 5):  # more than n_mels: librosa gives n_mels rows
        ours, ref = dsp.mfcc(db, n_mfcc), librosa.feature.mfcc(S=db, n_mfcc=n_mfcc)
        assert ours.dtype == ref.dtype == np.float32 and ours.shape == ref.shape
        np.testing.assert_allclose(ours, ref, rtol=0, atol=MFCC_TOL)
    D = dsp.dct_matrix(case["n_mels"], case["n_mels"])
    np.testing.assert_allclose(D.T @ (D @ db.astype(np.float64)), db, atol=1e-9)  # the transpose inverts it


@pytest.mark.parametrize("width", [3, 5, 7, 9])
def test_delta_equals_librosa(case, width):
    M = librosa.feature.mfcc(S=librosa.power_to_db(
        dsp.mel_filterbank(case["sr"], case["n_fft"], case["n_mels"]) @ case["S"] ** 2))
    if M.shape[-1] < width:
        with pytest.raises(ValueError, match="cannot exceed"):
            dsp.delta(M, width=width)
        return
    ours, ref = dsp.delta(M, width=width), librosa.feature.delta(M, width=width)
    assert ours.dtype == ref.dtype == np.float32 and ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-4)


def test_delta_of_a_line_is_its_slope_everywhere():
    x = np.arange(12, dtype=np.float64)[None, :] * 2.5 + 1.0
    np.testing.assert_allclose(dsp.delta(x, width=9), np.full_like(x, 2.5))
    with pytest.raises(ValueError, match="odd"):
        dsp.delta(x, width=4)


def test_spectral_shape_equals_librosa(case):
    S, sr, n_fft = case["S"], case["sr"], case["n_fft"]
    freq = dsp.fft_frequencies(sr, n_fft)
    pairs = {
        "centroid": (dsp.spectral_centroid(S, freq), librosa.feature.spectral_centroid(S=S, sr=sr, n_fft=n_fft)),
        "bandwidth": (dsp.spectral_bandwidth(S, freq), librosa.feature.spectral_bandwidth(S=S, sr=sr, n_fft=n_fft)),
        "rolloff": (dsp.spectral_rolloff(S, freq), librosa.feature.spectral_rolloff(S=S, sr=sr, n_fft=n_fft)),
        "flatness": (dsp.spectral_flatness(S), librosa.feature.spectral_flatness(S=S)),
        "rms": (dsp.rms(S, n_fft), librosa.feature.rms(S=S, frame_length=n_fft)),
    }
    for name, (ours, ref) in pairs.items():
        assert ours.dtype == ref.dtype and ours.shape == ref.shape == (1, S.shape[1]), name
        np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-7, err_msg=name)
    norm = dsp.l1_normalize(S)  # normalised once, shared: the same values as each normalising alone
    c = dsp.spectral_centroid(S, freq, S_norm=norm)
    np.testing.assert_array_equal(c, pairs["centroid"][0])
    np.testing.assert_array_equal(dsp.spectral_bandwidth(S, freq, centroid=c, S_norm=norm), pairs["bandwidth"][0])


def test_zero_crossing_rate_equals_librosa(case):
    padded = np.pad(case["y"], case["n_fft"] // 2)
    ours = dsp.zero_crossing_rate(padded, frame_length=case["n_fft"], hop_length=case["hop"])
    ref = librosa.feature.zero_crossing_rate(padded, frame_length=case["n_fft"], hop_length=case["hop"], center=False)
    assert ours.shape == ref.shape == (1, case["S"].shape[1])
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=0)


def test_zero_crossings_below_the_threshold_count_as_positive():
    y = np.array([1.0, -1.0, 1e-12, -1e-12, -1.0, 0.0, -0.0, 2.0], dtype=np.float32)
    ours = dsp.zero_crossing_rate(y, frame_length=8, hop_length=8)
    ref = librosa.feature.zero_crossing_rate(y, frame_length=8, hop_length=8, center=False)
    np.testing.assert_array_equal(ours, ref)
    assert ours[0, 0] == 4 / 8  # 1→-1, -1→±1e-12 (as +0), ±0→-1, -1→0


# -- the feature functions end to end -----------------------------------------------------------

def _librosa_rows(y, sr, n_mfcc, stats):
    """The per-frame rows of mfcc-stats, one librosa call each (docs/features.md)."""
    n_fft, hop, n_mels = frame_settings(sr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        M = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=n_mfcc, n_fft=n_fft, hop_length=hop, n_mels=n_mels)
    if stats == "mfcc":
        return M
    T = M.shape[-1]
    width = min(9, T if T % 2 else T - 1)
    S = _lr_stft(y, n_fft, hop)
    return np.vstack([
        M, librosa.feature.delta(M, width=width) if width >= 3 else np.zeros_like(M),
        np.log1p(librosa.feature.spectral_centroid(S=S, sr=sr, n_fft=n_fft)),
        np.log1p(librosa.feature.spectral_bandwidth(S=S, sr=sr, n_fft=n_fft)),
        np.log1p(librosa.feature.spectral_rolloff(S=S, sr=sr, n_fft=n_fft)),
        librosa.feature.spectral_flatness(S=S),
        librosa.feature.spectral_contrast(S=S, sr=sr, n_fft=n_fft, fmin=min(200.0, sr / 80)),
        librosa.feature.zero_crossing_rate(np.pad(y, n_fft // 2), frame_length=n_fft, hop_length=hop, center=False),
        librosa.feature.rms(S=S, frame_length=n_fft)]).astype(np.float64)


def test_logmel_and_mfcc_equal_librosa(case):
    y, sr = case["y"], case["sr"]
    kw = dict(n_fft=case["n_fft"], hop_length=case["hop"], n_mels=case["n_mels"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref_mel = librosa.feature.melspectrogram(y=y, sr=sr, **kw)
        ref_mfcc = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20, **kw)
    np.testing.assert_allclose(features.melspectrogram(y, sr=sr), ref_mel, rtol=1e-5, atol=1e-6 * max(1, ref_mel.max()))
    for top_db in (80.0, 50.0, None):
        ours = features.logmel(y, sr=sr, top_db=top_db)
        assert ours.dtype == np.float32
        np.testing.assert_allclose(ours, librosa.power_to_db(ref_mel, ref=np.max, top_db=top_db), rtol=0, atol=DB_TOL)
    ours = features.mfcc(y, sr=sr, n_mfcc=20)
    assert ours.dtype == np.float32 and ours.shape == ref_mfcc.shape
    np.testing.assert_allclose(ours, ref_mfcc, rtol=0, atol=MFCC_TOL)


@pytest.mark.parametrize("stats", ["mfcc", "full"])
def test_mfcc_stats_equal_librosa(case, stats):
    F = _librosa_rows(case["y"], case["sr"], 20, stats)
    ref = np.concatenate([F.mean(axis=1), F.std(axis=1)])
    ours = features.mfcc_stats(case["y"], sr=case["sr"], stats=stats)
    assert ours.dtype == np.float32 and ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=MFCC_TOL)


def test_dsp_imports_neither_librosa_nor_scipy():
    code = ("import sys, numpy as np\nfrom audiokit.features import dsp, logmel, mfcc_stats\n"
            "y = np.sin(np.arange(22050) * 0.1).astype(np.float32)\n"
            "logmel(y); mfcc_stats(y, stats='full'); mfcc_stats(y, stats='mfcc')\n"
            "print(' '.join(m for m in ('librosa', 'scipy', 'numba') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == ""
