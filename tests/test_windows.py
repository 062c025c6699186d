"""Items of another duration than the model's (eval, predict on stores and long files) and
`featurize --like`: one windowing rule for stores and audio files (audiokit.features.windows)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from audiokit.features import FeatureConfig, extract_file
from audiokit.features import windows as W

SR = 16000
#: Explicit frame settings, so these tests do not depend on featurize's defaults.
FRAMES = ["--sr", str(SR), "--n-fft", "512", "--hop-length", "160", "--n-mels", "32"]


def _cfg(kind="logmel", **kw) -> FeatureConfig:
    return FeatureConfig(kind=kind, sr=SR, n_fft=512, hop_length=160, n_mels=32, **kw)


def _note(path, f0, seconds, *, seed=0, amp=0.5):
    """A decaying harmonic note with a little noise, written with soundfile at 16 kHz."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * SR))) / SR
    y = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 5)) * np.exp(-t / (0.6 * seconds + 0.3))
    y = amp * y / np.max(np.abs(y)) + 0.003 * rng.standard_normal(len(t))
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), y.astype(np.float32), SR, subtype="FLOAT")
    return path


@pytest.fixture(scope="module")
def audio(tmp_path_factory):
    """Two classes (low and high notes), 6 files each, every file exactly 2.0 s."""
    d = tmp_path_factory.mktemp("win") / "notes"
    for i in range(6):
        _note(d / "low" / f"n{i}.wav", 180 + 15 * i, 2.0, seed=i)
        _note(d / "high" / f"n{i}.wav", 900 + 60 * i, 2.0, seed=10 + i)
    return d


@pytest.fixture(scope="module")
def trained(audio, tmp_path_factory):
    """A store of 0.5 s mfcc items and a logistic regression on it; stores of the same files at
    2.0 s (whole files: windowed), 0.3 s (padded) and at another sample rate."""
    from helpers import Cli

    cli = Cli()
    d = tmp_path_factory.mktemp("trained")
    out = {}
    sr8k = ["--sr", "8000", "--n-fft", "256", "--hop-length", "80", "--n-mels", "32"]
    for name, dur, flags in (("train", "0.5", FRAMES), ("whole", "2.0", FRAMES), ("short", "0.3", FRAMES),
                             ("sr8k", "2.0", sr8k)):
        out[name] = d / f"{name}.h5"
        cli("featurize", audio, "-f", "mfcc", *flags, "--duration", dur, "-o", out[name], "-q", "-j", "1")
    out["model"] = d / "logreg.h5"
    cli("train", out["train"], "-o", out["model"], "--model", "logreg", "--val-split", "0", "-q")
    return out


# -- the rule ------------------------------------------------------------------------------------

def test_window_starts_rule():
    assert W.window_starts(51, 51).tolist() == [0]
    assert W.window_starts(30, 51).tolist() == [0]
    # 50 % overlap; the tail gets a window when more than a quarter of one is left
    assert W.window_starts(201, 51).tolist() == [0, 25, 50, 75, 100, 125, 150]  # ends exactly at 201
    assert W.window_starts(71, 40).tolist() == [0, 20, 31]  # 11 frames left > 40 / 4: one ending at the end
    assert W.window_starts(70, 40).tolist() == [0, 20]  # 10 frames left: not more than a quarter
    many = W.window_starts(100_000, 50)
    assert len(many) == W.MAX_WINDOWS == 64 and many[0] == 0 and many[-1] + 50 <= 100_000
    assert np.all(np.diff(many) > 0)
    assert W.frames_for(_cfg(duration=0.5)) == 1 + 8000 // 160


