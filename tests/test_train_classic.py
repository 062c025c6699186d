"""`train --model knn|svm|mlp|logreg`: validation, CV, the k sweep, bad input."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from audiokit.features import FeatureConfig
from audiokit.store import StoreWriter, open_store
from audiokit.training import splits
from helpers import synth_store

@pytest.fixture(scope="module")
def store(instruments_mfcc):
    return instruments_mfcc


@pytest.mark.parametrize("kind", ["knn", "svm", "mlp", "logreg"])
def test_each_kind_trains_validates_and_reports(cli, store, tmp_path, kind):
    out = tmp_path / f"{kind}.h5"
    # 25 %: one player of the four held out (a group-aware 20 % split needs five groups)
    res = cli("train", store, "-o", out, "--model", kind, "--seed", "1", "--val-split", "0.25")
    assert out.exists()
    report = json.loads((tmp_path / f"{kind}.report.json").read_text())
    assert report["model"] == kind and report["grouped"] and report["n_groups"] == 4
    val = report["validation"]
    assert val["n"] + val["train"] == 64 and val["n"] == 16
    proto = val["protocol"]
    assert (proto["unseen_groups"], proto["shared_groups"], proto["train_groups"], proto["total_groups"]) == (1, 0, 3, 4)
    assert val["accuracy"] > 0.4  # chance is 0.25 on four classes
    line = "validation on 1 unseen group of 4 (16 items; trained on 48 items of 3 groups): accuracy"
    assert f"{line} {100 * val['accuracy']:.1f} %" in res.stdout and "too few" not in res.stderr
    # the saved model is then refit on all 64 items (every player)
    assert report["refit"]["items"] == 64 and "refit on all 64 training items" in res.stdout
    from audiokit.modelfile import load_model

    training = load_model(str(out)).training
    assert training["trained_on"] == 64 and training["refit"]


def test_folds_report_mean_std_and_refit(cli, store, tmp_path):
    out = tmp_path / "svm.h5"
    res = cli("train", store, "-o", out, "--model", "svm", "--folds", "4", "--C", "10")
    assert len(re.findall(r"^fold \d: accuracy", res.stdout, re.M)) == 4
    m = re.search(r"4-fold CV: accuracy (\d+\.\d) % ± (\d+\.\d) %, macro-F1 (\d+\.\d) % ± (\d+\.\d) %", res.stdout)
    assert m, res.stdout
    report = json.loads((tmp_path / "svm.report.json").read_text())
    accs = [f["accuracy"] for f in report["cv"]["folds"]]
    assert report["cv"]["accuracy"]["mean"] == pytest.approx(np.mean(accs))
    assert float(m[1]) == pytest.approx(100 * np.mean(accs), abs=0.051)
    assert float(m[2]) == pytest.approx(100 * np.std(accs), abs=0.051)
    assert "refit" in report and "refit on all 64" in res.stdout
    from audiokit.modelfile import load_model

    mf = load_model(str(out))
    assert mf.training["refit"] and mf.metrics["cv"]["k"] == 4 and mf.params["C"] == 10.0


def test_group_splits_never_split_a_group():
    rng = np.random.default_rng(0)
    for trial in range(20):
        n_groups = int(rng.integers(6, 15))
        groups = rng.integers(0, n_groups, size=120)
        # each group sings mostly one class, as speakers of a corpus do
        y = (groups % 3 + (rng.random(120) < 0.2)) % 3
        for tr, va in splits.cv_splits(y, groups, folds=3, seed=trial):
            assert not set(groups[tr]) & set(groups[va])
        folds = splits.cv_splits(y, groups, folds=3, seed=trial)
        assert sorted(np.concatenate([v for _, v in folds]).tolist()) == list(range(120))
        tr, va = splits.train_val_split(y, groups, val_fraction=0.25, seed=trial) if len(set(groups)) > 3 else (
            np.arange(1), np.arange(1, 2))
        assert not set(groups[tr]) & set(groups[va])
    # without groups: stratified, seeded
    y = np.repeat([0, 1, 2], 10)
    a = splits.train_val_split(y, val_fraction=0.2, seed=3)
    b = splits.train_val_split(y, val_fraction=0.2, seed=3)
    assert all(np.array_equal(u, v) for u, v in zip(a, b)) and np.bincount(y[a[1]]).tolist() == [2, 2, 2]


def test_k_sweep_picks_the_k_sklearn_cross_validation_picks(cli, tmp_path):
    """Two classes with 25 % label noise inside each cluster: k=1 copies the noise, larger k
    votes it down. The chosen k is the one scikit-learn's own cross_val_score ranks best on
    the same folds (ties to the smaller k), and it is not 1."""
    from sklearn.model_selection import cross_val_score
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(5)
    n = 160
    y_true = np.repeat([0, 1], n // 2)
    X = rng.normal(size=(n, 2)) + 4.0 * y_true[:, None]
    y = np.where(rng.random(n) < 0.25, 1 - y_true, y_true)
    path = synth_store(tmp_path / "noisy.h5", X, [f"c{v}" for v in y])
    res = cli("train", path, "-o", tmp_path / "k.h5", "--k", "1..15", "--folds", "4", "--seed", "2",
              "--plot", tmp_path / "k.png", "--json")
    report = json.loads(res.stdout)
    table = report["k_sweep"]["table"]
    chosen = report["k_sweep"]["chosen_k"]
    from threadpoolctl import threadpool_limits

    folds = splits.cv_splits(y, None, folds=4, seed=2)
    with threadpool_limits(limits=1, user_api="openmp"):
        expected = [cross_val_score(make_pipeline(StandardScaler(), KNeighborsClassifier(k, algorithm="brute")),
                                    X.astype(np.float32).astype(np.float64), y, cv=folds).mean()
                    for k in range(1, 16)]
    assert [r["accuracy"] for r in table] == pytest.approx(expected, abs=1e-12)
    best = max(expected)
    assert chosen == 1 + next(i for i, a in enumerate(expected) if a >= best - 1e-12)
    assert chosen > 1 and expected[0] < best
    assert (tmp_path / "k.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from audiokit.modelfile import load_model

    assert load_model(str(tmp_path / "k.h5")).params["k"] == chosen


def test_k_sweep_ties_go_to_the_smaller_k(cli, tmp_path):
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], 30)
    X = rng.normal(scale=0.1, size=(60, 3)) + 10 * y[:, None]  # perfectly separable: every k scores 100 %
    path = synth_store(tmp_path / "easy.h5", X, [f"c{v}" for v in y])
    res = cli("train", path, "-o", tmp_path / "m.h5", "--k", "3..9:2", "--val-split", "0.25")
    report = json.loads((tmp_path / "m.report.json").read_text())
    assert [r["k"] for r in report["k_sweep"]["table"]] == [3, 5, 7, 9]
    assert all(r["accuracy"] == 1.0 for r in report["k_sweep"]["table"])
    assert report["k_sweep"]["chosen_k"] == 3 and "chosen k = 3" in res.stdout


def test_seed_repeats_a_run_exactly(cli, store, tmp_path):
    from audiokit.modelfile import load_model

    for name in ("a", "b"):
        cli("train", store, "-o", tmp_path / f"{name}.h5", "--model", "mlp", "--hidden", "32", "--seed", "7", "-q")
    a, b = load_model(str(tmp_path / "a.h5")), load_model(str(tmp_path / "b.h5"))
    assert a.arrays.keys() == b.arrays.keys()
    assert all(np.array_equal(a.arrays[k], b.arrays[k]) for k in a.arrays)
    assert a.metrics == b.metrics


def test_test_split_by_store_fold(cli, tmp_path):
    rng = np.random.default_rng(2)
    y = np.repeat([0, 1, 2], 20)
    X = rng.normal(size=(60, 4)) + 3 * np.eye(4)[y]
    folds = np.tile(np.arange(5), 12)
    path = synth_store(tmp_path / "f.h5", X, [f"c{v}" for v in y], folds=folds)
    res = cli("train", path, "-o", tmp_path / "m.h5", "--model", "logreg", "--test-split", "4", "--json")
    report = json.loads(res.stdout)
    assert report["items"]["test"] == 12 and report["items"]["train"] == 48
    assert report["test"]["n"] == 12 and report["test"]["accuracy"] > 0.8
    err = cli("train", synth_store(tmp_path / "nf.h5", X, [f"c{v}" for v in y]), "-o", tmp_path / "x.h5",
              "--test-split", "2", expect=2)
    assert "no folds" in err.stderr and not (tmp_path / "x.h5").exists()


def with_nan(path: str, index: int = 3) -> str:
    """Put a NaN into a store's features (the writer refuses them, a broken file may not)."""
    import h5py

    with h5py.File(path, "a") as h5:
        x = h5["features"][index]
        x.flat[1] = np.nan
        h5["features"][index] = x
    return path


