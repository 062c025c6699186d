"""``audiokit featurize`` end to end: labels and groups from every source, kinds and settings,
append / shard / merge, identical results for any --workers, every bad input, interrupted
runs (real signals to a real process), pipes through a real shell, and the progress bar."""

from __future__ import annotations

import re

import csv
import os
import pty
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import soundfile as sf

from helpers import AUDIOKIT, run, tone

from audiokit.features import FeatureConfig, extract_file
from audiokit.store import open_store


def _store(p):
    return open_store(str(p))


def _tmp_leftovers(d):
    return sorted(n for n in os.listdir(d) if n.endswith(".tmp"))


@pytest.fixture
def small_set(tmp_path):
    """3 classes × 3 tones of 0.4–0.8 s at mixed rates, formats and channel counts."""
    root = tmp_path / "data"
    specs = {"low": 150.0, "mid": 440.0, "high": 1500.0}
    durs = [0.4, 0.6, 0.8]
    for c, f0 in specs.items():
        for k, d in enumerate(durs):
            sr = (16000, 22050, 44100)[k]
            ext, sub = (("wav", "PCM_16"), ("flac", "PCM_24"), ("wav", "FLOAT"))[k]
            tone(root / c / f"p{k}_{c}{k}.{ext}", f0 * (1 + k / 10), sr=sr, duration=d, subtype=sub, channels=1 + k % 2)
    return root


