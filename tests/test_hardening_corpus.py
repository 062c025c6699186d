"""Every command that reads audio, over the bad-input corpus (tests/corpus): no traceback, the
documented exit status, every good file still processed with --skip-errors, and one line per
unusable file naming it and saying why.

featurize and predict run as real processes over the whole corpus (a directory walk and an
explicit list on stdin); pitch runs in-process on each file. The unreadable file is a mode-000
file read with the DAC capabilities dropped (root reads any file otherwise), and the one-hour
file checks that memory stays bounded (peak RSS of the child process, from wait4).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import corpus
from helpers import AUDIOKIT, run

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus") / "c"
    entries = corpus.build(root)
    return root, entries


def _lines(stderr: bytes | str) -> list[str]:
    text = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else stderr
    return [ln for ln in text.splitlines() if ln.strip()]


def _clean(stderr) -> list[str]:
    """stderr lines, checked to be audiokit's own one-liners (no traceback, no Python warning)."""
    lines = _lines(stderr)
    bad = [ln for ln in lines if not ln.startswith("audiokit: ")]
    assert not bad, "stray stderr lines:\n" + "\n".join(lines)
    assert not any("internal error" in ln or "Traceback" in ln for ln in lines), "\n".join(lines)
    return lines


def _tmp_leftovers(d) -> list[str]:
    return [n for n in os.listdir(d) if n.endswith(".tmp")]


def _store(path):
    from audiokit.store import open_store

    return open_store(str(path))


# -- featurize ------------------------------------------------------------------------------------

def test_featurize_over_the_corpus_skips_each_bad_file_with_its_reason(corpus_dir, tmp_path):
    root, entries = corpus_dir
    out = tmp_path / "s.h5"
    r = run(["featurize", root, "-f", "mfcc-stats", "-o", out, "--skip-errors", "-j", "2"])
    assert r.returncode == 0, r.stderr.decode()
    lines = _clean(r.stderr)
    walked = [e for e in entries if e.walked]
    with _store(out) as s:
        stored = s.paths
        skipped = {k["path"]: k["reason"] for k in s.skipped}
    assert len(stored) == len(set(stored)), "an input was featurized twice (the symlink loop?)"
    n_bad = 0
    for e in walked:
        p = str(e.path)
        expect = e.expect_for("featurize")
        if corpus.is_fifo(e.path):  # left out of the walk: opening a FIFO would block
            assert any(p in ln and "not a regular file" in ln for ln in lines), p
            assert p not in stored and p not in skipped
        elif expect == "ok":
            assert p in stored, f"good file left out: {p}: {skipped.get(p)}"
        elif expect == "bad":
            n_bad += 1
            assert p in skipped and e.reason in skipped[p], (p, skipped.get(p))
            assert f"audiokit: skipped {p}: {skipped[p]}" in lines
        else:
            assert (p in stored) != (p in skipped), p
    total = len(stored) + len(skipped)
    assert lines[-1].startswith(f"audiokit: featurize: done {len(stored)} of {total} ({len(skipped)} skipped)")
    assert n_bad >= 15 and len(stored) >= 35


def test_featurize_without_skip_errors_stops_at_the_first_bad_file(corpus_dir, tmp_path):
    root, entries = corpus_dir
    out = tmp_path / "s.h5"
    r = run(["featurize", root / "bad", "-f", "mfcc-stats", "-o", out, "-j", "2"])
    assert r.returncode == 1
    lines = _clean(r.stderr)
    bad = {str(e.path): e.reason for e in entries if e.kind == "bad"}
    err = lines[-1]
    assert err.startswith("audiokit: error: ")
    path = next(p for p in bad if err.startswith(f"audiokit: error: {p}: "))
    assert bad[path] in err
    assert not out.exists() and _tmp_leftovers(tmp_path) == []