def test_padding_in_the_feature_domain_is_featurize_padding(tmp_path):
    """A short item padded in the feature domain equals the item featurize pads in the sample domain,
    but for the two frames that straddle the end of the audio (log-mel: exactly; the edge mode repeats
    the edge frames; MFCC: with a silent frame in the item, exactly)."""
    p = _note(tmp_path / "short.wav", 440, 0.3)
    model, short = _cfg(duration=0.5), _cfg(duration=0.3)
    win = W.frames_for(model)
    item = extract_file(short, str(p))  # 31 frames
    padded = W.item_windows(item, short, win)
    assert padded.shape == (1, 32, win)
    ref = extract_file(model, str(p))  # padded with 1600 zero samples each side = 10 frames
    keep = np.r_[0:9, 10:41, 42:win]
    assert np.allclose(padded[0][:, keep], ref[:, keep], atol=1e-3)
    assert np.array_equal(padded[0][:, 10:41], item)
    # start crop: padding after the clip
    s_cfg = short.replace(crop="start")
    padded = W.item_windows(extract_file(s_cfg, str(p)), s_cfg, win)[0]
    ref = extract_file(model.replace(crop="start"), str(p))
    keep = np.r_[0:30, 32:win]
    assert np.allclose(padded[:, keep], ref[:, keep], atol=1e-3)
    # edge mode repeats the edge frames
    e_cfg = short.replace(pad_mode="edge")
    padded = W.item_windows(item, e_cfg, win)[0]
    assert np.array_equal(padded[:, :10], np.repeat(item[:, :1], 10, axis=1))
    assert np.array_equal(padded[:, 41:], np.repeat(item[:, -1:], 10, axis=1))
    # mfcc: an item featurize already padded has silent frames, whose value is used exactly
    m_short, m_model = _cfg("mfcc", duration=0.4), _cfg("mfcc", duration=0.5)
    item = extract_file(m_short, str(p))  # 0.3 s of audio in 0.4 s: silent frames at both ends
    padded = W.item_windows(item, m_short, win)[0]
    ref = extract_file(m_model, str(p))
    assert np.allclose(padded[:, :3], ref[:, :3], atol=1e-3) and np.allclose(padded[:, -3:], ref[:, -3:], atol=1e-3)


