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
from audiokit import features
from audiokit.features import (FeatureConfig, extract, extract_file, frame_settings, load_clip, mfcc_stats,
                               stats_names)
from audiokit.features.windows import file_windows

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
    for k, v in zip(("n_fft", "hop_length", "n_mels"), frame_settings(sr)):  # audiokit's defaults, not librosa's
        kw.setdefault(k, v)
    if kind == "logmel":
        top_db = kw.pop("top_db", 80.0)
        return librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr, **kw), ref=np.max, top_db=top_db)
    m = librosa.feature.mfcc(y=y, sr=sr, **kw)
    return m if kind == "mfcc" else np.concatenate([m.mean(axis=1), m.std(axis=1)])


def _librosa_full_stats(y, sr=22050, n_mfcc=20, **kw):
    """The "full" mfcc-stats vector from the definition in docs/features.md, one librosa call per row."""
    n_fft, hop, n_mels = frame_settings(sr, kw.get("n_fft"), kw.get("hop_length"), kw.get("n_mels"))
    m = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=n_mfcc, n_fft=n_fft, hop_length=hop, n_mels=n_mels,
                             fmin=kw.get("fmin", 0.0), fmax=kw.get("fmax"))
    S = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop))
    rows = [m, librosa.feature.delta(m),
            np.log1p(librosa.feature.spectral_centroid(S=S, sr=sr, n_fft=n_fft)),
            np.log1p(librosa.feature.spectral_bandwidth(S=S, sr=sr, n_fft=n_fft)),
            np.log1p(librosa.feature.spectral_rolloff(S=S, sr=sr, n_fft=n_fft)),
            librosa.feature.spectral_flatness(S=S),
            librosa.feature.spectral_contrast(S=S, sr=sr, n_fft=n_fft, fmin=min(200.0, sr / 80)),
            librosa.feature.zero_crossing_rate(np.pad(y, n_fft // 2), frame_length=n_fft, hop_length=hop,
                                               center=False),
            librosa.feature.rms(S=S, frame_length=n_fft)]
    F = np.vstack(rows).astype(np.float64)
    return np.concatenate([F.mean(axis=1), F.std(axis=1)])


@pytest.mark.parametrize("kind", ["logmel", "mfcc", "mfcc-stats"])
def test_features_equal_librosa_on_the_same_signal(noisy_chord, kind):
    cfg = FeatureConfig(kind=kind, stats="mfcc" if kind == "mfcc-stats" else None)
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
    ours = extract(FeatureConfig(kind="mfcc-stats", n_mfcc=13, stats="mfcc", **kw), noisy_chord)
    np.testing.assert_allclose(ours, _librosa_features("mfcc-stats", noisy_chord, n_mfcc=13, **kw), atol=TOL, rtol=0)
    assert ours.shape == (26,)
    ours = extract(FeatureConfig(kind="mfcc-stats", n_mfcc=13, **kw), noisy_chord)
    np.testing.assert_allclose(ours, _librosa_full_stats(noisy_chord, n_mfcc=13, **kw), atol=TOL, rtol=1e-5)
    assert ours.shape == (4 * 13 + 26,)


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
    cfg = FeatureConfig(kind=kind, duration=1.0, crop=crop, stats="mfcc" if kind == "mfcc-stats" else None)
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


def test_file_windows_cover_a_long_file(tmp_path):
    sr = 22050
    p = tmp_path / "long.wav"
    sf.write(p, 0.1 * np.random.default_rng(1).standard_normal(int(4.9 * sr)), sr)
    cfg = FeatureConfig(kind="logmel", duration=1.0)
    w = file_windows(cfg, str(p))
    assert w.shape == (9, 64, 1 + sr // 220)  # starts 0, 0.5, …, 3.5 s and one for the 0.4 s tail, at 3.9 s
    assert file_windows(cfg.replace(kind="mfcc-stats", duration=None), str(p)).shape == (1, 106)
    assert file_windows(FeatureConfig(kind="mfcc-stats", stats="mfcc"), str(p)).shape == (1, 40)


# -- the configuration ---------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [dict(kind="spectrogram"), dict(sr=0), dict(fmax=20000.0), dict(fmin=5000.0, fmax=4000.0),
                                 dict(duration=0.0), dict(duration=float("nan")), dict(pad_mode="reflect"),
                                 dict(crop="end"), dict(f0_fmin=500.0, f0_fmax=100.0), dict(harmonics=0),
                                 dict(top_db=-10.0), dict(n_fft=0), dict(hop_length=-1), dict(stats="mean"),
                                 dict(kind="logmel", stats="median"),
                                 dict(kind="mfcc-stats", sr=48000, n_fft=64)])  # a contrast band without a bin
