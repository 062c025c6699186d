"""The numpy predictors of the classic kinds against scikit-learn's own predictions on the same
fitted estimators: probabilities to 1e-12, the same classes, and for the KNN the same neighbours
and distances, ties included."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from scipy.special import softmax
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from threadpoolctl import threadpool_limits

from audiokit.features import FeatureConfig
from audiokit.models import classic

CFG = FeatureConfig(kind="f0-range")


def _blobs(n_classes: int, *, n: int = 90, d: int = 6, seed: int = 0):
    """Training items of ``n_classes`` overlapping blobs (not standardised) and unseen items."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    X = 3 + 2 * rng.normal(size=(n, d)) + y[:, None] * rng.normal(size=d)
    return X, y, 3 + 4 * rng.normal(size=(50, d))


def _ours(kind, scaler, est, X, y, params):
    Xs = scaler.transform(X)
    return classic.from_sklearn(kind, scaler, est, class_names=[f"c{i}" for i in range(y.max() + 1)],
                                feature_config=CFG, params=classic.resolve_params(kind, params),
                                fit_data=(Xs, y) if kind == "knn" else None)


def _same(ours: np.ndarray, theirs: np.ndarray, theirs_classes=None):
    assert ours.shape == theirs.shape
    assert np.abs(ours - theirs).max() <= 1e-12, np.abs(ours - theirs).max()
    assert np.array_equal(ours.argmax(axis=1), theirs.argmax(axis=1) if theirs_classes is None else theirs_classes)


def _fitted(est, X, y):
    scaler = StandardScaler().fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence: the weights are what they are
        est.fit(scaler.transform(X), y)
    return scaler, est


@pytest.mark.parametrize("n_classes", [2, 3, 5])
@pytest.mark.parametrize("metric,weights", list(itertools.product(classic.KNN_METRICS, ["uniform", "distance"])))
def test_knn(n_classes, metric, weights):
    X, y, Xt = _blobs(n_classes)
    Xt[:4] = X[:4]  # items of the training set: distance (about) 0
    for k in (1, 4, 15):
        scaler, est = _fitted(KNeighborsClassifier(k, metric=metric, weights=weights, algorithm="brute"), X, y)
        m = _ours("knn", scaler, est, X, y, {"k": k, "metric": metric, "weights": weights})
        with threadpool_limits(1, "openmp"):  # as audiokit's predict ran it, and as the ties are settled
            theirs = est.predict_proba(scaler.transform(Xt))
            dist, idx = est.kneighbors(scaler.transform(Xt))
        assert np.array_equal(m.predictor.kneighbors(m._prepare(Xt))[1], idx)
        d, names = m.kneighbors(Xt)
        assert np.abs(d - dist).max() <= 1e-12 and (names == np.array(m.class_names, dtype=object)[y[idx]]).all()
        _same(m.predict_proba(Xt), theirs)
        # one item at a time (a one-row matrix product rounds its own way) gives the same
        assert np.abs(m.predict_proba(Xt[:1]) - theirs[:1]).max() <= 1e-12


@pytest.mark.parametrize("metric,weights", list(itertools.product(classic.KNN_METRICS, ["uniform", "distance"])))
def test_knn_ties(metric, weights):
    """Points of a small integer grid, many of them repeated: equal distances everywhere, exact in
    floating point. scikit-learn keeps, of the items tied at the k-th place, the ones its
    neighbour heap keeps; so must we (the votes depend on it). Only the order among equally
    distant neighbours may differ (scikit-learn's depends on its heap's layout)."""
    rng = np.random.default_rng(3)
    for n, d, k in ((30, 1, 7), (72, 2, 8), (200, 3, 20), (50, 2, 1)):
        F = rng.integers(-2, 3, size=(n, d)).astype(float)
        y = rng.integers(0, 4, n)
        Q = rng.integers(-2, 3, size=(40, d)) + rng.choice([0.0, 0.5], size=(40, d))
        est = KNeighborsClassifier(k, metric=metric, weights=weights, algorithm="brute").fit(F, y)
        ours = classic.KNN(F, y, k=k, metric=metric, weights=weights)
        with threadpool_limits(1, "openmp"):
            dist, idx = est.kneighbors(Q)
            theirs = est.predict_proba(Q)
        od, oi = ours.kneighbors(Q)
        assert np.array_equal(od, dist)
        assert [set(a) for a in oi] == [set(b) for b in idx]
        for row_d, row_i in zip(od, oi) if metric != "cosine" else ():  # equally distant: in training order
            assert all(a < b for a, b, da, db in zip(row_i, row_i[1:], row_d, row_d[1:]) if da == db)
        assert np.abs(ours.predict_proba(Q) - theirs).max() <= 1e-12
    # the heap's choice is not "the first items": of items 0-2 tied at the third place it keeps item 1
    assert classic._heap_keep(np.array([5.0, 5, 5, 1, 1]), 3).tolist() == [1, 3, 4]