def test_featurize_explicit_paths_on_stdin(corpus_dir, tmp_path):
    """Paths given one by one (not walked): a directory named x.wav, a missing file, names with
    spaces and non-ASCII, the same file through the directory loop. FIFOs are not listed: like
    `cat fifo`, reading an explicitly named FIFO waits for its writer (docs/reliability.md)."""
    root, entries = corpus_dir
    listed = [e for e in entries if not corpus.is_fifo(e.path)]
    names = [str(e.path) for e in listed] + [str(root / "missing.wav"), str(root / "loop" / "again" / "loop" / "inside.wav")]
    out = tmp_path / "s.h5"
    r = run(["featurize", "-", "-f", "mfcc-stats", "-o", out, "--skip-errors", "-j", "2", "--label-source", "none"],
            input=("\n".join(names) + "\n").encode())
    assert r.returncode == 0, r.stderr.decode()
    lines = _clean(r.stderr)
    with _store(out) as s:
        stored, skipped = set(s.paths), {k["path"]: k["reason"] for k in s.skipped}
    for e in listed:
        p = str(e.path)
        if e.expect_for("featurize") == "ok":
            assert p in stored, (p, skipped.get(p))
        elif e.expect_for("featurize") == "bad":
            assert e.reason in skipped[p], (p, skipped.get(p))
    assert skipped[str(root / "missing.wav")] == "no such file"
    assert str(root / "loop" / "again" / "loop" / "inside.wav") in stored  # another name: not a duplicate
    assert "audiokit: skipped " + str(root / "bad" / "folder.wav") + ": is a directory" in "\n".join(lines)


# -- predict --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def models(corpus_dir, tmp_path_factory):
    """A KNN on mfcc-stats (whole files) and one on fixed-duration log-mels (windowed prediction),
    trained on a few good corpus files; labels are the corpus directories."""
    root, entries = corpus_dir
    d = tmp_path_factory.mktemp("models")
    train_dir = d / "train"
    for e in entries:
        if e.kind in ("depths", "rates", "channels") and e.expect == "ok":
            (train_dir / e.kind).mkdir(parents=True, exist_ok=True)
            shutil.copy(e.path, train_dir / e.kind / e.path.name)
    out = {}
    for name, flags in (("stats", ["-f", "mfcc-stats"]), ("logmel", ["--duration", "0.2", "--n-mels", "32"])):
        store = d / f"{name}.h5"
        r = run(["featurize", train_dir, "-o", store, "-j", "1", "-q", *flags])
        assert r.returncode == 0, r.stderr.decode()
        model = d / f"{name}-knn.h5"
        r = run(["train", store, "-o", model, "--model", "knn", "--k", "1", "--val-split", "0", "-q"])
        assert r.returncode == 0, r.stderr.decode()
        out[name] = model
    return out


@pytest.mark.parametrize("kind", ["stats", "logmel"])
def test_predict_over_the_corpus(corpus_dir, models, tmp_path, kind):
    root, entries = corpus_dir
    out = tmp_path / "p.csv"
    r = run(["predict", models[kind], root, "-o", out, "-j", "2"])
    assert r.returncode == 1  # some inputs could not be used
    lines = _clean(r.stderr)
    rows = {row["path"]: row for row in csv.DictReader(io.StringIO(out.read_text(encoding="utf-8")))}
    for e in entries:
        if not e.walked or corpus.is_fifo(e.path):
            continue
        p, expect = str(e.path), e.expect_for("predict")
        assert p in rows, f"no row for {p}"
        if expect == "ok":
            assert rows[p]["label"] and not rows[p]["error"], rows[p]
            assert 0 < float(rows[p]["confidence"]) <= 1
        elif expect == "bad":
            assert e.reason in rows[p]["error"] and not rows[p]["label"], rows[p]
            assert f"audiokit: error: {p}: {rows[p]['error']}" in lines
    # --skip-errors: exit 0, error rows left out, each still named on stderr
    r = run(["predict", models[kind], root, "--skip-errors", "-j", "2", "--format", "jsonl"])
    assert r.returncode == 0, r.stderr.decode()
    lines = _clean(r.stderr)
    docs = [json.loads(ln) for ln in r.stdout.decode().splitlines()]
    assert all("error" not in d for d in docs)
    errors = [p for p, row in rows.items() if row["error"]]
    assert {d["path"] for d in docs} == set(rows) - set(errors)
    for p in errors:
        assert any(ln.startswith(f"audiokit: skipped {p}: ") for ln in lines), p


# -- pitch ----------------------------------------------------------------------------------------

