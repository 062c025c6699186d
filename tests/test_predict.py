"""`predict MODEL INPUT…`: files, directories, stdin, stores, formats, errors, windows."""

from __future__ import annotations

import csv
import io
import json
import shutil

import numpy as np
import pytest

from helpers import run
from helpers import GROUP_RX, synth_store


@pytest.fixture(scope="module")
def store(instruments_mfcc):
    return instruments_mfcc


@pytest.fixture(scope="module")
def model(tmp_path_factory, store):
    from helpers import Cli

    out = tmp_path_factory.mktemp("predict") / "mlp.h5"
    Cli()("train", store, "-o", out, "--model", "mlp", "--hidden", "32", "--seed", "1", "-q")
    return str(out)


def _rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_directory_with_a_corrupt_file(cli, tmp_path, instruments_dir, model):
    d = tmp_path / "clips"
    for cls in ("flute", "plucked"):
        (d / cls).mkdir(parents=True)
        for src in sorted((instruments_dir / cls).iterdir())[:3]:
            shutil.copy(src, d / cls / src.name)
    (d / "flute" / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    res = cli("predict", model, d, "--top-k", "2", "--workers", "2", expect=1)
    rows = _rows(res.stdout)
    assert list(rows[0]) == ["path", "label", "confidence", "label_2", "confidence_2", "error"]
    paths = [r["path"] for r in rows]
    assert paths == sorted(paths) and len(rows) == 7  # recursive, sorted, every file has a row
    bad = [r for r in rows if r["error"]]
    assert len(bad) == 1 and bad[0]["path"].endswith("broken.wav") and bad[0]["label"] == ""
    assert "broken.wav" in res.stderr and "error" in res.stderr
    good = [r for r in rows if not r["error"]]
    assert all(r["label"] in ("flute", "clarinet", "bowed", "plucked") for r in good)
    assert all(1 >= float(r["confidence"]) >= float(r["confidence_2"]) >= 0 for r in good)
    # --skip-errors: the row is left out, exit 0; -o writes the file atomically
    out = tmp_path / "pred.csv"
    res = cli("predict", model, d, "--skip-errors", "-o", out)
    assert res.stdout == "" and len(_rows(out.read_text())) == 6
    # with errors and -o, the file still holds every row, and the exit status is 1
    cli("predict", model, d, "-o", out, "--workers", "1", expect=1)
    assert len(_rows(out.read_text())) == 7
    assert not list(tmp_path.glob(".pred.csv.*"))  # no temporary left behind


def test_files_and_store_agree(cli, instruments_dir, model, store):
    """Featurizing raw audio with the model's settings gives what the store holds: same predictions."""
    from_files = _rows(cli("predict", model, instruments_dir, "--workers", "2").stdout)
    from_store = _rows(cli("predict", model, store).stdout)
    assert [r["path"] for r in from_files] == [r["path"] for r in from_store]
    assert [r["label"] for r in from_files] == [r["label"] for r in from_store]
    assert np.allclose([float(r["confidence"]) for r in from_files],
                       [float(r["confidence"]) for r in from_store], atol=1e-4)
    assert all(r["true_label"] for r in from_store)  # a store adds its stored labels


def test_stdin_list_jsonl_and_table(cli, instruments_dir, model, store):
    files = sorted(str(p) for p in (instruments_dir / "bowed").iterdir())[:3]
    res = cli("predict", model, "-", "--format", "jsonl", "--top-k", "3", input="\n".join(files) + "\n")
    lines = [json.loads(x) for x in res.stdout.splitlines()]
    assert [x["path"] for x in lines] == files
    assert all(len(x["top_k"]) == 3 and x["top_k"][0]["label"] == x["label"] and x["windows"] == 1 for x in lines)
    with open(store, "rb") as f:  # '-' may also carry a whole store
        rows = _rows(cli("predict", model, "-", input=f.read()).stdout)
    assert len(rows) == 64 and rows[0]["true_label"]
    table = cli("predict", model, *files, "--format", "table").stdout
    assert "confidence" in table and "bowed" in table
    cli("predict", model, files[0], "--format", "xml", expect=2)


def test_output_to_a_fifo_writes_into_it(cli, tmp_path, instruments_dir, model):
    """-o on a FIFO (or /dev/null) writes into it instead of renaming a file over it."""
    import os
    import stat
    import threading

    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    got = {}
    reader = threading.Thread(target=lambda: got.setdefault("text", open(fifo).read()))
    reader.start()
    one = sorted((instruments_dir / "flute").iterdir())[0]
    cli("predict", model, one, "-o", fifo, "--workers", "1")
    reader.join(30)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert got["text"].startswith("path,label,confidence") and str(one) in got["text"]


def test_f0_range_model_points_to_pitch(cli, tmp_path, instruments_dir):
    rng = np.random.default_rng(0)
    X = np.abs(rng.normal(size=(12, 2))) * 100 + 100
    s = synth_store(tmp_path / "f0.h5", X, ["low", "high"] * 6, kind="f0-range")
    cli("train", s, "-o", tmp_path / "v.h5", "--k", "3", "--val-split", "0", "-q")
    res = cli("predict", tmp_path / "v.h5", instruments_dir / "flute", expect=2)
    assert "audiokit pitch LOW HIGH --model" in res.stderr
    assert len(_rows(cli("predict", tmp_path / "v.h5", s).stdout)) == 12  # a store of pairs is fine


def test_long_files_are_windowed(cli, tmp_path):
    """A fixed-duration logmel model (KNN on flattened spectrograms) cuts a long file into windows."""
    from helpers import tone

    d = tmp_path / "tones"
    for i, f0 in enumerate((220, 233, 247, 262, 277, 294)):
        tone(d / "low" / f"a{i}.wav", f0, duration=1.0, harmonics=2)
        tone(d / "high" / f"a{i}.wav", 4 * f0, duration=1.0, harmonics=6)
    st = tmp_path / "lm.h5"
    cli("featurize", d, "-f", "logmel", "--duration", "1.0", "--n-mels", "32", "--sr", "16000", "-o", st, "-q")
    cli("train", st, "-o", tmp_path / "knn.h5", "--model", "knn", "--k", "1", "--val-split", "0", "-q")
    long = tone(tmp_path / "long.wav", 1000, duration=3.4, harmonics=6)
    res = cli("predict", tmp_path / "knn.h5", long, d / "low" / "a0.wav", "--format", "jsonl")
    a, b = [json.loads(x) for x in res.stdout.splitlines()]
    assert a["windows"] == 6 and a["label"] == "high"  # starts 0, .5, ..., 2.0 s and one ending at the end
    assert b["windows"] == 1 and b["label"] == "low"


def test_average_windows_is_the_normalised_geometric_mean():
    from audiokit.predict import average_windows

    p = np.array([[0.7, 0.2, 0.1], [0.4, 0.4, 0.2], [0.6, 0.1, 0.3]])
    g = np.exp(np.log(p).mean(axis=0))
    assert np.allclose(average_windows(p), g / g.sum())
    assert np.array_equal(average_windows(p[:1]), p[0])


def test_bad_inputs(cli, tmp_path, model, store):
    cli("predict", model, tmp_path / "empty_dir_does_not_exist", expect=1)
    (tmp_path / "e").mkdir()
    res = cli("predict", model, tmp_path / "e", expect=1)  # as featurize: an input that cannot be used
    assert "no audio files" in res.stderr and str(tmp_path / "e") in res.stderr
    res = cli("predict", model, store, store, expect=2)
    assert "one store alone" in res.stderr
    res = cli("predict", tmp_path / "nomodel.h5", store, expect=1)
    assert "no such file" in res.stderr


@pytest.mark.slow
def test_whole_chain_through_pipes(tmp_path, instruments_dir):
    """featurize | train, featurize | eval, find | predict: real processes and pipes."""
    d, m, s = instruments_dir, tmp_path / "model.h5", tmp_path / "store.h5"
    feat = f"audiokit featurize {d} -f mfcc-stats --group-regex '{GROUP_RX}' -o - -q"
    r = run(f"{feat} | tee {s} | audiokit train - -o {m} --model svm --folds 4 --json > {tmp_path}/train.json",
            shell=True)
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "train.json").read_text())["cv"]["k"] == 4
    r = run(f"audiokit eval {m} - --json < {s}", shell=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["items"] == 64
    r = run(f"find {d}/flute -name '*.wav' | sort | audiokit predict {m} - | tail -n +2 | cut -d, -f2 | sort | uniq -c",
            shell=True)
    assert r.returncode == 0, r.stderr
    n_wav = len(list((d / "flute").rglob("*.wav")))
    counts = {lab: int(n) for n, lab in (x.split() for x in r.stdout.decode().splitlines())}
    assert sum(counts.values()) == n_wav > 0 and set(counts) <= {"flute", "clarinet", "bowed", "plucked"}


def test_summary_counts_the_wall_time_of_the_whole_process(tmp_path, instruments_dir, model):
    """The closing line's seconds include start-up and model loading (what the user waited), and
    its rate is over that time: files / seconds as printed."""
    import re
    import time

    t0 = time.perf_counter()
    r = run(["predict", model, instruments_dir / "flute", "-o", tmp_path / "p.csv"])
    outside = time.perf_counter() - t0
    assert r.returncode == 0, r.stderr
    line = r.stderr.decode().strip().splitlines()[-1]
    m = re.search(r"predict: (\d+) of (\d+) files in ([\d.]+) s \((\d+) files/s; ([\d.]+) s of it to start", line)
    assert m, line
    done, wall, rate, start = int(m[1]), float(m[3]), int(m[4]), float(m[5])
    assert done == int(m[2]) == len([p for p in (instruments_dir / "flute").rglob("*") if p.is_file()])
    assert 0.5 * outside - 0.1 <= wall <= outside + 0.05  # the interpreter's own start-up is not counted
    # the rate is over the unrounded seconds: within what rounding the printed ones to 0.1 s allows
    assert 0 < start < wall and done / (wall + 0.05) - 1 <= rate <= done / max(wall - 0.05, 1e-3) + 1