@pytest.mark.parametrize("kind", ["logmel", "mfcc"])
def test_streamed_long_file_equals_in_memory(tmp_path, monkeypatch, kind):
    """Files longer than IN_MEMORY_SECONDS are streamed (bounded memory): same windows to float rounding,
    also when resampled."""
    y = np.concatenate([sf.read(str(_note(tmp_path / f"{i}.wav", 200 * (i + 1), 1.3, seed=i)))[0]
                        for i in range(4)])
    sf.write(str(tmp_path / "long.wav"), y, SR)
    sf.write(str(tmp_path / "long8k.wav"), y[::2], SR // 2)
    cfg = _cfg(kind, duration=0.5)
    for name in ("long.wav", "long8k.wav"):
        whole = W.file_windows(cfg, str(tmp_path / name))
        monkeypatch.setattr(W, "IN_MEMORY_SECONDS", 1.0)
        streamed = W.file_windows(cfg, str(tmp_path / name))
        monkeypatch.undo()
        assert whole.shape == streamed.shape == (W.n_windows(1 + len(y) // 160, 51), 32 if kind == "logmel" else 20,
                                                  51)
        assert np.allclose(whole, streamed, atol=1e-3, rtol=0)  # dB or MFCC units; float rounding


def test_file_windows_cap_and_short_files(tmp_path):
    cfg = _cfg(duration=0.1)
    p = tmp_path / "long.wav"
    sf.write(str(p), 0.1 * np.random.default_rng(1).standard_normal(20 * SR).astype(np.float32), SR)
    assert W.file_windows(cfg, str(p)).shape == (64, 32, 11)
    q = _note(tmp_path / "short.wav", 300, 0.08)
    assert np.array_equal(W.file_windows(cfg, str(q))[0], extract_file(cfg, str(q)))  # featurize's item


# -- eval / predict on stores of another duration -------------------------------------------------

def test_eval_windows_longer_items_and_reports_it(cli, trained):
    res = cli("eval", trained["model"], trained["whole"], "--json")
    rep = json.loads(res.stdout)
    w = rep["windowing"]
    assert w == {"mode": "windows", "items": 12, "store_duration": 2.0, "model_duration": 0.5, "store_frames": 201,
                 "model_frames": 51, "windows_per_item": 7,
                 "summary": "items of 2 s scored over windows of the model's 0.5 s (7 windows each)"}
    assert rep["items"] == 12 and rep["accuracy"] >= 0.9
    assert "12 items of 2 s scored over windows of the model's 0.5 s (7 windows each)" in res.stderr
    table = cli("eval", trained["model"], trained["whole"]).stdout
    assert "windowed" in table and "7 windows each" in table
    same = json.loads(cli("eval", trained["model"], trained["train"], "--json").stdout)
    assert same["windowing"] is None


def test_eval_pads_shorter_items_and_reports_it(cli, trained):
    res = cli("eval", trained["model"], trained["short"], "--json")
    rep = json.loads(res.stdout)
    assert rep["windowing"]["mode"] == "pad" and rep["windowing"]["items"] == 12
    assert rep["windowing"]["summary"] == "items of 0.3 s padded to the model's 0.5 s"
    assert rep["items"] == 12 and "padded to the model's 0.5 s" in res.stderr
    assert "padded" in cli("eval", trained["model"], trained["short"]).stdout


def test_other_settings_are_still_refused(cli, trained):
    res = cli("eval", trained["model"], trained["sr8k"], expect=1)
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr
    line = res.stderr.strip()
    assert line.startswith(f"audiokit: error: {trained['sr8k']}: store does not match the model's features")
    assert "sr (model 16000, store 8000)" in line and "duration" not in line
    res = cli("predict", trained["model"], trained["sr8k"], expect=1)
    assert res.stderr.count("\n") == 1 and "sr (model 16000, store 8000)" in res.stderr


def _jsonl_proba(text: str, classes: list[str]) -> tuple[list[str], np.ndarray, list[int]]:
    rows = [json.loads(x) for x in text.splitlines()]
    return [r["path"] for r in rows], np.array([[{t["label"]: t["confidence"] for t in r["top_k"]}[c]
                                                 for c in classes] for r in rows]), [r["windows"] for r in rows]


def test_eval_on_whole_files_equals_predict_on_the_files(cli, trained, audio):
    """The store of whole files (2.0 s items of 2.0 s files), windowed as eval does, gives the probabilities
    predict gives on the files themselves."""
    from audiokit import models
    from audiokit.predict import predict_files, store_proba
    from audiokit.store import open_store

    clf = models.load(str(trained["model"]))
    with open_store(str(trained["whole"])) as s:
        from_store = store_proba(clf, s, batch_size=5)  # what eval scores (batches cut across items)
        paths, truth = s.paths, [s.class_names[c] for c in s.labels]
    rows = list(predict_files(clf, paths, workers=1, batch_size=8))
    assert [r.path for r in rows] == paths and all(r.windows == 7 for r in rows)
    assert np.allclose(np.stack([r.proba for r in rows]), from_store, atol=1e-5, rtol=0)
    # through the CLI: predict on the files and on the store, eval's accuracy
    k = ["--format", "jsonl", "--top-k", "2"]
    p_files, pr_files, w_files = _jsonl_proba(cli("predict", trained["model"], *paths, *k, "-j", "1").stdout,
                                              clf.class_names)
    p_store, pr_store, w_store = _jsonl_proba(cli("predict", trained["model"], trained["whole"], *k).stdout,
                                              clf.class_names)
    assert p_files == p_store == paths and w_files == w_store == [7] * 12
    assert np.allclose(pr_files, pr_store, atol=1e-5, rtol=0)
    rep = json.loads(cli("eval", trained["model"], trained["whole"], "--json").stdout)
    labels = [clf.class_names[i] for i in pr_files.argmax(axis=1)]
    assert rep["accuracy"] == np.mean([a == b for a, b in zip(labels, truth)])


@pytest.mark.slow
def test_deep_model_eval_equals_predict(cli, audio, tmp_path):
    """The same equality for a small Spec-ResNet on log-mels (one CPU epoch: the weights need not be good)."""
    pytest.importorskip("torch")
    from audiokit import models
    from audiokit.predict import predict_files, store_proba
    from audiokit.store import open_store

    train, whole, model = tmp_path / "t.h5", tmp_path / "w.h5", tmp_path / "spec.h5"
    cli("featurize", audio, "-f", "logmel", *FRAMES, "--duration", "0.5", "-o", train, "-q", "-j", "1")
    cli("featurize", audio, "-f", "logmel", *FRAMES, "--duration", "2.0", "-o", whole, "-q", "-j", "1")
    cli("train", train, "-o", model, "--model", "specresnet", "--epochs", "1", "--batch-size", "4",
        "--val-split", "0", "--device", "cpu", "--seed", "1", "-q")
    clf = models.load(str(model), device="cpu")
    with open_store(str(whole)) as s:
        from_store = store_proba(clf, s, batch_size=16)
        paths = s.paths
    from_files = np.stack([r.proba for r in predict_files(clf, paths, workers=1, batch_size=64)])
    assert np.allclose(from_files, from_store, atol=1e-5, rtol=0)
    rep = json.loads(cli("eval", model, whole, "--json", "--device", "cpu").stdout)
    assert rep["windowing"]["windows_per_item"] == 7 and rep["items"] == 12


def test_predict_on_a_store_of_another_duration(cli, trained):
    res = cli("predict", trained["model"], trained["short"], "--format", "jsonl")
    rows = [json.loads(x) for x in res.stdout.splitlines()]
    assert len(rows) == 12 and all(r["windows"] == 1 and r["true_label"] for r in rows)
    assert "padded to the model's 0.5 s" in res.stderr


# -- featurize --like -------------------------------------------------------------------------------

def _features(cli, path) -> dict:
    return json.loads(cli("info", path, "--json").stdout)["features"]


def test_featurize_like_a_store_or_a_model(cli, audio, tmp_path):
    """The whole configuration, the resolved auto duration included, from a store or from a model;
    label options still apply."""
    train = tmp_path / "train.h5"
    cli("featurize", audio / "low", "-f", "mfcc", "--sr", "8000", "--n-mfcc", "13", "--pad-mode", "edge",
        "--crop", "start", "--no-normalize", "--fmax", "3000", "-o", train, "-q", "-j", "1")
    cfg = _features(cli, train)
    assert cfg["duration"] == 2.0  # auto, resolved
    model = tmp_path / "m.h5"
    cli("featurize", audio, "-f", "mfcc", "--sr", "8000", "--n-mfcc", "13", "--pad-mode", "edge", "--crop",
        "start", "--no-normalize", "--fmax", "3000", "--duration", "2.0", "-o", tmp_path / "two.h5", "-q")
    cli("train", tmp_path / "two.h5", "-o", model, "--model", "logreg", "--val-split", "0", "-q")
    like_store, like_model = tmp_path / "a.h5", tmp_path / "b.h5"
    cli("featurize", audio, "--like", train, "-o", like_store, "-q", "-j", "1")
    cli("featurize", audio, "--like", model, "-o", like_model, "-q", "-j", "1", "--label-regex", r"n(\d)")
    assert _features(cli, like_store) == _features(cli, like_model) == cfg
    info = json.loads(cli("info", like_model, "--json").stdout)
    assert sorted(info["classes"]) == [str(i) for i in range(6)]  # labels are not copied
    assert json.loads(cli("info", like_store, "--json").stdout)["classes"] == {"high": 6, "low": 6}
    # the stores are usable as they are: eval needs no windowing
    rep = json.loads(cli("eval", model, tmp_path / "two.h5", "--json").stdout)
    assert rep["windowing"] is None


def test_featurize_like_refusals(cli, audio, tmp_path):
    train = tmp_path / "train.h5"
    cli("featurize", audio / "low", "-f", "mfcc-stats", "-o", train, "-q", "-j", "1")
    out = tmp_path / "o.h5"
    for flags in (["--sr", "8000"], ["-f", "logmel"], ["--duration", "1"], ["--no-normalize"], ["--n-mels", "64"]):
        res = cli("featurize", audio, "--like", train, *flags, "-o", out, expect=2)
        assert res.stderr.count("\n") == 1 and "--like copies every feature setting" in res.stderr, flags
    res = cli("featurize", audio, "--like", train, "--sr", "8000", "--n-mfcc", "13", "-o", out, expect=2)
    assert "leave out --sr, --n-mfcc" in res.stderr
    res = cli("featurize", audio, "--like", tmp_path / "nothere.h5", "-o", out, expect=1)
    assert res.stderr == f"audiokit: error: {tmp_path / 'nothere.h5'}: no such file\n"
    wav = next((audio / "low").iterdir())
    res = cli("featurize", audio, "--like", wav, "-o", out, expect=1)
    assert res.stderr.startswith(f"audiokit: error: {wav}: not a readable store or model file")
    assert res.stderr.count("\n") == 1
    cli("featurize", audio, "--like", "-", "-o", out, expect=2)
    cli("featurize", "--merge", train, "--like", train, "-o", out, expect=2)
    assert not out.exists()
