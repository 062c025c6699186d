"""audiokit.features: the configuration and the features, compared with direct librosa calls
on the same signal.

Tolerance: 1e-3 (dB for log-mel, coefficient units for MFCCs, whose values span hundreds).
Computed on the same samples, audiokit and librosa agree to float rounding (about 1e-5);
from a file, audiokit decodes only the cropped part plus a 50 ms margin, which moves values
by under 1e-4.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

import librosa

from audiokit import audio
from audiokit.errors import AudioError, UsageError
from audiokit.features import FeatureConfig, extract, extract_file, extract_windows, load_clip

TOL = 1e-3


@pytest.fixture(scope="module")
def noisy_chord():
    """Two seconds of a decaying chord with noise at 22050 Hz, float32."""
    sr = 22050
    t = np.arange(2 * sr) / sr
    rng = np.random.default_rng(3)
    y = sum(np.sin(2 * np.pi * f * t) / k for k, f in enumerate((220, 277, 330, 440), 1))
    y = y * np.exp(-t) + 0.03 * rng.standard_normal(t.size)
    return (0.5 * y / np.abs(y).max()).astype(np.float32)


def _librosa_features(kind, y, sr=22050, **kw):
    if kind == "logmel":
        top_db = kw.pop("top_db", 80.0)
        return librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr, **kw), ref=np.max, top_db=top_db)
    m = librosa.feature.mfcc(y=y, sr=sr, **kw)
    return m if kind == "mfcc" else np.concatenate([m.mean(axis=1), m.std(axis=1)])


@pytest.mark.parametrize("kind", ["logmel", "mfcc", "mfcc-stats"])
def test_features_equal_librosa_on_the_same_signal(noisy_chord, kind):
    cfg = FeatureConfig(kind=kind)
    ours = extract(cfg, noisy_chord)
    ref = _librosa_features(kind, noisy_chord)
    assert ours.dtype == np.float32 and ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, atol=TOL, rtol=0)


def test_non_default_settings_equal_librosa(noisy_chord):
    kw = dict(n_fft=1024, hop_length=256, n_mels=64, fmin=50.0, fmax=8000.0)
    ours = extract(FeatureConfig(kind="logmel", top_db=60.0, **kw), noisy_chord)
    np.testing.assert_allclose(ours, _librosa_features("logmel", noisy_chord, top_db=60.0, **kw), atol=TOL, rtol=0)
    assert ours.shape == (64, 1 + len(noisy_chord) // 256)
    assert ours.max() == 0 and ours.min() >= -60  # dB relative to the clip's peak, top_db below it
    ours = extract(FeatureConfig(kind="mfcc-stats", n_mfcc=13, **kw), noisy_chord)
    np.testing.assert_allclose(ours, _librosa_features("mfcc-stats", noisy_chord, n_mfcc=13, **kw), atol=TOL, rtol=0)
    assert ours.shape == (26,)


@pytest.mark.parametrize("crop", ["center", "start"])
@pytest.mark.parametrize("kind", ["logmel", "mfcc-stats"])
def test_extract_file_equals_librosa_pipeline(tmp_path, crop, kind):
    """A 3.3 s stereo 44.1 kHz file, 1 s items: audiokit decodes only the needed second; the reference
    loads the whole file with librosa.load, crops, peak-normalises, then calls librosa."""
    sr0 = 44100
    t = np.arange(int(3.3 * sr0)) / sr0
    rng = np.random.default_rng(0)
    x = 0.4 * np.stack([np.sin(2 * np.pi * 330 * t) * np.exp(-t) + 0.05 * rng.standard_normal(t.size),
                        0.5 * np.sin(2 * np.pi * 660 * t)], axis=1)
    p = tmp_path / "long.wav"
    sf.write(p, x, sr0, subtype="PCM_24")
    cfg = FeatureConfig(kind=kind, duration=1.0, crop=crop)
    y, _ = librosa.load(p, sr=22050)
    y = audio.fix_length(y, 22050, crop=crop)
    ref = _librosa_features(kind, y / np.abs(y).max())
    np.testing.assert_allclose(extract_file(cfg, str(p)), ref, atol=TOL, rtol=0)


def test_short_clips_are_padded_in_the_middle(tmp_path):
    sr = 22050
    p = tmp_path / "short.wav"
    sf.write(p, 0.25 * np.ones(sr // 2), sr, subtype="FLOAT")
    y = load_clip(FeatureConfig(duration=1.0), str(p))
    assert y.shape == (sr,)
    assert np.all(y[: sr // 4] == 0) and np.all(y[-sr // 4:] == 0) and np.all(y[sr // 4: 3 * sr // 4] == 1.0)
    y = load_clip(FeatureConfig(duration=1.0, pad_mode="edge", normalize=False), str(p))
    assert np.all(y == 0.25)


def test_silence_gives_finite_features(tmp_path):
    p = tmp_path / "silence.wav"
    sf.write(p, np.zeros(22050), 22050)
    for kind in ("logmel", "mfcc", "mfcc-stats"):
        assert np.isfinite(extract_file(FeatureConfig(kind=kind, duration=1.0), str(p))).all()


def test_too_short_file_names_the_file(tmp_path):
    p = tmp_path / "blip.wav"
    sf.write(p, np.ones(100) * 0.1, 22050)
    with pytest.raises(AudioError, match="too short") as ei:
        extract_file(FeatureConfig(kind="mfcc-stats"), str(p))
    assert ei.value.path == str(p)


def test_extract_windows_cover_a_long_file(tmp_path):
    sr = 22050
    p = tmp_path / "long.wav"
    sf.write(p, 0.1 * np.random.default_rng(1).standard_normal(int(4.9 * sr)), sr)
    cfg = FeatureConfig(kind="logmel", duration=1.0)
    w = extract_windows(cfg, str(p))
    assert w.shape == (9, 128, 44)  # starts 0, 0.5, …, 3.5 s and one for the 0.4 s tail, at 3.9 s
    assert extract_windows(cfg.replace(kind="mfcc-stats", duration=None), str(p)).shape == (1, 40)


# -- the configuration ---------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [dict(kind="spectrogram"), dict(sr=0), dict(fmax=20000.0), dict(fmin=5000.0, fmax=4000.0),
                                 dict(duration=0.0), dict(duration=float("nan")), dict(pad_mode="reflect"),
                                 dict(crop="end"), dict(f0_fmin=500.0, f0_fmax=100.0), dict(harmonics=0),
                                 dict(top_db=-10.0)])
def test_bad_settings_are_usage_errors(bad):
    with pytest.raises(UsageError):
        FeatureConfig(**bad)


def test_config_json_round_trip_and_differences():
    cfg = FeatureConfig(kind="mfcc", n_mfcc=13, duration=2.5, fmax=8000.0)
    back = FeatureConfig.from_json(cfg.to_json())
    assert back == cfg and back.n_samples == int(2.5 * 22050)
    assert cfg.differences(back) == []
    assert cfg.differences(cfg.replace(n_mels=64, duration=3.0)) == ["duration", "n_mels"]
    # a store written by a later version with a setting this one does not know still opens
    assert FeatureConfig.from_dict({**cfg.to_dict(), "future_setting": 1}) == cfg
    assert FeatureConfig().describe() == "logmel sr=22050 n_fft=2048 hop_length=512 n_mels=128"