def test_pitch_on_every_corpus_file(cli, corpus_dir):
    root, entries = corpus_dir
    outcomes = {}
    for e in entries:
        if corpus.is_fifo(e.path):
            continue
        res = cli("pitch", e.path, "--json", expect=None)
        expect = e.expect_for("pitch")
        lines = _clean(res.stderr)
        assert res.exit_code in (0, 1), (e.path, res.exit_code, res.stderr)
        if res.exit_code == 0:
            doc = json.loads(res.stdout)
            f = doc["files"][0]
            assert f["f0"] is None or 50 <= f["f0"] <= 2000
            if e.kind in ("rates", "depths", "formats", "channels", "names", "extensions"):
                assert f["note"] == "A3", (e.path, f)  # the corpus tone is 220 Hz
        else:
            assert res.stdout == ""
            assert len(lines) == 1 and lines[0].startswith(f"audiokit: error: {e.path}: "), lines
            if e.reason:
                assert e.reason in lines[0]
        ok = res.exit_code == 0
        assert expect == "either" or ok == (expect == "ok"), (e.path, expect, res.stderr)
        outcomes[e.name] = ok
    assert outcomes["silence.wav"] and outcomes["white_noise.wav"]  # "unvoiced", exit 0
    # a pair with a bad file names that file; the good one does not hide it
    good = next(e.path for e in entries if e.name == "pcm_16.wav")
    bad = next(e.path for e in entries if e.name == "nan.wav")
    res = cli("pitch", good, bad, expect=1)
    assert _clean(res.stderr) == [f"audiokit: error: {bad}: contains NaN or infinite samples"]


# -- an unreadable file -----------------------------------------------------------------------------

def _unprivileged() -> list[str] | None:
    """A command prefix under which a mode-000 file cannot be read: nothing when not root;
    as root, setpriv without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (running as 'nobody'
    would not do: the interpreter may live in root's private home)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    cmd = [setpriv, "--bounding-set=-dac_override,-dac_read_search"]
    probe = subprocess.run(cmd + ["true"], capture_output=True)
    return cmd if probe.returncode == 0 else None


def test_unreadable_file(tmp_path):
    prefix = _unprivileged()
    if prefix is None:
        pytest.skip("running as root without setpriv: root reads mode-000 files")
    import soundfile as sf

    d = tmp_path / "data" / "x"
    corpus.unreadable(d / "secret.wav")
    sf.write(str(d / "ok.wav"), corpus.tone(16000), 16000)
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    for args, code in ((["featurize", d.parent, "-f", "mfcc-stats", "-o", tmp_path / "s.h5", "--skip-errors",
                         "-j", "1"], 0),
                       (["pitch", d / "secret.wav"], 1)):
        r = subprocess.run(prefix + AUDIOKIT + [str(a) for a in args], capture_output=True, env=env, timeout=300)
        assert r.returncode == code, r.stderr.decode()
        lines = _clean(r.stderr)
        assert any(f"{d / 'secret.wav'}: unreadable (Permission denied)" in ln for ln in lines), lines
    with _store(tmp_path / "s.h5") as s:
        assert s.paths == [str(d / "ok.wav")]


# -- one hour of audio: memory stays bounded ----------------------------------------------------------

@pytest.fixture(scope="module")
def hour(tmp_path_factory):
    return corpus.long_wav(tmp_path_factory.mktemp("long") / "hour.wav", seconds=3600, sr=8000)


#: Peak resident memory allowed on the one-hour file (MiB); the interpreter with numpy, librosa
#: and scikit-learn loaded takes about 250.
BOUND_MB = 600


def test_one_hour_file_featurize_and_predict_in_bounded_memory(hour, models, tmp_path):
    """The clip of a fixed-duration item, predict's at most 64 windows and the streamed whole-file
    statistics of mfcc-stats: memory does not grow with the file (one hour at 8 kHz is 110 MiB
    of float32 samples, 316 MiB once resampled to 22.05 kHz)."""
    figures = {}
    for name, args in {
        "featurize logmel --duration 3": ["featurize", hour, "-o", tmp_path / "a.h5", "--duration", "3", "-j", "1"],
        "featurize mfcc-stats": ["featurize", hour, "-f", "mfcc-stats", "-o", tmp_path / "b.h5", "-j", "1"],
        "predict (windows)": ["predict", models["logmel"], hour, "-j", "1"],
        "predict (mfcc-stats)": ["predict", models["stats"], hour, "-j", "1"],
    }.items():
        r, mb = corpus.measure(AUDIOKIT + [str(a) for a in args])
        assert r.returncode == 0, r.stderr.decode()
        _clean(r.stderr)
        figures[name] = mb
    print("peak RSS MiB on a 1-hour file:", {k: round(v) for k, v in figures.items()})
    assert max(figures.values()) < BOUND_MB, figures
