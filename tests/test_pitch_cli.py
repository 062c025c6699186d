"""``audiokit pitch`` end to end on files the tests write: one file, a low/high pair and its
voice type, --voice, --json schema, --frames, swapped inputs, stdin, every bad input, a
real (synthetic-speech) voice from espeak-ng, and --model with a KNN from ``audiokit train``."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from helpers import HAVE_ESPEAK, modules_after, run, tone

from audiokit.demo import VOICE_RANGES, sung_vowel
from audiokit.pitch import VOICE_TYPES

ERR = re.compile(r"^audiokit: error: .+\n$")


def sung(path: Path, f0: float, *, sr=44100, dur=1.2, seed=0, channels=1) -> Path:
    """A sung /a/ (glottal source, formants, vibrato, jitter) with a little noise."""
    rng = np.random.default_rng(seed)
    y = sung_vowel(f0, dur, sr, rng, vibrato=30.0)
    y = 0.7 * y / np.abs(y).max() + 0.003 * rng.standard_normal(len(y))
    if channels > 1:
        y = np.stack([y] * channels, axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, y, sr, subtype="PCM_16")
    return path


def pitch_json(cli, *args, expect=0):
    r = cli("pitch", *args, "--json", expect=expect)
    return json.loads(r.stdout) if expect == 0 else r


def cents(f, truth):
    return 1200 * np.log2(f / truth)


# -- one file ------------------------------------------------------------------------------------

def test_one_file_table_and_json(cli, tmp_path):
    p = sung(tmp_path / "a.wav", 440.0, channels=2)  # stereo: folded by channel mean
    r = cli("pitch", p)
    assert re.search(r"│\s+4(39\.9|40\.0)\d\s+│ A4\s+│", r.stdout) and r.stderr == "", r.stdout
    body = [ln.split("│") for ln in r.stdout.splitlines() if "│" in ln]
    assert "".join(cells[0].strip() for cells in body) == str(p)  # a long path wraps, never cut
    for method in ("yin", "hps"):
        d = pitch_json(cli, p, "--method", method)
        assert d["schema"] == "audiokit-pitch/1" and d["method"] == method and d["pair"] is None
        (f,) = d["files"]
        assert f["path"] == str(p) and f["role"] == "single" and f["sr"] == 44100 and f["voiced"] is True
        assert abs(cents(f["f0"], 440.0)) < 10 and f["note"] == "A4" and f["midi"] == 69
        assert f["cents"] == pytest.approx(cents(f["f0"], 440.0), abs=0.06)
        assert 0 < f["confidence"] <= 1 and 0 < f["voiced_share"] <= 1 and f["duration"] == pytest.approx(1.2)
        assert "frames" not in f


def test_json_schema(cli, tmp_path):
    lo, hi = sung(tmp_path / "lo.wav", 130.81), sung(tmp_path / "hi.wav", 523.25, seed=1)
    d = pitch_json(cli, lo, hi)
    assert list(d) == ["schema", "method", "fmin", "fmax", "harmonics", "files", "pair"]
    assert (d["method"], d["fmin"], d["fmax"], d["harmonics"]) == ("yin", 50.0, 2000.0, 5)
    file_keys = ["path", "role", "sr", "duration", "voiced", "f0", "note", "midi", "cents", "confidence",
                 "voiced_share", "warnings"]
    assert [list(f) for f in d["files"]] == [file_keys, file_keys]
    assert [f["role"] for f in d["files"]] == ["low", "high"]
    p = d["pair"]
    assert list(p) == ["low", "high", "swapped", "f0_low", "f0_high", "note_low", "note_high",
                       "range_semitones", "voice_type", "voice", "model", "k", "votes", "probabilities",
                       "neighbours", "distance_unit", "warnings"]
    assert p["warnings"] == [] and d["files"][0]["warnings"] == []
    assert (p["low"], p["high"], p["swapped"], p["voice"], p["model"]) == (str(lo), str(hi), False, "any", "embedded")
    assert (p["note_low"], p["note_high"], p["voice_type"], p["k"]) == ("C3", "C5", "tenor", 8)
    assert p["range_semitones"] == pytest.approx(24.0, abs=0.2)
    assert set(p["votes"]) == set(VOICE_TYPES) and sum(p["votes"].values()) == 8
    assert sum(p["probabilities"].values()) == pytest.approx(1.0)
    assert len(p["neighbours"]) == 8 and set(p["neighbours"][0]) == {"voice_type", "distance", "f0_low", "f0_high"}
    assert p["distance_unit"] == "semitones"
    # --frames adds each file's track
    d = pitch_json(cli, lo, hi, "--frames")
    fr = d["files"][0]["frames"]
    assert list(fr[0]) == ["time", "f0", "confidence"] and len(fr) > 100
    assert d["pair"]["voice_type"] == "tenor"


def test_unvoiced_single_file_exits_0(cli, tmp_path):
    rng = np.random.default_rng(0)
    sf.write(tmp_path / "silence.wav", np.zeros(22050), 22050)
    sf.write(tmp_path / "noise.wav", 0.3 * rng.standard_normal(44100), 44100)
    for name in ("silence.wav", "noise.wav"):
        for method in ("yin", "hps"):
            d = pitch_json(cli, tmp_path / name, "--method", method)
            f = d["files"][0]
            assert f["voiced"] is False and f["f0"] is None and f["note"] is None and f["cents"] is None
        r = cli("pitch", tmp_path / name)
        assert "unvoiced" in r.stdout and "no pitch found" in r.stderr
        assert cli("pitch", tmp_path / name, "-q").stderr == ""


def test_frames_tsv(cli, tmp_path):
    y = np.concatenate([np.zeros(11025), sf.read(sung(tmp_path / "t.wav", 220.0, sr=22050, dur=1.0))[0]])
    sf.write(tmp_path / "s.wav", y, 22050)
    for method in ("yin", "hps"):
        r = cli("pitch", tmp_path / "s.wav", "--frames", "--method", method)
        lines = r.stdout.splitlines()
        assert lines[0] == "time\tf0\tconfidence\tnote"
        rows = [ln.split("\t") for ln in lines[1:]]
        assert 100 <= len(rows) <= 150  # a 10 ms hop over 1.5 s (0.5 s silence + 1 s)
        t = np.array([float(x[0]) for x in rows])
        f = np.array([float(x[1]) for x in rows])
        assert np.all(np.diff(t) > 0)
        assert np.isnan(f[t < 0.4]).all()  # the leading silence: nan, empty note
        assert all(x[3] == "" for x, tt in zip(rows, t) if tt < 0.4)
        voiced = np.isfinite(f) & (t > 0.7)
        assert voiced.sum() > 30 and np.all(np.abs(cents(f[voiced], 220.0)) < 60)
    # two files: a file column first, the given order, no classification (so unvoiced is fine)
    sf.write(tmp_path / "quiet.wav", np.zeros(22050), 22050)
    r = cli("pitch", tmp_path / "s.wav", tmp_path / "quiet.wav", "--frames")
    assert r.stdout.splitlines()[0] == "file\ttime\tf0\tconfidence\tnote"
    files = [ln.split("\t")[0] for ln in r.stdout.splitlines()[1:]]
    assert files[0] == files[110] == str(tmp_path / "s.wav") and files[-1] == str(tmp_path / "quiet.wav")
    assert all(ln.split("\t")[2] == "nan" for ln in r.stdout.splitlines()[1:] if "quiet" in ln)


def test_flats_and_stdin(cli, tmp_path):
    p = tone(tmp_path / "cs.wav", 554.37, sr=22050, harmonics=6)
    assert pitch_json(cli, p)["files"][0]["note"] == "C#5"
    assert pitch_json(cli, p, "--flats")["files"][0]["note"] == "Db5"
    odd = tmp_path / "take [bold]1 ü.wav"  # rich markup and spaces in a name are printed as they are
    odd.write_bytes(p.read_bytes())
    body = [ln.split("│") for ln in cli("pitch", odd).stdout.splitlines() if "│" in ln]
    assert "".join(c[0].strip() for c in body).replace(" ", "").endswith("take[bold]1ü.wav")  # maybe folded
    r = run(["pitch", "-", "--json"], input=p.read_bytes())
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["files"][0]["path"] == "-" and d["files"][0]["note"] == "C#5"


# -- pairs and voice types -----------------------------------------------------------------------

def test_voice_types_of_reference_pairs(cli, tmp_path):
    """Sung /a/ at each type's published lowest and highest note gives that type."""
    for i, (vt, (lo, hi)) in enumerate(VOICE_RANGES.items()):
        low = sung(tmp_path / vt / "low.wav", lo, sr=(22050, 44100, 48000)[i % 3], seed=2 * i)
        high = sung(tmp_path / vt / "high.wav", hi, sr=(44100, 48000, 22050)[i % 3], seed=2 * i + 1)
        for method in ("yin", "hps"):
            d = pitch_json(cli, low, high, "--method", method)
            p = d["pair"]
            assert p["voice_type"] == vt, (method, p)
            # a textbook range, sung: no band warning, not outside the model's ranges
            assert p["warnings"] == [] and [f["warnings"] for f in d["files"]] == [[], []], (method, d)
            assert abs(cents(p["f0_low"], lo)) < 50 and abs(cents(p["f0_high"], hi)) < 50
            assert p["votes"][vt] == max(p["votes"].values())
        r = cli("pitch", low, high)
        assert f"voice type: {vt}" in r.stdout and "range:" in r.stdout and "semitones" in r.stdout


