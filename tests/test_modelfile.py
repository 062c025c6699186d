"""The model file for classic kinds: exact round trips, and files that must be refused."""

from __future__ import annotations

import os
import pickle

import h5py
import numpy as np
import pytest

from audiokit import models
from audiokit.modelfile import FORMAT_VERSION, load_model, save_model
from audiokit.models import classic
from audiokit.store import open_store


@pytest.fixture(scope="module")
def store(instruments_mfcc):
    return instruments_mfcc


@pytest.fixture(scope="module")
def data(store):
    with open_store(store) as s:
        return s.X, s.labels.copy(), list(s.class_names), s.config


@pytest.mark.parametrize("kind,params", [("knn", {"k": 5}), ("knn", {"k": 3, "metric": "cosine",
                                                                    "weights": "distance"}),
                                         ("svm", {"C": 3.0}), ("svm", {"kernel": "linear"}),
                                         ("mlp", {"hidden": [24, 12], "max_iter": 300}), ("logreg", {})])
def test_round_trip_is_exact(tmp_path, data, kind, params):
    X, y, names, cfg = data
    train = np.arange(len(y)) % 4 != 0  # fit on 3/4, compare on the unseen quarter as well as on all
    m = classic.fit(kind, X[train], y[train], class_names=names, feature_config=cfg, params=params, seed=3)
    path = tmp_path / "m.h5"
    save_model(str(path), m.to_modelfile())
    back = models.load(str(path))
    assert back.kind == kind and back.class_names == names and back.feature_config == cfg
    p1, p2 = m.predict_proba(X), back.predict_proba(X)
    assert p1.shape == (len(X), 4)
    assert np.array_equal(p1, p2)  # bit for bit: the same numpy predictor, from the same arrays
    assert m.predict(X) == back.predict(X)
    assert np.allclose(p1.sum(axis=1), 1)
    # only plain numeric arrays inside
    with h5py.File(path) as h5:
        def check(name, obj):
            if isinstance(obj, h5py.Dataset):
                assert obj.dtype.kind in "biuf", name
        h5.visititems(check)


@pytest.mark.parametrize("kind,flags", [("knn", ["--k", "5", "--weights", "distance"]),
                                        ("svm", ["--C", "3"]), ("svm", ["--kernel", "linear"]),
                                        ("mlp", ["--hidden", "16", "--max-iter", "300"]), ("logreg", [])])
def test_cli_round_trip(cli, tmp_path, data, kind, flags):
    """``train`` writes the model, ``predict`` and ``eval`` load it: on items it was not trained on,
    their probabilities and accuracy are those of the same model fitted in memory."""
    import json

    from test_train_classic import synth_store

    X, y, names, cfg = data
    held = np.arange(len(y)) % 4 == 0
    train_store = synth_store(tmp_path / "train.h5", X[~held], [names[c] for c in y[~held]])
    held_store = synth_store(tmp_path / "held.h5", X[held], [names[c] for c in y[held]])
    out = tmp_path / "m.h5"
    cli("train", train_store, "-o", out, "--model", kind, "--val-split", "0", "--seed", "3", *flags, "-q")
    with open_store(train_store) as s:
        Xt, yt, tnames, tcfg = s.X, s.labels.copy(), list(s.class_names), s.config
    params = {"knn": {"k": 5, "weights": "distance"}, "svm": {"C": 3.0}, "mlp": {"hidden": [16], "max_iter": 300},
              "logreg": {}}[kind]
    if "linear" in flags:
        params = {"kernel": "linear"}
    m = classic.fit(kind, Xt, yt, class_names=tnames, feature_config=tcfg, params=params, seed=3)
    expected = m.predict_proba(X[held])

    res = cli("predict", out, held_store, "--format", "jsonl", "--top-k", str(len(tnames)))
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert len(rows) == held.sum()
    got = np.array([[{t["label"]: t["confidence"] for t in r["top_k"]}[c] for c in tnames] for r in rows])
    assert np.allclose(got, expected, rtol=0, atol=1e-6), np.abs(got - expected).max()

    report = json.loads(cli("eval", out, held_store, "--json").stdout)
    truth = [names[c] for c in y[held]]
    accuracy = np.mean([tnames[i] == t for i, t in zip(expected.argmax(axis=1), truth)])
    assert abs(report["accuracy"] - accuracy) < 1e-9, report