def test_bad_settings_are_usage_errors(bad):
    with pytest.raises(UsageError):
        FeatureConfig(**bad)


def test_config_json_round_trip_and_differences():
    cfg = FeatureConfig(kind="mfcc", n_mfcc=13, duration=2.5, fmax=8000.0)
    back = FeatureConfig.from_json(cfg.to_json())
    assert back == cfg and back.n_samples == int(2.5 * 22050)
    assert cfg.differences(back) == []
    assert cfg.differences(cfg.replace(n_mels=40, duration=3.0)) == ["duration", "n_mels"]
    # a store written by a later version with a setting this one does not know still opens
    assert FeatureConfig.from_dict({**cfg.to_dict(), "future_setting": 1}) == cfg
    assert FeatureConfig().describe() == "logmel sr=22050 n_fft=1024 hop_length=220 (46.4/9.98 ms) n_mels=64"
    assert FeatureConfig(kind="mfcc-stats", sr=16000).describe() == \
        "mfcc-stats sr=16000 n_fft=512 hop_length=160 (32/10 ms) n_mels=64 n_mfcc=20 stats=full"


# -- frames from the sample rate; old configurations keep their meaning -------------------------------

@pytest.mark.parametrize("sr, n_fft, hop", [(8000, 256, 80), (11025, 512, 110), (16000, 512, 160),
                                            (22050, 1024, 220), (44100, 2048, 441), (48000, 2048, 480)])
