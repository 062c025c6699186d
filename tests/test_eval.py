"""`eval MODEL STORE`: scikit-learn's numbers, tables, plot, unknown classes, bad input."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from audiokit import models
from audiokit.store import open_store
from helpers import synth_store


@pytest.fixture(scope="module")
def store(instruments_mfcc):
    return instruments_mfcc


@pytest.fixture(scope="module")
def model(tmp_path_factory, store):
    from helpers import Cli

    out = tmp_path_factory.mktemp("eval") / "knn.h5"
    Cli()("train", store, "-o", out, "--model", "knn", "--k", "5", "-q")
    return str(out)


def test_numbers_equal_sklearn(cli, store, model, tmp_path):
    from sklearn import metrics as M

    res = cli("eval", model, store, "--json", "--top-k", "2", "--plot", tmp_path / "cm.png")
    rep = json.loads(res.stdout)
    clf = models.load(model)
    with open_store(store) as s:
        proba = clf.predict_proba(s.X)
        y = s.labels
    pred = proba.argmax(axis=1)  # model classes == store classes here
    assert rep["items"] == 64 and rep["classes"] == clf.class_names and rep["kind"] == "knn"
    assert rep["accuracy"] == M.accuracy_score(y, pred)
    for avg in ("macro", "weighted"):
        p, r, f, _ = M.precision_recall_fscore_support(y, pred, average=avg, zero_division=0)
        assert (rep[avg]["precision"], rep[avg]["recall"], rep[avg]["f1"]) == (p, r, f)
    p, r, f, sup = M.precision_recall_fscore_support(y, pred, zero_division=0)
    assert [c["f1"] for c in rep["per_class"]] == f.tolist()
    assert [c["support"] for c in rep["per_class"]] == sup.tolist()
    assert rep["confusion_matrix"]["matrix"] == M.confusion_matrix(y, pred).tolist()
    assert rep["top_k"]["2"] == M.top_k_accuracy_score(y, proba, k=2)
    assert rep["unknown_classes"] == {}
    assert rep["windowing"] is None  # the store's items are the model's (tests/test_windows.py: other durations)
    png = (tmp_path / "cm.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_table_output(cli, store, model):
    res = cli("eval", model, store)
    out = res.stdout
    for text in ("accuracy", "top-3 accuracy", "macro precision / recall / F1", "per class",
                 "confusion matrix (rows: true, columns: predicted)", "flute", "plucked"):
        assert text in out, text
    # stderr: only the closing line, with the wall time since the process started
    assert re.fullmatch(r"audiokit: eval: \d+ items in \d+\.\d s\n", res.stderr), res.stderr
    assert cli("eval", model, store, "-q").stderr == ""


def test_classes_unknown_to_the_model_are_reported(cli, tmp_path):
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 10)
    X = rng.normal(size=(30, 3)) + 5 * np.eye(3)[y]
    names = ["a", "b", "c"]
    two = synth_store(tmp_path / "two.h5", X[y < 2], [names[v] for v in y[y < 2]])
    three = synth_store(tmp_path / "three.h5", X, [names[v] for v in y])
    cli("train", two, "-o", tmp_path / "m.h5", "--model", "logreg", "-q")
    res = cli("eval", tmp_path / "m.h5", three, "--json")
    rep = json.loads(res.stdout)
    assert rep["unknown_classes"] == {"c": 10}
    assert rep["items"] == 30 and rep["classes"] == ["a", "b"]
    assert rep["per_class"][-1]["class"] == "c" and rep["per_class"][-1]["known"] is False
    assert rep["per_class"][-1]["recall"] == 0.0
    assert rep["confusion_matrix"]["rows"] == ["a", "b", "c"] and len(rep["confusion_matrix"]["matrix"][2]) == 2
    assert sum(rep["confusion_matrix"]["matrix"][2]) == 10
    assert rep["accuracy"] <= 20 / 30 and rep["known_classes"]["items"] == 20
    assert "unknown to the model" in res.stderr and "c (10 items)" in res.stderr
    table = cli("eval", tmp_path / "m.h5", three).stdout
    assert "c (unknown to the model)" in table


def test_bad_input(cli, tmp_path, model, store):
    rng = np.random.default_rng(1)
    nolab = synth_store(tmp_path / "nolab.h5", rng.normal(size=(6, 40)), [None] * 6)
    res = cli("eval", model, nolab, expect=1)
    assert "no labels" in res.stderr and res.stderr.count("\n") == 1
    res = cli("eval", model, tmp_path / "nothere.h5", expect=1)
    assert "no such file" in res.stderr
    res = cli("eval", model, store, "--top-k", "0", expect=2)
    res = cli("eval", "-", "-", expect=2)
    assert "both" in res.stderr