def test_directory_to_store_with_defaults(cli, small_set, tmp_path):
    out = tmp_path / "s.h5"
    r = cli("featurize", small_set, "-o", out, "--group-regex", r"^(p\d)_", "-j", "1")
    assert r.stdout == ""
    assert "done 9 of 9 (0 skipped)" in r.stderr
    with _store(out) as s:
        assert s.class_names == ["high", "low", "mid"] and s.class_counts() == {"high": 3, "low": 3, "mid": 3}
        cfg = s.config
        assert (cfg.kind, cfg.sr, cfg.n_fft, cfg.hop_length, cfg.n_mels, cfg.top_db, cfg.normalize) == \
            ("logmel", 22050, 1024, 220, 64, 80.0, True)  # 25 ms → 1024, 10 ms → 220 at 22.05 kHz
        assert cfg.duration == 0.8  # --duration auto: the 90th percentile of 0.4, 0.6 and 0.8 s
        assert s.item_shape == (64, 1 + int(0.8 * 22050) // 220)
        assert s.paths == sorted(s.paths) and s.paths[0].endswith("high/p0_high0.wav")
        assert sorted(set(s.groups)) == ["p0", "p1", "p2"]
        np.testing.assert_allclose(s.durations[:3], [0.4, 0.6, 0.8], atol=1e-4)
        # the library call gives the same features (to float rounding: the CLI runs BLAS on one thread)
        np.testing.assert_allclose(s.load_features([4])[0], extract_file(cfg, s.paths[4]), atol=1e-4, rtol=0)


def test_kinds_and_settings(cli, small_set, tmp_path):
    cli("featurize", small_set, "-f", "mfcc-stats", "-o", tmp_path / "ms.h5", "--n-mfcc", "13", "-q")
    with _store(tmp_path / "ms.h5") as s:
        assert s.item_shape == (4 * 13 + 26,) and s.config.stats == "full"  # the full vector by default
        assert s.config.duration is None  # whole files
    cli("featurize", small_set, "-f", "mfcc", "-o", tmp_path / "m.h5", "--duration", "0.5", "--pad-mode", "edge",
        "--crop", "start", "--no-normalize", "--sr", "16000", "--n-fft", "1024", "--hop-length", "256",
        "--n-mels", "40", "--fmin", "20", "--fmax", "7000", "-q")
    with _store(tmp_path / "m.h5") as s:
        c = s.config
        assert s.item_shape == (20, 1 + 8000 // 256)
        assert (c.duration, c.pad_mode, c.crop, c.normalize, c.sr, c.n_fft, c.n_mels, c.fmin, c.fmax) == \
            (0.5, "edge", "start", False, 16000, 1024, 40, 20.0, 7000.0)
        np.testing.assert_allclose(s.load_features([0])[0], extract_file(c, s.paths[0]), atol=1e-4, rtol=0)
    r = cli("featurize", small_set, "-o", tmp_path / "x.h5", "--duration", "long", expect=2)
    assert "--duration" in r.stderr
    cli("featurize", small_set, "-o", tmp_path / "x.h5", "--features", "chroma", expect=2)
    assert not (tmp_path / "x.h5").exists()


def test_fsdd_and_ravdess_names(cli, tmp_path):
    d = tmp_path / "speech"
    for n in ("7_jackson_32.wav", "0_theo_1.wav", "7_theo_2.wav"):
        tone(d / n, 300, duration=0.3)
    cli("featurize", d, "-f", "mfcc-stats", "-o", tmp_path / "f.h5", "--label-regex", r"^(\d)_",
        "--group-regex", r"^\d_([a-z]+)_", "-q")
    with _store(tmp_path / "f.h5") as s:
        assert [s.class_names[i] for i in s.labels] == ["0", "7", "7"]
        assert list(s.groups) == ["theo", "jackson", "theo"]
    r = tmp_path / "ravdess" / "Actor_01"
    for n in ("03-01-05-01-02-01-01.wav", "03-01-01-01-01-01-01.wav", "03-01-03-02-01-01-01.wav"):
        tone(r / n, 200, duration=0.3)
    cli("featurize", tmp_path / "ravdess", "-f", "mfcc-stats", "-o", tmp_path / "r.h5",
        "--label-regex", r"^\d+-\d+-(\d+)-", "--label-map", "01=neutral,03=happy,05=angry",
        "--group-regex", r"-(\d+)\.wav$", "-q")
    with _store(tmp_path / "r.h5") as s:
        assert [s.class_names[i] for i in s.labels] == ["neutral", "happy", "angry"]
        assert list(s.groups) == ["01", "01", "01"]
    res = cli("featurize", tmp_path / "ravdess", "-o", tmp_path / "bad.h5", "--label-regex", r"^\d+-\d+-(\d+)-",
              "--label-map", "01=neutral", expect=1)
    assert res.stderr.strip().endswith("03-01-03-02-01-01-01.wav: label '03' is not in the label map")
    assert len(res.stderr.strip().splitlines()) == 1 and not (tmp_path / "bad.h5").exists()


def test_manifest_without_inputs_and_unlabelled_stores(cli, small_set, tmp_path):
    m = tmp_path / "list.csv"
    files = sorted(small_set.rglob("*.*"))[:4]
    with open(m, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "group", "fold"])
        for i, p in enumerate(files):
            w.writerow([os.path.relpath(p, tmp_path), "ab"[i % 2], f"s{i // 2}", i % 2])
    cli("featurize", "--manifest", m, "-f", "mfcc-stats", "-o", tmp_path / "m.h5", "-q")
    with _store(tmp_path / "m.h5") as s:
        assert [s.class_names[i] for i in s.labels] == ["a", "b", "a", "b"]
        assert list(s.groups) == ["s0", "s0", "s1", "s1"] and list(s.folds) == [0, 1, 0, 1]
        assert s.paths == [str(p) for p in files]
    cli("featurize", small_set, "--no-labels", "-f", "mfcc-stats", "-o", tmp_path / "u.h5", "-q")
    with _store(tmp_path / "u.h5") as s:
        assert s.class_names == [] and (s.labels == -1).all() and len(s) == 9
    r = cli("featurize", "-o", tmp_path / "x.h5", expect=2)
    assert "--manifest" in r.stderr


def test_append_same_settings_extends_and_different_settings_refused(cli, small_set, tmp_path):
    out = tmp_path / "s.h5"
    cli("featurize", small_set / "low", small_set / "mid", "-o", out, "-q")
    cli("featurize", small_set / "high", "-o", out, "--append", "-q")  # duration auto → the store's
    with _store(out) as s:
        assert s.class_names == ["low", "mid", "high"] and len(s) == 9 and s.config.duration == 0.8
        assert len(s.provenance) == 2
    before = out.read_bytes()
    r = cli("featurize", small_set / "high", "-o", out, "--append", "--n-mels", "40", expect=1)
    assert "cannot append: feature configuration differs in n_mels (store 64, new 40)" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = cli("featurize", small_set / "high", "-o", out, "--append", expect=1)
    assert "already in the store" in r.stderr
    assert out.read_bytes() == before and _tmp_leftovers(tmp_path) == []
    cli("featurize", small_set, "-o", "-", "--append", expect=2)


def test_shards_are_every_nth_file_and_merge_to_the_whole(cli, small_set, tmp_path):
    cli("featurize", small_set, "-o", tmp_path / "all.h5", "-q")
    for i in range(3):
        cli("featurize", small_set, "--shard", f"{i}/3", "-o", tmp_path / f"part{i}.h5", "-q")
    with _store(tmp_path / "all.h5") as whole:
        paths = whole.paths
        feats = whole.load_features()
        for i in range(3):
            with _store(tmp_path / f"part{i}.h5") as part:
                assert part.paths == paths[i::3]  # 0-based: shard 0 starts at the first file
                assert part.config == whole.config  # auto duration over all inputs, not the shard's
                assert np.array_equal(part.load_features(), feats[i::3])
    cli("featurize", "--merge", *(tmp_path / f"part{i}.h5" for i in range(3)), "-o", tmp_path / "merged.h5", "-q")
    with _store(tmp_path / "merged.h5") as m, _store(tmp_path / "all.h5") as whole:
        # in input order, as one run gives (each shard item records its index in the full input list)
        assert m.paths == whole.paths and m.class_names == whole.class_names
        assert np.array_equal(m.load_features(), whole.load_features())
        assert np.array_equal(m.labels, whole.labels)
    for bad in ("3/3", "-1/3", "1", "a/b", "0/0"):
        r = cli("featurize", small_set, "--shard", bad, "-o", tmp_path / "x.h5", expect=2)
        assert "--shard" in r.stderr
    cli("featurize", "--merge", tmp_path / "part0.h5", tmp_path / "nope.h5", "-o", tmp_path / "x.h5", expect=1)
    assert not (tmp_path / "x.h5").exists()


@pytest.mark.slow
def test_workers_give_byte_identical_stores(cli, instruments_dir, tmp_path):
    a, b = tmp_path / "w1.h5", tmp_path / "w2.h5"
    cli("featurize", instruments_dir, "-o", a, "-j", "1", "--group-regex", r"^(player\d+)_", "-q")
    cli("featurize", instruments_dir, "-o", b, "-j", "2", "--group-regex", r"^(player\d+)_", "-q")
    with h5py.File(a) as x, h5py.File(b) as y:
        assert set(x) == set(y)
        for k in x:
            assert np.array_equal(x[k][()], y[k][()]), k
        assert x["features"].shape[0] == len(list(instruments_dir.rglob("*.*")))


def test_paths_on_stdin_with_spaces_and_non_ascii(cli, tmp_path):
    files = [tone(tmp_path / "dir with spaces" / "a b.wav", 220, duration=0.3),
             tone(tmp_path / "données" / "été ♪.flac", 330, duration=0.3),
             tone(tmp_path / "日本" / "音.wav", 440, duration=0.3)]
    listing = "\n".join(str(p) for p in files) + "\n"
    cli("featurize", "-", "-f", "mfcc-stats", "-o", tmp_path / "s.h5", "-q", input=listing)
    with _store(tmp_path / "s.h5") as s:
        assert s.paths == [str(p) for p in files]
        assert s.class_names == sorted(["dir with spaces", "données", "日本"])


# -- bad inputs --------------------------------------------------------------------------------

def _bad_inputs(d):
    """name → (path, reason) for every bad-input kind."""
    d.mkdir()
    out = {}
    (d / "empty.wav").write_bytes(b"")
    out["empty"] = (d / "empty.wav", "empty file (0 bytes)")
    sf.write(d / "zero.wav", np.zeros(0), 16000)
    out["zero-length"] = (d / "zero.wav", "no audio samples (zero-length)")
    (d / "notes.wav").write_text("not audio at all\n")
    out["not audio"] = (d / "notes.wav", "not readable as audio (Format not recognised)")
    os.symlink("loop.wav", d / "loop.wav")
    out["unreadable"] = (d / "loop.wav", "unreadable (symbolic link loop)")
    (d / "folder.wav").mkdir()
    out["directory"] = (d / "folder.wav", "is a directory, not an audio file")
    y = np.full(8000, 0.1, np.float32)
    y[100] = np.nan
    sf.write(d / "nan.wav", y, 16000, subtype="FLOAT")
    out["nan"] = (d / "nan.wav", "contains NaN or infinite samples")
    y[100] = np.inf
    sf.write(d / "inf.wav", y, 16000, subtype="FLOAT")
    out["inf"] = (d / "inf.wav", "contains NaN or infinite samples")
    out["missing"] = (d / "gone.wav", "no such file")
    return out


def test_every_bad_input_stops_the_run_with_one_line(cli, tmp_path):
    good = tone(tmp_path / "ok" / "good.wav", 440, duration=0.3)
    bad = _bad_inputs(tmp_path / "bad")
    out = tmp_path / "s.h5"
    for name, (p, reason) in bad.items():
        r = cli("featurize", "-", "-f", "mfcc-stats", "-o", out, "-j", "1", input=f"{good}\n{p}\n", expect=1)
        assert r.stderr.splitlines() == [f"audiokit: error: {p}: {reason}"], name
        assert r.stdout == ""
        assert not out.exists() and _tmp_leftovers(tmp_path) == [], name


def test_skip_errors_reports_leaves_out_and_counts(cli, tmp_path):
    good = [tone(tmp_path / "ok" / f"good{i}.wav", 440, duration=0.3) for i in range(2)]
    bad = _bad_inputs(tmp_path / "bad")
    listing = "\n".join([str(good[0])] + [str(p) for p, _ in bad.values()] + [str(good[1])]) + "\n"
    out = tmp_path / "s.h5"
    r = cli("featurize", "-", "-f", "mfcc-stats", "-o", out, "-j", "2", "--skip-errors", input=listing)
    for p, reason in bad.values():
        assert f"audiokit: skipped {p}: {reason}" in r.stderr
    assert f"done 2 of {2 + len(bad)} ({len(bad)} skipped)" in r.stderr
    with _store(out) as s:
        assert s.paths == [str(g) for g in good]
        assert sorted((k["path"], k["reason"]) for k in s.skipped) == sorted((str(p), why) for p, why in bad.values())
    with h5py.File(out) as h5:
        assert h5.attrs["n_skipped"] == len(bad)
    # nothing usable at all: still a failure, and no store
    r = cli("featurize", tmp_path / "bad", "-o", tmp_path / "none.h5", "--skip-errors", expect=1)
    assert "none of" in r.stderr.splitlines()[-1] and not (tmp_path / "none.h5").exists()


def test_undecoded_formats_in_a_directory_are_reported_not_silently_dropped(cli, tmp_path):
    tone(tmp_path / "d" / "a.wav", 300, duration=0.3)
    (tmp_path / "d" / "b.m4a").write_bytes(b"\0\0\0\x20ftypM4A " + bytes(200))
    r = cli("featurize", tmp_path / "d", "-f", "mfcc-stats", "-o", tmp_path / "s.h5")
    assert "left out 1 file(s) in formats that are not decoded (1 .m4a)" in r.stderr
    assert "done 1 of 1" in r.stderr


def test_no_audio_found_and_regex_misses(cli, tmp_path):
    (tmp_path / "empty").mkdir()
    r = cli("featurize", tmp_path / "empty", "-o", tmp_path / "s.h5", expect=1)
    assert "no audio files found" in r.stderr and len(r.stderr.splitlines()) == 1
    tone(tmp_path / "d" / "7_a.wav", 300, duration=0.3)
    tone(tmp_path / "d" / "readme.wav", 300, duration=0.3)
    r = cli("featurize", tmp_path / "d", "-f", "mfcc-stats", "-o", tmp_path / "s.h5", "--label-regex", r"^(\d)_",
            expect=1)
    assert r.stderr.strip() == (f"audiokit: error: {tmp_path / 'd' / 'readme.wav'}: file name does not match "
                                "the label regex '^(\\d)_'")
    cli("featurize", tmp_path / "d", "-f", "mfcc-stats", "-o", tmp_path / "s.h5", "--label-regex", r"^(\d)_",
        "--skip-errors", "-q")
    with _store(tmp_path / "s.h5") as s:
        assert len(s) == 1 and len(s.skipped) == 1


# -- real processes: interrupts, pipes, progress -------------------------------------------------

@pytest.fixture(scope="module")
def slow_set(tmp_path_factory):
    """Enough work (72 stereo 44.1 kHz clips of 4 s) that a run is surely still going when killed."""
    root = tmp_path_factory.mktemp("slow")
    rng = np.random.default_rng(0)
    for i in range(72):
        y = 0.1 * rng.standard_normal((4 * 44100, 2)).astype(np.float32)
        d = root / f"c{i % 3}"
        d.mkdir(exist_ok=True)
        sf.write(d / f"{i:03d}.wav", y, 44100, subtype="PCM_16")
    return root


def _start_and_kill(src, out, sig, workers):
    """Start featurize as its own process group, wait until it is writing (its temp file exists),
    then send ``sig`` to the whole group, as a terminal's Ctrl-C does."""
    proc = subprocess.Popen(AUDIOKIT + ["featurize", str(src), "-o", str(out), "-j", str(workers), "-q",
                                        "--duration", "4"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 60
    try:
        while not any(n.startswith(f".{out.name}.") and n.endswith(".tmp") for n in os.listdir(out.parent)):
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "featurize never started writing"
            time.sleep(0.01)
        time.sleep(0.3)  # well inside the run: the work takes several seconds
        os.killpg(proc.pid, sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode, err.decode()


@pytest.mark.parametrize("sig,workers", [(signal.SIGINT, 2), (signal.SIGTERM, 1)], ids=["SIGINT", "SIGTERM"])
@pytest.mark.slow
def test_interrupt_leaves_nothing(slow_set, tmp_path, sig, workers):
    out = tmp_path / "s.h5"
    rc, err = _start_and_kill(slow_set, out, sig, workers)
    # 130, or killed by SIGINT: CPython re-raises an interrupt that landed inside native code
    # (numba's JIT on the first file) as a SIGINT death after the cleanup has run.
    assert rc in (130, -signal.SIGINT), err
    assert err.strip().splitlines()[-1] == "audiokit: error: interrupted"
    assert "Traceback" not in err
    assert os.listdir(tmp_path) == []  # no store, no temp file


@pytest.mark.slow
def test_sigkill_leaves_no_file_under_the_target_name(slow_set, tmp_path):
    out = tmp_path / "s.h5"
    rc, _ = _start_and_kill(slow_set, out, signal.SIGKILL, 2)
    assert rc == -signal.SIGKILL
    assert not out.exists()
    # Nothing can clean up after SIGKILL: a hidden temp file may stay (docs/store-format.md says so).
    assert all(n.startswith(".s.h5.") and n.endswith(".tmp") for n in os.listdir(tmp_path))


@pytest.mark.slow
def test_featurize_to_stdout_piped_into_info(instruments_dir):
    r = run(f"audiokit featurize '{instruments_dir}' -f mfcc-stats -o - | audiokit info - --json", shell=True)
    assert r.returncode == 0, r.stderr.decode()
    import json

    info = json.loads(r.stdout)
    n = len(list(instruments_dir.rglob("*.*")))
    assert info["file"] == "<stdin>" and info["items"] == n and info["feature_shape"] == [106]
    assert info["classes"] == {c: n // 4 for c in ("bowed", "clarinet", "flute", "plucked")}
    # stderr is a pipe here: no progress bar, only featurize's one summary line
    err = r.stderr.decode()
    assert err.count("\n") == 1
    assert re.match(rf"audiokit: featurize: done {n} of {n} \(0 skipped\) in \d+\.\d s → stdout", err), err


@pytest.mark.slow
def test_progress_bar_on_a_terminal(small_set, tmp_path):
    master, slave = pty.openpty()
    proc = subprocess.Popen(AUDIOKIT + ["featurize", str(small_set), "-f", "mfcc-stats", "-o", str(tmp_path / "b.h5"),
                                        "-j", "1"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave,
                            env={**os.environ, "COLUMNS": "100", "TERM": "xterm"})
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=120)
    os.close(master)
    text = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 0 and proc.stdout.read() == b""  # the bar never touches stdout
    assert "files/s" in text and "featurize" in text and "9/9" in text


# -- f0-range: pairs of low/high notes ----------------------------------------------------------

def test_f0_range_pairs_from_directories_and_a_manifest(cli, voices_dir, tmp_path):
    out = tmp_path / "v.h5"
    # --skip-errors: the paper's HPS can miss the f0 of a very low note; the pitch tests judge that
    cli("featurize", voices_dir, "-f", "f0-range", "-o", out, "-q", "--skip-errors")
    n_pairs = len(list(voices_dir.rglob("*_low.wav")))
    with _store(out) as s:
        assert len(s) + len(s.skipped) == n_pairs and len(s) >= n_pairs - 2 and s.item_shape == (2,)
        n_pairs = len(s)
        assert s.config.kind == "f0-range" and s.config.f0_method == "hps" and s.config.duration is None
        assert s.paths2 is not None and all(p2.endswith("_high.wav") for p2 in s.paths2)
        assert all(p.endswith("_low.wav") for p in s.paths)
        assert len(set(s.groups)) == n_pairs  # one group per singer
        f0 = s.load_features()
        assert (f0[:, 0] < f0[:, 1]).all()  # the low note is lower
        # bass pairs sit below soprano pairs
        names = [s.class_names[i] for i in s.labels]
        bass = f0[[i for i, c in enumerate(names) if c == "bass"]]
        soprano = f0[[i for i, c in enumerate(names) if c == "soprano"]]
        assert bass[:, 1].max() < soprano[:, 1].min()
    m = tmp_path / "pairs.csv"
    with _store(out) as s:
        lows = [Path(p) for p in s.paths[:3]]
    m.write_text("low,high,label,group\n" + "".join(
        f"{p},{str(p).replace('_low', '_high')},{p.parent.name},{p.stem}\n" for p in lows))
    cli("featurize", "--manifest", m, "-f", "f0-range", "-o", tmp_path / "m.h5", "-q")
    with _store(tmp_path / "m.h5") as s, _store(out) as whole:
        assert s.paths == [str(p) for p in lows]
        idx = [whole.paths.index(str(p)) for p in lows]
        assert np.array_equal(s.load_features(), whole.load_features(idx))


def test_f0_range_unpaired_and_unvoiced_files(cli, tmp_path):
    d = tmp_path / "tenor"
    tone(d / "ann_low.wav", 130, duration=0.6)
    tone(d / "ann_high.wav", 520, duration=0.6)
    tone(d / "bob_low.wav", 140, duration=0.6)  # no partner
    r = cli("featurize", tmp_path, "-f", "f0-range", "-o", tmp_path / "v.h5", expect=1)
    assert r.stderr.strip() == f"audiokit: error: {d / 'bob_low.wav'}: no matching *high* file"
    sf.write(d / "bob_high.wav", np.zeros(13230), 22050)  # silence: no pitch
    r = cli("featurize", tmp_path, "-f", "f0-range", "-o", tmp_path / "v.h5", "--skip-errors")
    assert f"skipped {d / 'bob_high.wav'}:" in r.stderr
    with _store(tmp_path / "v.h5") as s:
        assert len(s) == 1 and s.skipped[0]["path"] == str(d / "bob_high.wav")
        np.testing.assert_allclose(s.load_features()[0], [130, 520], rtol=0.02)
