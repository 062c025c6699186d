"""What a first-time user of the CLI meets, each checked through the command line on audio
files the tests write: pitch outside --fmin/--fmax, --harmonics bounded by the band, a
pair far from every voice type, many files at once; `train -o -` on a terminal; `info` on a
model (scores, protocol); --device validated everywhere; a deep run's header printed once on
a terminal; tables in a pipe neither wrapped nor padded; predict/eval exit codes, empty output
on failure, --top-k beyond the classes; help placeholders, case-insensitive choices,
completion of --optimizer/--scheduler, whole-number plot ticks."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import select
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from helpers import AUDIOKIT, make_tones, run, tone

ERR = re.compile(r"^audiokit: error: .+\n$")


def one_error_line(res, *, code: int, text: str) -> None:
    """Exit ``code``, stdout empty, stderr exactly one error line containing ``text``."""
    assert res.exit_code == code, (res.exit_code, res.stdout, res.stderr)
    assert res.stdout == "", res.stdout
    assert ERR.match(res.stderr) and text in res.stderr, res.stderr
    assert "Traceback" not in res.stderr


def on_pty(args, *, cwd, stderr_too: bool, timeout: float = 300) -> tuple[int, str, str]:
    """Run audiokit with stdout on a pseudo-terminal (and stderr too with ``stderr_too``): the
    exit status, what the terminal showed, and stderr when it went to a pipe."""
    master, slave = os.openpty()
    p = subprocess.Popen(AUDIOKIT + [str(a) for a in args], cwd=cwd, stdin=subprocess.DEVNULL, stdout=slave,
                         stderr=slave if stderr_too else subprocess.PIPE)
    os.close(slave)
    screen = b""
    try:
        while True:
            ready, _, _ = select.select([master], [], [], timeout)
            if not ready:
                p.kill()
                pytest.fail(f"audiokit {' '.join(map(str, args))} ran over {timeout} s")
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed its side of the terminal
                break
            if not chunk:
                break
            screen += chunk
    finally:
        os.close(master)
    err = p.stderr.read().decode() if p.stderr else ""
    return p.wait(timeout=timeout), screen.decode(errors="replace").replace("\r\n", "\n"), err


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """4 timbre classes × 8 notes of 2 speakers, an mfcc-stats and a logmel store, a KNN model."""
    from typer.testing import CliRunner

    from audiokit.cli import app

    root = tmp_path_factory.mktemp("usability")
    make_tones(root / "tones", per_class=8, speakers=2, sr=8000, duration=0.5)
    runner = CliRunner()
    for args in (["featurize", root / "tones", "-f", "mfcc-stats", "-o", root / "ms.h5", "-j", "1", "-q"],
                 ["featurize", root / "tones", "-f", "logmel", "-o", root / "lm.h5", "-j", "1", "-q"],
                 ["train", root / "ms.h5", "--model", "knn", "--k", "3", "-o", root / "knn.h5", "-q"]):
        res = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
        assert res.exit_code == 0, res.stderr
    (root / "empty").mkdir()
    return root


# -- pitch outside the band, --harmonics, a pair outside every range -----------------------------

def piano(path: Path, f0: float, *, sr=44100, dur=2.0, first=0.3) -> Path:
    """A struck string: partials of slightly stretched harmonics decaying faster the higher they are,
    the fundamental weaker than the next partials (as a piano's lowest notes)."""
    t = np.arange(int(sr * dur)) / sr
    y = np.zeros_like(t)
    for k in range(1, 31):
        f = k * f0 * np.sqrt(1 + 2e-4 * k * k)
        if f > 0.45 * sr:
            break
        y += (first if k == 1 else k ** -0.7) * np.sin(2 * np.pi * f * t) * np.exp(-t * (0.5 + 0.3 * k))
    y *= np.minimum(1, t / 0.005)
    sf.write(path, 0.5 * y / np.abs(y).max(), sr, subtype="PCM_16")
    return path


def test_pitch_above_fmax_is_a_warning_naming_fmax(cli, tmp_path):
    p = tone(tmp_path / "t2640.wav", 2640.0)
    for method in ("yin", "hps"):  # hps found nothing but an internal error here before
        r = cli("pitch", p, "--json", "--method", method)
        (f,) = json.loads(r.stdout)["files"]
        assert f["f0"] < 2000  # what the band holds: a sub-harmonic (E6 1320 Hz)...
        assert len(f["warnings"]) == 1 and "--fmax" in f["warnings"][0] and "2640 Hz" in f["warnings"][0]
        assert r.stderr.count("\n") == 1 and "warning" in r.stderr and "--fmax" in r.stderr  # ...said so
    d = json.loads(cli("pitch", p, "--json", "--fmax", "3300").stdout)["files"][0]
    assert abs(1200 * np.log2(d["f0"] / 2640)) < 50 and d["note"] == "E7" and d["warnings"] == []


def test_pitch_below_fmin_and_at_the_edge_warn_naming_fmin(cli, tmp_path):
    a0 = piano(tmp_path / "a0.wav", 27.5)
    r = cli("pitch", a0, "--method", "hps", "--json")
    f = json.loads(r.stdout)["files"][0]
    assert f["note"] == "A1" and "--fmin" in f["warnings"][0] and "27.6 Hz" in f["warnings"][0]
    assert "--fmin" in r.stderr
    f = json.loads(cli("pitch", a0, "--method", "hps", "--fmin", "22", "--json").stdout)["files"][0]
    assert f["note"] == "A0" and f["warnings"] == []
    edge = tone(tmp_path / "g1.wav", 51.0)
    r = cli("pitch", edge)
    assert "within a semitone of --fmin 50 Hz" in r.stderr and "51.00" in r.stdout
    # an ordinary note says nothing
    assert cli("pitch", tone(tmp_path / "a4.wav", 440.0), "--method", "hps").stderr == ""


def test_harmonics_are_bounded_by_the_band(cli, tmp_path):
    a4 = tone(tmp_path / "a4.wav", 440.0)
    r = cli("pitch", a4, "--method", "hps", "--harmonics", "100", expect=2)
    one_error_line(r, code=2, text="--harmonics 100 is more than the band allows: with --fmax 2000 Hz at most 12")
    d = json.loads(cli("pitch", a4, "--method", "hps", "--harmonics", "12", "--json").stdout)["files"][0]
    assert d["note"] == "A4"
    cli("pitch", a4, "--method", "hps", "--harmonics", "40", "--fmax", "600")  # a lower band allows more
    cli("pitch", a4, "--harmonics", "100")  # yin multiplies no spectra: --harmonics is not used


def test_pair_far_from_every_voice_type_says_so(cli, tmp_path):
    lo, hi = tone(tmp_path / "lo.wav", 98.0), tone(tmp_path / "hi.wav", 784.0)  # G2-G5: 36 semitones
    r = cli("pitch", lo, hi)
    assert "outside the voice-type model's ranges" in r.stderr and "5.8 semitones" in r.stderr
    assert "outside the model's ranges" in r.stdout
    pair = json.loads(cli("pitch", lo, hi, "--json").stdout)["pair"]
    assert pair["range_semitones"] == pytest.approx(36, abs=0.1) and len(pair["warnings"]) == 1
    lo, hi = tone(tmp_path / "c3.wav", 130.81), tone(tmp_path / "c5.wav", 523.25)  # a tenor's range
    r = cli("pitch", lo, hi, "--json")
    assert json.loads(r.stdout)["pair"]["warnings"] == [] and r.stderr == ""


# -- many files ------------------------------------------------------------------------------

def test_pitch_takes_many_files_one_row_each(cli, tmp_path):
    files = [tone(tmp_path / f"n{i}.wav", f) for i, f in enumerate((220.0, 330.0, 440.0))]
    sf.write(tmp_path / "quiet.wav", np.zeros(22050), 22050)
    files.append(tmp_path / "quiet.wav")
    table = cli("pitch", *files).stdout
    rows = [ln for ln in table.splitlines() if "│" in ln]
    assert [ln.split("│")[0].strip() for ln in rows] == [str(f) for f in files]
    assert "unvoiced" in rows[-1] and "voice type" not in table
    d = json.loads(cli("pitch", *files, "--json").stdout)
    assert d["pair"] is None and [f["role"] for f in d["files"]] == ["single"] * 4
    assert [f["note"] for f in d["files"]] == ["A3", "E4", "A4", None]
    out = cli("pitch", *files, "--csv").stdout
    got = list(csv.DictReader(io.StringIO(out)))
    assert out.splitlines()[0] == ("path,role,voiced,f0,note,midi,cents,confidence,voiced_share,sr,duration,"
                                   "voice_type,warnings")
    assert [g["path"] for g in got] == [str(f) for f in files] and [g["voiced"] for g in got][-2:] == ["true", "false"]
    assert {g["voice_type"] for g in got} == {""} and got[-1]["f0"] == ""
    # exactly two files: a pair, and its voice type on both CSV rows
    got = list(csv.DictReader(io.StringIO(cli("pitch", tone(tmp_path / "c3.wav", 130.81),
                                              tone(tmp_path / "c5.wav", 523.25), "--csv").stdout)))
    assert [g["role"] for g in got] == ["low", "high"] and {g["voice_type"] for g in got} == {"tenor"}
    # usage errors
    one_error_line(cli("pitch", *files, "--voice", "male", expect=2), code=2, text="exactly two files")
    one_error_line(cli("pitch", files[0], "--csv", "--json", expect=2), code=2, text="--csv or --json")
    one_error_line(cli("pitch", files[0], "--csv", "--frames", expect=2), code=2, text="leave --csv out")
    # one bad file among many: one line naming it, nothing on stdout
    one_error_line(cli("pitch", files[0], tmp_path / "missing.wav", files[1], expect=1), code=1,
                   text="missing.wav: no such file")


# -- a binary model to a terminal ---------------------------------------------------------------

@pytest.mark.slow
def test_train_refuses_to_write_a_model_to_a_terminal(data):
    rc, screen, err = on_pty(["train", "ms.h5", "--model", "knn", "-o", "-"], cwd=data, stderr_too=False)
    assert rc == 2 and screen == "", screen
    assert err.count("\n") == 1 and ERR.match(err) and "refusing to write a binary HDF5 model to a terminal" in err
    # to a pipe it is still the model file
    res = run(["train", "ms.h5", "--model", "knn", "-o", "-", "-q"], cwd=data)
    assert res.returncode == 0 and res.stdout[:8] == b"\x89HDF\r\n\x1a\n"


# -- info on a model ---------------------------------------------------------------------------

def _table(out: str) -> dict[str, str]:
    rows = {}
    for ln in out.splitlines():
        m = re.match(r"^\s*(\S.*?)\s{2,}(\S.*)$", ln)
        if m:
            rows[m.group(1).strip()] = m.group(2)
    return rows


def test_info_shows_the_runs_scores_with_their_protocol(cli, data):
    out = cli("info", data / "knn.h5").stdout
    rows = _table(out)
    assert re.fullmatch(r"accuracy \d+\.\d %, macro-F1 \d+\.\d %", rows["validation"]), rows
    report = json.loads(cli("info", data / "knn.h5", "--json").stdout)["metrics"]["validation"]
    assert rows["protocol"] == report["protocol"]["text"]
    assert f"{100 * report['accuracy']:.1f} %" in rows["validation"]
    assert rows["trained on"].startswith("32 items of ")
    assert "metrics" not in rows and "=" not in rows["validation"]
    assert all(ln == ln.rstrip() for ln in out.splitlines())  # no padding (13)


def test_info_on_a_deep_models_report_and_class_counts(cli, tmp_path):
    """A deep run's metrics as audiokit.training.deep records them (flat figures beside the blocks,
    best_epoch None without early stopping), cross-validation, and counts when the file has them."""
    from audiokit.features import FeatureConfig
    from audiokit.modelfile import ModelFile, save_model

    val = {"n": 6, "accuracy": 0.8333333333333334, "macro_f1": 0.8, "best_epoch": None, "epochs_run": 10,
           "protocol": {"text": "validation on 2 unseen groups of 8 (6 items; trained on 24 items of 6 groups)"}}
    p = tmp_path / "deep.h5"
    save_model(str(p), ModelFile(kind="specresnet", class_names=["a", "b"], feature_config=FeatureConfig(kind="logmel"),
                                 arrays={"w": np.zeros(3, np.float32)}, params={"arch": "specresnet"},
                                 training={"items": 30, "store": "lm.h5", "trained_on": 30, "refit": True,
                                           "class_counts": {"a": 12, "b": 18}},
                                 metrics={"validation": val, "val_accuracy": val["accuracy"], "best_epoch": None,
                                          "epochs_run": 10}))
    out = cli("info", p).stdout
    rows = _table(out)
    assert rows["validation"] == "accuracy 83.3 %, macro-F1 80.0 %"
    assert rows["protocol"] == val["protocol"]["text"]
    assert "0.8333" not in out and "None" not in out
    assert rows["a"] == "12" and rows["b"] == "18" and rows["class"] == "items"
    fold = {"n": 5, "accuracy": 0.8, "macro_f1": 0.7,
            "protocol": {"text": "scored on 1 unseen group of 5 (5 items; trained on 20 items of 4 groups)"}}
    cv = {"folds": [fold] * 5,
          "accuracy": {"mean": 0.915, "std": 0.008}, "macro_f1": {"mean": 0.9, "std": 0.01}}
    save_model(str(p), ModelFile(kind="specresnet", class_names=["a", "b"], feature_config=FeatureConfig(kind="logmel"),
                                 arrays={"w": np.zeros(3, np.float32)}, params={}, metrics={"cv": cv}))
    rows = _table(cli("info", p).stdout)
    assert rows["5-fold CV"] == "accuracy 91.5 % ± 0.8 %, macro-F1 90.0 % ± 1.0 % (mean ± std over folds)"
    assert rows["protocol"].startswith("fold 1 scored on 1 unseen group")
    assert "items" not in rows.get("class", "")  # no counts in this file: the classes alone


# -- --device ---------------------------------------------------------------------------------

def test_device_is_validated_by_every_command_that_takes_it(cli, data, tmp_path):
    wav = next((data / "tones" / "sine").glob("*.wav"))
    commands = {"train": ["train", data / "ms.h5", "--model", "knn", "-o", tmp_path / "m.h5"],
                "eval": ["eval", data / "knn.h5", data / "ms.h5"],
                "predict": ["predict", data / "knn.h5", wav]}
    for name, args in commands.items():
        one_error_line(cli(*args, "--device", "banana", expect=2), code=2,
                       text="--device must be auto, cpu, cuda or cuda:N, got 'banana'")
        for spec in ("cuda", "cuda:1"):  # a scikit-learn model: refused whether or not a GPU is there
            one_error_line(cli(*args, "--device", spec, expect=2), code=2, text="knn models run on the CPU")
        cli(*args, "--device", "CPU", "-q")  # the spellings are case-insensitive


# -- a deep run on a terminal ---------------------------------------------

@pytest.mark.slow
def test_deep_train_on_a_terminal_prints_its_header_once(data, tmp_path):
    rc, screen, _ = on_pty(["train", "lm.h5", "--model", "specresnet", "--epochs", "1", "--val-split", "0",
                            "--batch-size", "16", "-o", tmp_path / "d.h5"], cwd=data, stderr_too=True)
    assert rc == 0, screen
    head = [ln for ln in screen.splitlines() if "specresnet on 32 items" in ln]
    assert len(head) == 1, screen
    assert sum("device cpu" in ln or "device cuda" in ln for ln in screen.splitlines()) == 1, screen
    assert "model → " in screen  # the rest of the summary is still there
    # to a file, stdout keeps the whole summary (the header too)
    res = run(["train", "lm.h5", "--model", "specresnet", "--epochs", "1", "--val-split", "0", "--batch-size", "16",
               "-o", tmp_path / "d2.h5"], cwd=data)
    assert res.returncode == 0 and "specresnet on 32 items" in res.stdout.decode()
    import torch

    if not torch.cuda.is_available():  # a deep model asks PyTorch: no GPU is one error line, exit 2
        res = run(["predict", tmp_path / "d.h5", next((data / "tones" / "saw").glob("*.wav")), "--device", "cuda"])
        err = res.stderr.decode()
        assert res.returncode == 2 and res.stdout == b"" and ERR.match(err) and "no CUDA GPU" in err


# -- tables into a pipe --------------------------------------------------------------------------

@pytest.mark.slow
def test_tables_in_a_pipe_are_not_wrapped_or_padded(data, tmp_path):
    d = tmp_path / ("recordings of the second singer, session " + "x" * 40) / "take 1"
    low, high = tone(d / "singer2_low.wav", 130.81), tone(d / "singer2_high.wav", 523.25)
    for env in ({}, {"COLUMNS": "200"}, {"COLUMNS": "40"}):
        res = run(f"audiokit pitch '{low}' '{high}' | grep singer2_low.wav", shell=True, env=env)
        assert res.returncode == 0, (env, res.stdout, res.stderr)
        line = res.stdout.decode().strip()
        assert str(low) in line and "C3" in line and "\n" not in line
    res = run(["info", data / "ms.h5"], env={"COLUMNS": "40"})
    lines = res.stdout.decode().splitlines()
    assert lines and all(ln == ln.rstrip() for ln in lines)
    assert any(ln.startswith("features") and "n_mfcc=20" in ln for ln in lines)  # one line, not wrapped
    res = run(["eval", data / "knn.h5", data / "ms.h5"], env={"COLUMNS": "40"})
    assert res.returncode == 0 and all(ln == ln.rstrip() for ln in res.stdout.decode().splitlines())


# -- predict/eval: exit codes, empty output on failure, --top-k -------------------------------------

def test_predict_and_eval_failures_match_the_exit_code_table(cli, data, tmp_path):
    wav = next((data / "tones" / "sine").glob("*.wav"))
    one_error_line(cli("predict", data / "knn.h5", data / "empty", expect=1), code=1,
                   text=f"{data / 'empty'}: no audio files found")
    one_error_line(cli("predict", data / "knn.h5", wav, "-o", tmp_path / "no" / "p.csv", expect=1), code=1,
                   text="output directory does not exist")
    one_error_line(cli("eval", data / "knn.h5", data / "ms.h5", "--plot", tmp_path / "no" / "cm.png", expect=1),
                   code=1, text="output directory does not exist")
    one_error_line(cli("train", data / "ms.h5", "--model", "knn", "-o", tmp_path / "no" / "m.h5", expect=1),
                   code=1, text="output directory does not exist")
    # a store of other features than the model's: no CSV header before the error
    one_error_line(cli("predict", data / "knn.h5", data / "lm.h5", expect=1), code=1,
                   text="store does not match the model's features")
    cli("predict", data / "knn.h5", data / "lm.h5", "-o", tmp_path / "p.csv", expect=1)
    assert not (tmp_path / "p.csv").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_top_k_beyond_the_classes_is_lowered_with_a_warning(cli, data):
    wav = next((data / "tones" / "sine").glob("*.wav"))
    r = cli("predict", data / "knn.h5", wav, "--top-k", "9")
    header, row = r.stdout.splitlines()
    assert header == ("path,label,confidence,label_2,confidence_2,label_3,confidence_3,label_4,confidence_4,error")
    assert all(cell != "" for cell in row.split(",")[:9])
    assert "--top-k 9 is more than the model's 4 classes" in r.stderr
    r = cli("eval", data / "knn.h5", data / "ms.h5", "--top-k", "10", "--json")
    assert list(json.loads(r.stdout)["top_k"]) == ["3"] and "--top-k 10" in r.stderr and "top-3" in r.stderr
    r = cli("eval", data / "knn.h5", data / "ms.h5", "--json")  # the default says nothing
    assert list(json.loads(r.stdout)["top_k"]) == ["3"] and "top-k" not in r.stderr and "warning" not in r.stderr
    assert "top-3" in cli("eval", data / "knn.h5", data / "ms.h5", "--top-k", "10").stdout


# -- help, choices, completion, plots -------------------------------------------------------------

USAGES = {"featurize": "[INPUT...]", "info": "FILE", "pitch": "FILE...", "train": "STORE", "eval": "MODEL STORE",
          "predict": "MODEL INPUT..."}


@pytest.mark.parametrize("name", sorted(USAGES))
def test_help_placeholders_are_words_not_python_types(cli, name):
    out = cli(name, "--help").stdout
    assert out.splitlines()[0] == f"Usage: audiokit {name} [OPTIONS] {USAGES[name]}"
    for bad in ("<str>", "<int", "<float", "list[", "{", "}"):
        assert bad not in out.split("Examples:")[0], (name, bad)
    for line in out.split("Options:")[1].split("Examples:")[0].splitlines():
        m = re.match(r"^  (?:-\w, )?(--[\w-]+)(?: ([^/\s]\S*))?\s", line)  # not '--x / --no-x'
        if m and m.group(2):
            assert re.fullmatch(r"[A-Z][A-Z0-9_.|/]*", m.group(2)), (name, line)


def test_choices_are_case_insensitive(cli, data, tmp_path):
    lo, hi = tone(tmp_path / "lo.wav", 196.0), tone(tmp_path / "hi.wav", 784.0)
    d = json.loads(cli("pitch", lo, hi, "--voice", "Male", "--method", "HPS", "--json").stdout)
    assert d["pair"]["voice"] == "male" and d["method"] == "hps" and d["pair"]["voice_type"] == "tenor"
    one_error_line(cli("pitch", lo, hi, "--voice", "child", expect=2), code=2, text="--voice must be female or male")
    wav = next((data / "tones" / "sine").glob("*.wav"))
    assert cli("predict", data / "knn.h5", wav, "--format", "JSONL").stdout.startswith("{")
    cli("train", data / "ms.h5", "--model", "KNN", "--k", "3", "-o", tmp_path / "m.h5", "-q")


def test_completion_offers_optimizer_and_scheduler_values():
    from audiokit.training.engine import OPTIMIZERS, SCHEDULERS  # what the engine accepts

    assert set(OPTIMIZERS) == {"adamw", "adam", "sgd"} and set(SCHEDULERS) == {"onecycle", "plateau", "cosine", "none"}
    for flag, want in (("--optimizer", set(OPTIMIZERS)), ("--scheduler", set(SCHEDULERS))):
        res = run([], env={"_AUDIOKIT_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": f"audiokit train {flag} "})
        assert res.returncode == 0
        got = set(re.findall(r'"([a-z]+)"', res.stdout.decode()))
        assert want <= got, (flag, res.stdout)


@pytest.mark.slow
def test_plots_of_k_and_epochs_have_whole_number_ticks(cli, data, tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    ticks: list[list[float]] = []
    original = Figure.savefig

    def spy(fig, *args, **kwargs):
        fig.canvas.draw()
        ticks.extend([list(ax.get_xticks()) for ax in fig.axes if ax.get_lines()])
        return original(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", spy)
    cli("train", data / "ms.h5", "--model", "knn", "--k", "1..4", "-o", tmp_path / "k.h5", "--plot", tmp_path / "k.png",
        "-q")
    assert (tmp_path / "k.png").stat().st_size > 0
    from audiokit.training.deep import plot_curves  # the deep kinds' curves go through the same save_figure

    plot_curves(str(tmp_path / "c.png"), [{"run": "train", "epoch": e, "train_loss": 1.0 / e, "val_loss": 1.1 / e,
                                           "val_acc": 0.5 + e / 10} for e in (1, 2, 3)])
    assert len(ticks) == 3
    for t in ticks:
        assert t and all(float(x).is_integer() for x in t), ticks


def test_the_library_names_the_band_parameters_not_flags(tmp_path):
    """The same warning from a Python call names the parameter; only the CLI speaks of --fmax."""
    from audiokit.pitch.report import analyze_file

    p = tone(tmp_path / "t2640.wav", 2640.0)
    (text,) = analyze_file(str(p), method="yin", fmin=50.0, fmax=2000.0).warnings
    assert "raise fmax (e.g. fmax 3300)" in text and "--" not in text
    (flagged,) = analyze_file(str(p), method="yin", fmin=50.0, fmax=2000.0,
                              names={"fmin": "--fmin", "fmax": "--fmax"}).warnings
    assert flagged == text.replace("fmax", "--fmax")