def test_voices_of_generated_singers(cli, voices_dir):
    """demo singers (extremes scattered ±1.5 semitones around their type's range, reverb, noise):
    the type, or at worst the neighbouring one."""
    right = 0
    pairs = sorted(voices_dir.rglob("*_low.wav"))
    for low in pairs:
        vt = low.parent.name
        p = pitch_json(cli, low, str(low).replace("_low", "_high"))["pair"]
        right += p["voice_type"] == vt
        assert abs(VOICE_TYPES.index(p["voice_type"]) - VOICE_TYPES.index(vt)) <= 1, (low, p["voice_type"])
    assert right >= 0.7 * len(pairs)


def test_voice_filter(cli, tmp_path):
    lo, hi = sung(tmp_path / "lo.wav", 196.0), sung(tmp_path / "hi.wav", 784.0, seed=1)  # G3-G5
    assert pitch_json(cli, lo, hi)["pair"]["voice_type"] in ("alto", "mezzo-soprano")
    male = pitch_json(cli, lo, hi, "--voice", "male")["pair"]
    assert male["voice_type"] == "tenor" and male["voice"] == "male"
    assert set(male["votes"]) == {"tenor", "baritone", "bass"}
    assert all(nb["voice_type"] in ("tenor", "baritone", "bass") for nb in male["neighbours"])
    female = pitch_json(cli, lo, hi, "--voice", "female")["pair"]
    assert female["voice_type"] in ("alto", "mezzo-soprano") and set(female["votes"]) == {"soprano", "mezzo-soprano", "alto"}
    assert "male types only" in cli("pitch", lo, hi, "--voice", "male").stdout


