"""Flags of `featurize` and `train` that change the result, each checked through the CLI for its
effect on the store, the model file or the report, and for one clear error on a bad value."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from audiokit.modelfile import load_model
from audiokit.models import classic
from audiokit.store import open_store
from helpers import TONE_CLASSES, make_tones, tone


def _error_line(res) -> str:
    """The one stderr line of a refused run."""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    return lines[0]


def test_group_by_none_ignores_the_store_groups_and_a_regex_makes_new_ones(cli, instruments_mfcc, tmp_path):
    cli("train", instruments_mfcc, "-o", tmp_path / "none.h5", "--model", "knn", "--group-by", "none", "-q")
    report = json.loads((tmp_path / "none.report.json").read_text())
    assert not report["grouped"] and report["n_groups"] is None
    assert "no groups" in report["validation"]["protocol"]["text"]
    # notes 000-015 of each class, grouped by their tens digit: two groups
    cli("train", instruments_mfcc, "-o", tmp_path / "rx.h5", "--model", "knn", "--group-by", r"_\d(\d)\d", "-q")
    report = json.loads((tmp_path / "rx.report.json").read_text())
    assert report["grouped"] and report["n_groups"] == 2, report["n_groups"]


def test_svm_kernel_and_gamma_reach_the_saved_model(cli, instruments_mfcc, tmp_path):
    cli("train", instruments_mfcc, "-o", tmp_path / "lin.h5", "--model", "svm", "--kernel", "linear", "-q")
    mf = load_model(str(tmp_path / "lin.h5"))
    assert mf.params["kernel"] == "linear" and classic.from_modelfile(mf).predictor.kernel == "linear"
    cli("train", instruments_mfcc, "-o", tmp_path / "rbf.h5", "--model", "svm", "--gamma", "0.05", "-q")
    mf = load_model(str(tmp_path / "rbf.h5"))
    assert mf.params["kernel"] == "rbf" and mf.params["gamma"] == 0.05
    assert classic.from_modelfile(mf).predictor.gamma == 0.05
    for flag, value in (("--kernel", "poly"), ("--gamma", "wide"), ("--gamma", "-1")):
        res = cli("train", instruments_mfcc, "-o", tmp_path / "bad.h5", "--model", "svm", flag, value, expect=2)
        assert flag in _error_line(res) and not (tmp_path / "bad.h5").exists()


def test_mlp_alpha_and_max_iter_reach_the_estimator(cli, instruments_mfcc, tmp_path):
    out = tmp_path / "mlp.h5"
    cli("train", instruments_mfcc, "-o", out, "--model", "mlp", "--hidden", "16", "--alpha", "0.01",
        "--max-iter", "7", "--val-split", "0", "-q")
    mf = load_model(str(out))
    assert mf.params["alpha"] == 0.01 and mf.params["max_iter"] == 7
    assert mf.params["n_iter"] == 7  # the optimiser stopped at max_iter
    assert classic.from_modelfile(mf).params == {"hidden": [16], "alpha": 0.01, "max_iter": 7}
    for flag, value in (("--alpha", "-1"), ("--max-iter", "0")):
        res = cli("train", instruments_mfcc, "-o", out, "--model", "mlp", flag, value, expect=2)
        assert flag in _error_line(res)


def test_top_db_bounds_each_log_mel_below_its_peak(cli, instruments_dir, tmp_path):
    files = sorted(instruments_dir.rglob("*.wav"))[:4]
    for db in (80, 20):
        out = tmp_path / f"lm{db}.h5"
        cli("featurize", *files, "--duration", "1", "--top-db", db, "-o", out, "-q")
        with open_store(str(out)) as s:
            assert s.config.top_db == db
            X = s.load_features()
        spans = [float(x.max() - x.min()) for x in X]
        assert max(spans) <= db + 1e-3, spans
        if db == 20:
            assert min(spans) > 19, spans  # the floor is reached: notes decay well below 20 dB
    res = cli("featurize", *files, "--top-db", "0", "-o", tmp_path / "bad.h5", expect=2)
    assert "top" in _error_line(res).lower() and not (tmp_path / "bad.h5").exists()


def test_f0_method_is_recorded_and_used(cli, tmp_path):
    d = tmp_path / "tenor"
    tone(d / "ann_low.wav", 130, duration=0.8)
    tone(d / "ann_high.wav", 520, duration=0.8)
    values = {}
    for method in ("hps", "yin"):
        out = tmp_path / f"{method}.h5"
        cli("featurize", tmp_path / "tenor", "-f", "f0-range", "--f0-method", method, "-o", out, "-q")
        with open_store(str(out)) as s:
            assert s.config.f0_method == method
            values[method] = s.load_features()[0]
        np.testing.assert_allclose(values[method], [130, 520], rtol=0.03)
    res = cli("featurize", tmp_path / "tenor", "-f", "f0-range", "--f0-method", "guess", "-o", tmp_path / "x.h5",
              expect=2)
    assert "--f0-method" in _error_line(res)


@pytest.fixture(scope="module")
def tiny_logmel(tmp_path_factory):
    """24 timbre tones (4 classes, 3 speakers) as 32 × 32 log-mels."""
    root = tmp_path_factory.mktemp("flags-deep")
    audio = make_tones(root / "tones", per_class=6, speakers=3)
    store = root / "lm.h5"
    from helpers import Cli

    Cli()("featurize", audio, "--sr", "8000", "--n-fft", "256", "--hop-length", "128", "--n-mels", "32",
          "--duration", "0.5", "-o", store, "-q")
    return store


@pytest.mark.slow
def test_deep_lr_class_weights_and_history_reach_the_run(cli, tiny_logmel, tmp_path, one_torch_thread):
    pytest.importorskip("torch")
    out, hist = tmp_path / "spec.h5", tmp_path / "curves" / "h.csv"
    hist.parent.mkdir()
    cli("train", tiny_logmel, "-o", out, "--model", "specresnet", "--epochs", "2", "--batch-size", "8",
        "--val-split", "0", "--device", "cpu", "--checkpoint", "none", "--lr", "0.003",
        "--class-weights", "1,2,1,1", "--history", hist, "-q")
    engine = load_model(str(out)).training["engine"]
    assert engine["lr"] == 0.003 and engine["class_weights"] == "1,2,1,1"
    rows = list(csv.DictReader(hist.open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2], rows
    assert not (tmp_path / "spec.history.csv").exists()  # --history moved it
    # the one-cycle schedule peaks at --lr
    assert max(float(r["lr"]) for r in rows) <= 0.003 + 1e-12
    n = len(TONE_CLASSES)
    for flag, value in (("--lr", "-1"), ("--class-weights", "1,2"), ("--class-weights", "heavy")):
        res = cli("train", tiny_logmel, "-o", tmp_path / "bad.h5", "--model", "specresnet", "--epochs", "1",
                  "--device", "cpu", "-q", flag, value, expect=2)
        line = _error_line(res)
        assert flag in line and not (tmp_path / "bad.h5").exists(), line
        if flag == "--class-weights":
            assert f"{n} non-negative numbers" in line
