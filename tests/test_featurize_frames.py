"""``featurize``: frames that follow the sample rate (--n-fft/--hop-length/--n-mels, --win-ms/--hop-ms)
and the mfcc-stats vector (--stats), end to end through the CLI on real files, read back from the
store and from ``info --json``."""

from __future__ import annotations

import json

import h5py
import librosa
import numpy as np
import pytest
import soundfile as sf

from audiokit.features import FeatureConfig, extract_file, stats_names
from audiokit.store import open_store

#: sr → (n_fft, hop_length): a window of at least 25 ms rounded up to a power of two, a 10 ms hop
TABLE = {8000: (256, 80), 16000: (512, 160), 22050: (1024, 220), 44100: (2048, 441), 48000: (2048, 480)}


@pytest.fixture
def clips(tmp_path):
    """Two classes × two 0.5 s noisy tones at 16 kHz."""
    rng = np.random.default_rng(0)
    root = tmp_path / "data"
    for c, f0 in (("low", 200.0), ("high", 900.0)):
        (root / c).mkdir(parents=True)
        for i in range(2):
            t = np.arange(8000) / 16000
            y = 0.3 * np.sin(2 * np.pi * f0 * (1 + i / 20) * t) + 0.01 * rng.standard_normal(t.size)
            sf.write(root / c / f"{c}{i}.wav", y, 16000, subtype="PCM_16")
    return root


def _info(cli, path) -> dict:
    return json.loads(cli("info", path, "--json").stdout)