def test_frames_follow_the_sample_rate(sr, n_fft, hop):
    for kind in ("logmel", "mfcc", "mfcc-stats"):
        cfg = FeatureConfig(kind=kind, sr=sr)
        assert (cfg.n_fft, cfg.hop_length, cfg.n_mels) == (n_fft, hop, 64)
        assert FeatureConfig.from_json(cfg.to_json()) == cfg  # the store holds the resolved values
    assert frame_settings(sr) == (n_fft, hop, 64)
    assert features.n_fft_for(sr) >= 0.025 * sr > features.n_fft_for(sr) / 2
    # given values are kept; the library functions resolve the same way
    assert FeatureConfig(sr=sr, n_fft=300, hop_length=7, n_mels=20).n_fft == 300
    y = np.random.default_rng(0).standard_normal(sr // 2).astype(np.float32)
    assert features.logmel(y, sr=sr).shape == (64, 1 + (sr // 2) // hop)
    np.testing.assert_array_equal(features.mfcc(y, sr=sr),
                                  features.mfcc(y, sr=sr, n_fft=n_fft, hop_length=hop, n_mels=64))


def test_win_and_hop_in_milliseconds():
    assert [features.n_fft_for(16000, ms) for ms in (16, 25, 32, 32.1, 64)] == [256, 512, 512, 1024, 1024]
    assert [features.hop_for(16000, ms) for ms in (10, 12.5, 0.01)] == [160, 200, 0]
    assert features.hop_for(22050) == 220  # 220.5 rounds half to even
    with pytest.raises(UsageError, match="win_ms"):
        features.n_fft_for(16000, 0)
    with pytest.raises(UsageError, match="hop_ms"):
        features.hop_for(16000, float("nan"))


def test_no_empty_mel_filters_at_the_default_frames():
    import warnings

    for sr in (8000, 11025, 16000, 22050, 44100, 48000):
        cfg = FeatureConfig(sr=sr)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # librosa warns "Empty filters detected in mel frequency basis"
            basis = librosa.filters.mel(sr=sr, n_fft=cfg.n_fft, n_mels=cfg.n_mels)
        assert (basis.max(axis=1) > 0).all()


def test_old_configurations_keep_their_meaning():
    """A store or model written before the frames followed the sample rate (and before "stats") holds
    explicit n_fft/hop_length/n_mels and no "stats": it means librosa's frames and the 2·n_mfcc vector."""
    old = {"kind": "mfcc-stats", "sr": 16000, "n_fft": 2048, "hop_length": 512, "n_mels": 128, "fmin": 0.0,
           "fmax": None, "n_mfcc": 20, "duration": None, "pad_mode": "constant", "crop": "center",
           "normalize": True, "top_db": 80.0, "f0_method": "hps", "f0_fmin": 50.0, "f0_fmax": 2000.0,
           "harmonics": 5, "extra": {}}
    cfg = FeatureConfig.from_dict(old)
    assert (cfg.n_fft, cfg.hop_length, cfg.n_mels, cfg.stats) == (2048, 512, 128, "mfcc")
    assert cfg.feature_names == stats_names(20, "mfcc") and len(cfg.feature_names) == 40
    assert cfg.differences(FeatureConfig(kind="mfcc-stats", sr=16000, n_fft=2048, hop_length=512, n_mels=128,
                                         stats="mfcc")) == []
    assert set(cfg.differences(FeatureConfig(kind="mfcc-stats", sr=16000))) == {"n_fft", "hop_length", "n_mels",
                                                                               "stats"}
    # a dict that lacks the frame settings altogether (or holds nulls) means librosa's defaults too
    bare = FeatureConfig.from_dict({"kind": "logmel", "n_fft": None})
    assert (bare.n_fft, bare.hop_length, bare.n_mels, bare.stats) == (2048, 512, 128, None)
    # other kinds: stats does not apply, so old logmel/f0-range configurations compare equal to new ones
    for kind in ("logmel", "mfcc", "f0-range"):
        d = {k: v for k, v in FeatureConfig(kind=kind, n_fft=2048, hop_length=512, n_mels=128).to_dict().items()
             if k != "stats"}
        assert FeatureConfig.from_dict(d) == FeatureConfig(kind=kind, n_fft=2048, hop_length=512, n_mels=128)
    # f0-range records librosa's values as before, whatever the sample rate
    f0 = FeatureConfig(kind="f0-range", sr=8000)
    assert (f0.n_fft, f0.hop_length, f0.n_mels, f0.stats, f0.feature_names) == (2048, 512, 128, None,
                                                                                ["f0_low", "f0_high"])


# -- the statistics vectors -----------------------------------------------------------------------------

def test_full_stats_layout_and_names(noisy_chord):
    names = stats_names(20, "full")
    assert len(names) == len(set(names)) == 106
    rows = ([f"mfcc{i}" for i in range(20)] + [f"delta_mfcc{i}" for i in range(20)]
            + ["log_centroid", "log_bandwidth", "log_rolloff", "flatness"] + [f"contrast{k}" for k in range(7)]
            + ["zcr", "rms"])
    assert names == [f"mean_{r}" for r in rows] + [f"std_{r}" for r in rows]
    assert FeatureConfig(kind="mfcc-stats").stats == features.DEFAULT_STATS == "full"
    assert FeatureConfig(kind="mfcc-stats").feature_names == names
    assert FeatureConfig(kind="logmel").stats is None and FeatureConfig(kind="logmel", stats="full").stats is None
    v = mfcc_stats(noisy_chord, sr=22050)
    assert v.shape == (106,) and v.dtype == np.float32 and np.isfinite(v).all()
    old = mfcc_stats(noisy_chord, sr=22050, stats="mfcc")
    np.testing.assert_allclose(v[:20], old[:20], rtol=1e-5)  # the MFCC means lead both layouts
    by = dict(zip(names, v))
    assert 5 < by["mean_log_centroid"] < np.log1p(11025) and 0 < by["mean_flatness"] < 1
    assert 0 < by["mean_zcr"] < 1 and 0 < by["mean_rms"] < 1 and all(by[f"std_{r}"] >= 0 for r in rows)
    assert abs(by["mean_delta_mfcc0"]) < by["std_delta_mfcc0"]


@pytest.mark.filterwarnings("ignore:n_fft=256 is too large")
@pytest.mark.parametrize("n", [100, 300, 700, 1000])
def test_full_stats_of_clips_shorter_than_the_delta_width(n):
    """Fewer than 9 frames: the deltas use the largest odd width there is (3 for 3-4 frames, 0 under 3)."""
    y = (0.1 * np.random.default_rng(n).standard_normal(n)).astype(np.float32)
    v = mfcc_stats(y, sr=8000)
    assert v.shape == (106,) and np.isfinite(v).all()
    frames = 1 + n // 80
    M = features.mfcc(y, sr=8000)
    width = min(9, frames if frames % 2 else frames - 1)
    ref = librosa.feature.delta(M, width=width) if width >= 3 else np.zeros_like(M)
    np.testing.assert_allclose(v[20:40], ref.mean(axis=1), atol=1e-4)


def test_silence_and_a_pure_tone_give_finite_full_stats():
    sr = 16000
    for y in (np.zeros(sr, np.float32), np.sin(2 * np.pi * 440 * np.arange(sr) / sr).astype(np.float32)):
        v = extract(FeatureConfig(kind="mfcc-stats", sr=sr), y)
        assert v.shape == (106,) and np.isfinite(v).all()


def _long_file(path, sr, seconds, seed=0):
    """Speech-like bursts with pauses and a gliding pitch, plus noise and a digital-silence gap."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    y = 0.3 * np.sin(2 * np.pi * (180 + 60 * np.sin(0.7 * t)) * t) * ((t % 1.3) < 0.8) + 0.02 * rng.standard_normal(t.size)
    y[int(0.3 * len(y)):int(0.35 * len(y))] = 0
    sf.write(path, y.astype(np.float32), sr, subtype="FLOAT")
    return str(path)


@pytest.mark.parametrize("stats", ["full", "mfcc"])
@pytest.mark.parametrize("sr, block", [(8000, 512), (22050, 3), (16000, 7), (16000, 1)])
def test_streamed_stats_equal_the_whole_file(tmp_path, monkeypatch, sr, block, stats):
    """A file longer than STREAM_SECONDS is computed block by block (deltas across block boundaries,
    dB floors relative to the whole file): the same vector as in memory. Blocks of 1, 3 and 7 frames
    (fewer than the delta width) make every frame a boundary case."""
    p = _long_file(tmp_path / "long.wav", 44100 if sr == 22050 else sr, 9.0)
    cfg = FeatureConfig(kind="mfcc-stats", sr=sr, stats=stats)
    whole = extract_file(cfg, p)
    monkeypatch.setattr(features, "STREAM_SECONDS", 5.0)
    monkeypatch.setattr(features, "STREAM_FRAMES", block)
    calls = []
    real = features._mfcc_stats_stream
    monkeypatch.setattr(features, "_mfcc_stats_stream", lambda *a: calls.append(1) or real(*a))
    streamed = extract_file(cfg, p)
    assert calls and streamed.shape == whole.shape == ((106,) if stats == "full" else (40,))
    np.testing.assert_allclose(streamed, whole, rtol=1e-3, atol=1e-4)