def _empty_store(path, like):
    import shutil

    import h5py

    shutil.copy(like, path)
    with h5py.File(path, "a") as h5:
        for name in ("features", "labels", "paths", "durations", "folds", "groups"):
            if name in h5:
                h5[name].resize(0, axis=0)
    return str(path)


def test_bad_input_one_clear_line(cli, tmp_path, store):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(12, 4))
    one = synth_store(tmp_path / "one.h5", X, ["a"] * 12)
    nolab = synth_store(tmp_path / "nolab.h5", X, [None] * 12)
    nan = with_nan(synth_store(tmp_path / "nan.h5", X, ["a", "b"] * 6))
    few = synth_store(tmp_path / "few.h5", X, ["a", "b"] * 6)
    onegroup = synth_store(tmp_path / "g.h5", X, ["a", "b"] * 6, groups=["s1"] * 12)
    empty = _empty_store(tmp_path / "empty.h5", few)
    notstore = tmp_path / "junk.h5"
    notstore.write_text("not hdf5")
    cases = [
        ((empty,), 1, "empty"),
        ((one,), 1, "only one class"),
        ((nolab,), 1, "no labels"),
        ((nan,), 1, "NaN"),
        ((few, "--folds", "10"), 2, "at least 10 items per class"),
        ((few, "--k", "50", "--val-split", "0"), 2, "more than the 12"),
        ((few, "--k", "1..x"), 2, "--k must be"),
        ((onegroup, "--folds", "3"), 2, "needs at least 3 groups"),
        ((few, "--model", "forest"), 2, "--model must be one of"),
        ((few, "--model", "svm", "--hidden", "10"), 2, "--hidden"),
        ((few, "--normalize", "item"), 2, "--normalize: only for the deep kinds"),
        ((few, "--no-augment"), 2, "--augment: only for the deep kinds"),
        ((few, "--val-split", "0.2", "--folds", "3"), 2, "either --val-split or --folds"),
        ((few, "--plot", str(tmp_path / "p.png")), 2, "k sweep"),
        ((str(notstore),), 1, "not HDF5"),
        ((str(tmp_path / "missing.h5"),), 1, "no such file"),
    ]
    for args, code, text in cases:
        out = tmp_path / "never.h5"
        res = cli("train", *args, "-o", out, expect=code)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("audiokit: error:") and text in lines[0], (args, res.stderr)
        assert "Traceback" not in res.stderr and not out.exists()
        assert not (tmp_path / "never.report.json").exists()


@pytest.mark.slow
def test_store_from_stdin_and_model_to_stdout(tmp_path, store):
    from helpers import run

    r = run(f"cat {store} | audiokit train - -o - --model logreg -q > {tmp_path}/m.h5", shell=True)
    assert r.returncode == 0, r.stderr
    from audiokit.models import load

    m = load(str(tmp_path / "m.h5"))
    with open_store(store) as s:
        assert m.predict_proba(s.X).shape == (64, 4)
    # without --model the store is read once to choose the kind, and again (the same bytes) to train
    r = run(f"cat {store} | audiokit train - -o - > {tmp_path}/d.h5", shell=True)
    assert r.returncode == 0, r.stderr
    d = load(str(tmp_path / "d.h5"))
    assert d.kind == "logreg" and d.training["trained_on"] == 64
    assert b"logreg (the default for mfcc-stats vectors; --model chooses another) on 64 items" in r.stderr