def test_heap_keep_against_a_direct_simulation():
    """The heap's choice among equal values, checked against the plain definition: a fixed-size
    max-heap fed in index order."""
    rng = np.random.default_rng(4)
    for _ in range(300):
        v = rng.integers(0, 4, size=int(rng.integers(1, 40))).astype(float)
        k = int(rng.integers(1, len(v) + 1))
        with threadpool_limits(1, "openmp"):
            idx = KNeighborsClassifier(k, algorithm="brute", metric="chebyshev").fit(v[:, None], np.zeros(len(v))) \
                .kneighbors(np.zeros((1, 1)))[1][0]
        assert classic._heap_keep(v, k).tolist() == sorted(idx.tolist()), (v, k)


@pytest.mark.parametrize("n_classes", [2, 3, 4])
def test_logreg(n_classes):
    X, y, Xt = _blobs(n_classes)
    for C in (0.01, 1.0, 100.0):
        scaler, est = _fitted(LogisticRegression(C=C, max_iter=2000), X, y)
        m = _ours("logreg", scaler, est, X, y, {"C": C})
        _same(m.predict_proba(Xt), est.predict_proba(scaler.transform(Xt)))
    far = Xt * 1e4  # exp overflows: probabilities of exactly 0 and 1, no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _same(m.predict_proba(far), est.predict_proba(scaler.transform(far)))


@pytest.mark.parametrize("n_classes", [2, 3, 4])
@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
def test_mlp(n_classes, activation):
    X, y, Xt = _blobs(n_classes)
    for hidden in ((7,), (12, 5)):
        scaler, est = _fitted(MLPClassifier(hidden, activation=activation, max_iter=200, random_state=1), X, y)
        m = _ours("mlp", scaler, est, X, y, {"hidden": list(hidden)})
        assert m.file_params["activation"] == activation
        _same(m.predict_proba(Xt), est.predict_proba(scaler.transform(Xt)))


@pytest.mark.parametrize("n_classes", [2, 3, 4])
@pytest.mark.parametrize("kernel,gamma", [("rbf", "scale"), ("rbf", 0.05), ("linear", "scale")])
def test_svm(n_classes, kernel, gamma):
    """No Platt scaling: the probabilities are the softmax of SVC's decision values (halved, for two
    classes), so their argmax is the decision function's: SVC.predict's class where its one-vs-one
    votes do not tie."""
    X, y, Xt = _blobs(n_classes)
    scaler = StandardScaler().fit(X)
    est = SVC(kernel=kernel, gamma=classic._resolve_gamma(gamma, scaler.transform(X))).fit(scaler.transform(X), y)
    m = _ours("svm", scaler, est, X, y, {"kernel": kernel, "gamma": gamma})
    dec = est.decision_function(scaler.transform(Xt))
    theirs = softmax(np.stack([-dec, dec], axis=1) / 2 if dec.ndim == 1 else dec, axis=1)
    ours = m.predict_proba(Xt)
    _same(ours, theirs)
    pred = est.predict(scaler.transform(Xt))
    if n_classes == 2:
        assert np.array_equal(ours.argmax(axis=1), pred)
    else:  # the ovr decision is the votes plus confidences in (-1/3, 1/3): it differs on tied votes only
        votes = np.floor(dec + 0.5)
        untied = (votes == votes.max(axis=1, keepdims=True)).sum(axis=1) == 1
        assert untied.mean() > 0.5 and np.array_equal(ours.argmax(axis=1)[untied], pred[untied])


def test_standardising_is_standard_scalers():
    X, y, Xt = _blobs(3)
    scaler, est = _fitted(LogisticRegression(), X, y)
    m = _ours("logreg", scaler, est, X, y, {})
    assert np.array_equal(m._prepare(Xt), scaler.transform(Xt))