@pytest.mark.parametrize("sr", [8000, 16000, 22050, 48000])
def test_default_frames_follow_sr_and_are_recorded(cli, clips, tmp_path, sr):
    out = tmp_path / "s.h5"
    r = cli("featurize", clips, "-o", out, "--sr", sr, "--duration", "0.5", "-j", "1")
    n_fft, hop = TABLE[sr]
    assert f"n_fft={n_fft} hop_length={hop}" in r.stderr and "n_mels=64" in r.stderr
    feats = _info(cli, out)["features"]
    assert (feats["sr"], feats["n_fft"], feats["hop_length"], feats["n_mels"]) == (sr, n_fft, hop, 64)
    with open_store(str(out)) as s:
        assert (s.config.n_fft, s.config.hop_length, s.config.n_mels) == (n_fft, hop, 64)
        assert s.item_shape == (64, 1 + int(0.5 * sr) // hop)
    with h5py.File(out) as f:  # the integers themselves, not "auto", are in the file
        raw = json.loads(f.attrs["feature_config"])
        assert (raw["n_fft"], raw["hop_length"], raw["n_mels"]) == (n_fft, hop, 64)


def test_given_values_and_milliseconds(cli, clips, tmp_path):
    cli("featurize", clips, "-o", tmp_path / "a.h5", "--sr", "16000", "--n-fft", "400", "--hop-length", "100",
        "--n-mels", "40", "-q")
    assert [_info(cli, tmp_path / "a.h5")["features"][k] for k in ("n_fft", "hop_length", "n_mels")] == [400, 100, 40]
    # --win-ms: the smallest power of two >= that many ms; --hop-ms rounded to samples
    cli("featurize", clips, "-o", tmp_path / "b.h5", "--sr", "16000", "--win-ms", "40", "--hop-ms", "12.5", "-q")
    with open_store(str(tmp_path / "b.h5")) as s:
        assert (s.config.n_fft, s.config.hop_length, s.config.n_mels) == (1024, 200, 64)
        assert s.item_shape == (64, 1 + 8000 // 200)
    cli("featurize", clips, "-f", "mfcc", "-o", tmp_path / "c.h5", "--sr", "8000", "--win-ms", "32", "-q")
    assert _info(cli, tmp_path / "c.h5")["features"]["n_fft"] == 256


@pytest.mark.parametrize("flags, words", [
    (["--n-fft", "512", "--win-ms", "25"], "--n-fft or --win-ms"),
    (["--hop-length", "160", "--hop-ms", "10"], "--hop-length or --hop-ms"),
    (["--win-ms", "0"], "--win-ms"),
    (["--hop-ms", "-5"], "--hop-ms"),
    (["--hop-ms", "0.01"], "--hop-ms"),
    (["--stats", "median"], "--stats"),
])
def test_conflicting_or_bad_frame_flags_exit_2(cli, clips, tmp_path, flags, words):
    r = cli("featurize", clips, "-o", tmp_path / "x.h5", *flags, expect=2)
    assert words in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.h5").exists()


def test_stats_full_by_default_and_mfcc_gives_the_old_vector(cli, clips, tmp_path):
    cli("featurize", clips, "-f", "mfcc-stats", "-o", tmp_path / "full.h5", "-q")
    cli("featurize", clips, "-f", "mfcc-stats", "--stats", "mfcc", "-o", tmp_path / "old.h5", "-q")
    info = _info(cli, tmp_path / "full.h5")
    assert info["feature_shape"] == [106] and info["features"]["stats"] == "full"
    with open_store(str(tmp_path / "full.h5")) as s:
        full = s.X
        assert s.config.feature_names == stats_names(20, "full")
        np.testing.assert_allclose(full[1], extract_file(s.config, s.paths[1]), rtol=1e-5, atol=1e-5)
    with open_store(str(tmp_path / "old.h5")) as s:
        assert s.item_shape == (40,) and s.config.stats == "mfcc"
        # the old vector: mean then std of the 20 MFCCs, at the store's frames
        m = extract_file(s.config.replace(kind="mfcc"), s.paths[0])
        np.testing.assert_allclose(s.X[0], np.concatenate([m.mean(axis=1), m.std(axis=1)]), rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(full[:, :20], s.X[:, :20], rtol=1e-5, atol=1e-4)  # same MFCC means
    # stats belongs to mfcc-stats only: other kinds record null
    cli("featurize", clips, "-f", "mfcc", "--stats", "mfcc", "-o", tmp_path / "m.h5", "-q")
    assert _info(cli, tmp_path / "m.h5")["features"]["stats"] is None


def test_append_to_an_old_style_store_keeps_its_settings(cli, clips, tmp_path):
    """A store written before the frames followed sr (explicit 2048/512/128, no "stats"): --append with
    the same command line takes the store's settings for everything left automatic."""
    out = tmp_path / "old.h5"
    cli("featurize", clips / "low", "-f", "mfcc-stats", "--n-fft", "2048", "--hop-length", "512", "--n-mels", "128",
        "--stats", "mfcc", "-o", out, "-q")
    with h5py.File(out, "r+") as f:  # make it look like one written by the version before
        d = json.loads(f.attrs["feature_config"])
        del d["stats"]
        f.attrs["feature_config"] = json.dumps(d)
    with open_store(str(out)) as s:
        assert (s.config.n_fft, s.config.hop_length, s.config.n_mels, s.config.stats) == (2048, 512, 128, "mfcc")
    cli("featurize", clips / "high", "-f", "mfcc-stats", "-o", out, "--append", "-q")
    with open_store(str(out)) as s:
        assert len(s) == 4 and s.item_shape == (40,) and s.config.stats == "mfcc" and s.config.n_fft == 2048
    # a setting given explicitly is still compared, and refused when it differs
    r = cli("featurize", clips / "high", "-f", "mfcc-stats", "-o", out, "--append", "--stats", "full", expect=1)
    assert "differs in stats (store 'mfcc', new 'full')" in r.stderr


def test_a_stored_config_without_the_new_fields_reads_as_before(tmp_path):
    """What FeatureConfig.from_dict makes of a model's or store's old configuration: explicit ints stay,
    the missing "stats" means the 40-vector, and the features computed from it are the old ones."""
    old = {"kind": "mfcc-stats", "sr": 22050, "n_fft": 2048, "hop_length": 512, "n_mels": 128, "n_mfcc": 20}
    cfg = FeatureConfig.from_dict(old)
    p = tmp_path / "t.wav"
    t = np.arange(22050) / 22050
    sf.write(p, 0.4 * np.sin(2 * np.pi * 330 * t), 22050)
    y, _ = librosa.load(p, sr=22050)
    m = librosa.feature.mfcc(y=y / np.abs(y).max(), sr=22050)  # librosa's defaults: 2048/512/128, 20 MFCCs
    np.testing.assert_allclose(extract_file(cfg, str(p)), np.concatenate([m.mean(axis=1), m.std(axis=1)]),
                               atol=1e-3, rtol=0)