def test_swapped_inputs_are_corrected_with_a_warning(cli, tmp_path):
    lo, hi = sung(tmp_path / "lo.wav", 110.0), sung(tmp_path / "hi.wav", 440.0, seed=1)
    right = pitch_json(cli, lo, hi)
    r = cli("pitch", hi, lo, "--json")
    d = json.loads(r.stdout)
    assert "warning" in r.stderr and str(hi) in r.stderr and "swapped" in r.stderr
    p = d["pair"]
    assert p["swapped"] is True and p["low"] == str(lo) and p["high"] == str(hi)
    assert [f["role"] for f in d["files"]] == ["high", "low"] and d["files"][0]["path"] == str(hi)
    for key in ("f0_low", "f0_high", "voice_type", "votes", "range_semitones"):
        assert p[key] == right["pair"][key]
    assert p["range_semitones"] > 0


# -- bad input -------------------------------------------------------------------------------------

def test_bad_inputs(cli, tmp_path):
    good = tone(tmp_path / "good.wav", 220.0)
    (tmp_path / "text.wav").write_text("not audio at all\n")
    (tmp_path / "empty.wav").write_bytes(b"")
    sf.write(tmp_path / "noframes.wav", np.zeros(0), 22050)
    sf.write(tmp_path / "short.wav", 0.5 * np.sin(2 * np.pi * 220 * np.arange(300) / 22050), 22050)  # 14 ms
    sf.write(tmp_path / "silence.wav", np.zeros(22050), 22050)
    cases = [  # (args, exit status, what the one line must say)
        ([tmp_path / "missing.wav"], 1, "missing.wav: no such file"),
        ([tmp_path / "text.wav"], 1, "text.wav: not readable as audio"),
        ([tmp_path / "empty.wav"], 1, "empty.wav: "),
        ([tmp_path / "noframes.wav"], 1, "noframes.wav: no audio samples"),
        ([tmp_path / "short.wav"], 1, "short.wav: too short"),
        ([tmp_path], 1, ": is a directory"),
        ([good, tmp_path / "silence.wav"], 1, "silence.wav: no pitch found"),
        ([good, "--fmin", "500", "--fmax", "400"], 2, "--fmin must be below --fmax"),
        ([good, "--fmin", "0"], 2, "--fmin must be a positive"),
        ([good, "--method", "crepe"], 2, "--method must be hps or yin"),
        ([good, good, "--voice", "child"], 2, "--voice must be female or male"),
        ([good, "--voice", "male"], 2, "give exactly two files"),
        (["-", "-"], 2, "only one of the files can be '-'"),
    ]
    for args, code, text in cases:
        r = cli("pitch", *args, expect=code)
        assert ERR.match(r.stderr), (args, r.stderr)
        assert text in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr and r.stdout == ""
    # the short file is fine when the band needs shorter frames
    assert pitch_json(cli, tmp_path / "short.wav", "--fmin", "150")["files"][0]["voiced"]


# -- a real voice ----------------------------------------------------------------------------------