def test_knn_kneighbors_for_pitch(data):
    X, y, names, cfg = data
    m = classic.fit("knn", X, y, class_names=names, feature_config=cfg, params={"k": 4})
    back = classic.from_modelfile(m.to_modelfile())
    d, who = back.kneighbors(X[:5])
    assert d.shape == (5, 4) and who.shape == (5, 4)
    assert (np.diff(d, axis=1) >= 0).all()
    # Each item is its own nearest. A self-distance is sqrt(rounding of |x|^2 - 2x.x + |x|^2), about
    # sqrt(eps) * |x| rather than 0: the tolerance scales with the items' norms.
    scale = np.linalg.norm(np.asarray(X[:5], dtype=np.float64), axis=1)
    assert (d[:, 0] <= 1e-3 * scale).all(), d[:, 0]
    assert [w[0] for w in who] == [names[c] for c in y[:5]]
    # the neighbour's identity, free of rounding: with each item a class of its own, its nearest is itself
    own = [f"item{i}" for i in range(8)]
    alone = classic.fit("knn", X[:8], np.arange(8), class_names=own, feature_config=cfg, params={"k": 2})
    assert [w[0] for w in alone.kneighbors(X[:8])[1]] == own
    with pytest.raises(Exception, match="knn"):
        classic.fit("logreg", X, y, class_names=names, feature_config=cfg).kneighbors(X[:1])


def _a_model(tmp_path, data) -> str:
    X, y, names, cfg = data
    path = str(tmp_path / "good.h5")
    save_model(path, classic.fit("logreg", X, y, class_names=names, feature_config=cfg).to_modelfile())
    return path


def test_pickle_bomb_is_refused_without_running(cli, tmp_path, store):
    marker = tmp_path / "pwned"

    class Bomb:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    bomb = tmp_path / "model.h5"
    bomb.write_bytes(pickle.dumps(Bomb()))
    for cmd in (("eval", bomb, store), ("predict", bomb, store), ("info", bomb)):
        res = cli(*cmd, expect=1)
        assert "not HDF5" in res.stderr or "not a readable" in res.stderr, res.stderr
    # a real HDF5 model file smuggling a pickle as opaque bytes is refused too
    evil = tmp_path / "evil.h5"
    with h5py.File(evil, "w") as h5:
        h5.attrs.update(format="audiokit-model", format_version=1, kind="knn", class_names='["a","b"]',
                        feature_config='{"kind": "mfcc-stats"}')
        h5.create_dataset("arrays/fit_X", data=np.void(pickle.dumps(Bomb())))
    res = cli("eval", evil, store, expect=1)
    assert "non-numeric" in res.stderr
    assert not marker.exists()


def test_refused_files(cli, tmp_path, data, store):
    good = _a_model(tmp_path, data)
    raw = open(good, "rb").read()
    cases = {}
    (tmp_path / "trunc.h5").write_bytes(raw[: len(raw) // 2])
    cases["trunc.h5"] = "not HDF5, or truncated"
    (tmp_path / "text.h5").write_text("hello\n")
    cases["text.h5"] = "not HDF5"
    newer = tmp_path / "newer.h5"
    newer.write_bytes(raw)
    with h5py.File(newer, "a") as h5:
        h5.attrs["format_version"] = FORMAT_VERSION + 1
    cases["newer.h5"] = "newer than this audiokit reads"
    kind = tmp_path / "kind.h5"
    kind.write_bytes(raw)
    with h5py.File(kind, "a") as h5:
        h5.attrs["kind"] = "forest"
    cases["kind.h5"] = "unknown model kind 'forest'"
    missing = tmp_path / "missing.h5"
    missing.write_bytes(raw)
    with h5py.File(missing, "a") as h5:
        del h5["arrays/coef"]
    cases["missing.h5"] = "broken logreg model"
    cases[os.path.basename(store)] = "feature store, not a model"
    for name, text in cases.items():
        path = tmp_path / name if name != os.path.basename(store) else store
        res = cli("eval", path, store, expect=1)
        line = res.stderr.strip()
        assert line.count("\n") == 0 and text in line and "Traceback" not in line, (name, res.stderr)


def test_store_of_other_features_is_refused(cli, tmp_path, instruments_dir, data):
    good = _a_model(tmp_path, data)
    other = tmp_path / "other.h5"
    cli("featurize", instruments_dir / "flute", "-f", "mfcc-stats", "--n-mfcc", "13", "-o", other, "-q")
    res = cli("eval", good, other, expect=1)
    assert "does not match the model's features" in res.stderr and "n_mfcc (model 20, store 13)" in res.stderr
    res = cli("predict", good, other, expect=1)
    assert "does not match" in res.stderr


def test_model_records_provenance(cli, tmp_path, store):
    out = tmp_path / "m.h5"
    cli("train", store, "-o", out, "--model", "knn", "--k", "3", "--seed", "4", "-q")
    mf = load_model(str(out))
    assert mf.kind == "knn" and mf.params["k"] == 3 and mf.params["metric"] == "euclidean"
    assert mf.training["seed"] == 4 and mf.training["store"] == store
    assert "validation" in mf.metrics and mf.audiokit_version
    # the default mfcc-stats vector: mean and std of 20 MFCCs, their deltas and 13 spectral rows
    assert mf.arrays["fit_X"].shape[1] == 2 * (2 * 20 + 13)
    assert set(mf.arrays) >= {"scaler/mean", "scaler/scale", "fit_y"}
    info = cli("info", out, "--json")
    assert '"knn"' in info.stdout