@pytest.mark.skipif(not HAVE_ESPEAK, reason="espeak-ng is not installed")
def test_espeak_vowel_at_set_pitch(cli, tmp_path):
    """espeak-ng's /a/ at two pitch settings (-p), against librosa.pyin on the same files."""
    import librosa

    f0s = []
    for p in (35, 80):
        wav = tmp_path / f"a{p}.wav"
        subprocess.run(["espeak-ng", "-p", str(p), "-s", "80", "-w", str(wav), "aaaaa"], check=True,
                       capture_output=True)
        y, sr = sf.read(wav)
        ref, voiced, _ = librosa.pyin(y, fmin=50, fmax=1000, sr=sr, frame_length=1024)
        ref = float(np.median(ref[voiced]))
        d = pitch_json(cli, wav)["files"][0]
        assert d["voiced"] and abs(cents(d["f0"], ref)) < 50, (p, d["f0"], ref)
        f0s.append(d["f0"])
    assert f0s[1] > f0s[0] * 1.2  # a higher -p sounds higher


# -- --model: a KNN trained by `audiokit train` ------------------------------------------------------

def test_model_from_train(cli, voices_dir, tmp_path):
    store, model = tmp_path / "v.h5", tmp_path / "knn.h5"
    cli("featurize", voices_dir, "--features", "f0-range", "-o", store, "-q", "--skip-errors")
    cli("train", store, "--model", "knn", "--k", "3", "--val-split", "0", "-o", model, "-q")
    low = sorted((voices_dir / "tenor").glob("*_low.wav"))[0]
    high = Path(str(low).replace("_low", "_high"))
    d = pitch_json(cli, low, high, "--model", model)
    p = d["pair"]
    assert d["method"] == "hps"  # the model's f0 settings, not the command's default
    assert p["model"] == str(model) and p["k"] == 3 and p["distance_unit"] == "standardised features"
    assert len(p["neighbours"]) == 3 and p["neighbours"][0]["distance"] == pytest.approx(0.0, abs=1e-4)
    assert p["voice_type"] == "tenor"  # the singer itself is in the training set
    assert sum(p["votes"].values()) == 3 and sum(p["probabilities"].values()) == pytest.approx(1.0)
    # the pair's features are exactly what the store holds for it
    from audiokit.store import open_store

    with open_store(str(store)) as s:
        i = s.paths.index(str(low))
        assert s.load_features([i])[0] == pytest.approx([p["f0_low"], p["f0_high"]], abs=1e-3)
    assert "knn.h5 model" in cli("pitch", low, high, "--model", model).stdout
    # the trained KNN predicts with numpy: no scikit-learn (nor SciPy under it) at start-up
    assert modules_after(["pitch", low, high, "--model", model], heavy=("torch", "sklearn", "scipy")) == []
    # --voice restricts the trained model's classes too
    male = pitch_json(cli, low, high, "--model", model, "--voice", "male")["pair"]
    assert set(male["probabilities"]) == {"tenor", "baritone", "bass"}
    # flags that contradict the model's features, a model of other features, not a model
    r = cli("pitch", low, high, "--model", model, "--method", "yin", expect=2)
    assert ERR.match(r.stderr) and "differs from the model's" in r.stderr
    cli("featurize", tone(tmp_path / "m" / "a" / "x.wav", 200), tone(tmp_path / "m" / "b" / "y.wav", 300),
        tone(tmp_path / "m" / "a" / "z.wav", 210), tone(tmp_path / "m" / "b" / "w.wav", 310),
        "--features", "mfcc-stats", "-o", tmp_path / "m.h5", "-q")
    cli("train", tmp_path / "m.h5", "--model", "knn", "--k", "1", "--val-split", "0", "-o", tmp_path / "mk.h5", "-q")
    r = cli("pitch", low, high, "--model", tmp_path / "mk.h5", expect=1)
    assert ERR.match(r.stderr) and "needs a model trained on an f0-range store" in r.stderr
    r = cli("pitch", low, high, "--model", store, expect=1)
    assert ERR.match(r.stderr) and "v.h5" in r.stderr


def test_pitch_does_not_import_torch_or_librosa(tmp_path):
    lo, hi = tone(tmp_path / "lo.wav", 131.0), tone(tmp_path / "hi.wav", 523.0)
    code = ("import sys\nfrom audiokit.cli import app\n"
            f"try:\n    app(['pitch', {str(lo)!r}, {str(hi)!r}], prog_name='audiokit')\nexcept SystemExit:\n    pass\n"
            "print(' '.join(m for m in ('torch', 'torchvision', 'librosa', 'sklearn', 'scipy') if m in sys.modules),"
            " file=sys.stderr)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0 and "voice type:" in r.stdout
    assert r.stderr.strip().splitlines()[-1:] in ([], [""]), r.stderr
