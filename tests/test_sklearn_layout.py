"""Classic model files against scikit-learn: only public attributes are used, the public behaviour
they rely on still holds in the installed version, and files written before that change still load.
(tests/test_classic_numpy.py checks the numpy predictions against scikit-learn's.)"""

from __future__ import annotations

import ast
import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from audiokit import models
from audiokit.features import FeatureConfig
from audiokit.modelfile import ModelFile, load_model, save_model
from audiokit.models import classic

#: Classic models written by audiokit before its model-file code stopped reading scikit-learn's
#: private attributes (format version 2), with their probabilities on ``X_test`` at the time.
OLD = json.loads((Path(__file__).parent / "data" / "classic_models_v2.json").read_text())


def _blobs(n_classes: int, *, n: int = 90, d: int = 5, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    X = rng.normal(size=(n, d)) + y[:, None] * rng.normal(size=d)
    return X, y, rng.normal(size=(40, d)) * 2


def test_classic_module_reads_no_private_sklearn_attribute():
    """Every ``x._name`` in classic.py is audiokit's own (``self._...``): a private scikit-learn
    attribute would tie the model files to one scikit-learn layout."""
    tree = ast.parse(Path(classic.__file__).read_text())
    private = sorted({(node.lineno, ast.unparse(node)) for node in ast.walk(tree)
                      if isinstance(node, ast.Attribute) and node.attr.startswith("_")
                      and not node.attr.startswith("__")
                      and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "classic"))})
    assert not private, f"private attributes used in audiokit/models/classic.py: {private}"


@pytest.mark.parametrize("n_classes", [2, 3, 4])
@pytest.mark.parametrize("kernel,gamma", [("rbf", "scale"), ("rbf", "auto"), ("rbf", 0.2), ("linear", "scale")])
def test_svc_public_arrays_give_its_decision_function(n_classes, kernel, gamma):
    """SVMDecision computes SVC.decision_function and SVC.predict from support_vectors_, dual_coef_,
    intercept_, n_support_ and classes_; if scikit-learn changes their layout or signs this says so."""
    from sklearn.svm import SVC

    X, y, Xt = _blobs(n_classes)
    g = classic._resolve_gamma(gamma, X)
    svc = SVC(kernel=kernel, gamma=gamma).fit(X, y)
    same = SVC(kernel=kernel, gamma=g).fit(X, y)
    assert np.array_equal(svc.decision_function(Xt), same.decision_function(Xt)), \
        f"SVC(gamma={gamma!r}) no longer resolves gamma as 1/(n_features*X.var()) (scale) or 1/n_features (auto)"
    d = classic.SVMDecision(kernel, g)
    d.classes_, d.support_vectors_, d.n_support_ = svc.classes_, svc.support_vectors_, svc.n_support_
    d.dual_coef_, d.intercept_, d.n_features_in_ = svc.dual_coef_, svc.intercept_, svc.n_features_in_
    ours, theirs = d.decision_function(Xt), svc.decision_function(Xt)
    assert ours.shape == theirs.shape, f"SVC.decision_function's shape changed: {theirs.shape}, ours {ours.shape}"
    assert np.allclose(ours, theirs, rtol=0, atol=1e-9), \
        (f"SVC's public dual_coef_/intercept_/n_support_ no longer give its decision_function "
         f"(largest difference {np.abs(ours - theirs).max():.3g})")
    assert np.array_equal(d.predict(Xt), svc.predict(Xt)), "SVC.predict is no longer libsvm's one-vs-one vote"


@pytest.mark.parametrize("name", sorted(OLD["models"]))
def test_files_written_before_still_load(tmp_path, name):
    """A model file in the layout of earlier versions (which wrote scikit-learn's private SVC fields
    too) is built from its arrays, saved, loaded and predicts as it did then; saving it again keeps
    every array name, so earlier versions read the new files as well."""
    m = OLD["models"][name]
    arrays = {k: np.asarray(v["data"], dtype=v["dtype"]).reshape(v["shape"]) for k, v in m["arrays"].items()}
    path = tmp_path / f"{name}.h5"
    save_model(str(path), ModelFile(kind=m["kind"], class_names=m["class_names"], arrays=arrays,
                                    feature_config=FeatureConfig(kind="f0-range"), params=m["params"]))
    back = models.load(str(path))
    X = np.asarray(OLD["X_test"])
    p = back.predict_proba(X)
    tol = 1e-9 if m["kind"] == "svm" else 0
    assert np.allclose(p, m["proba"], rtol=0, atol=tol), np.abs(p - m["proba"]).max()

    again = tmp_path / f"{name}-again.h5"
    save_model(str(again), back.to_modelfile())
    mf = load_model(str(again))
    assert set(mf.arrays) == set(arrays)
    assert set(mf.params) == set(m["params"])
    for k, v in arrays.items():
        if v.size:
            assert np.allclose(mf.arrays[k], v, rtol=0, atol=1e-12), k
    assert mf.params.get("gamma_value") == m["params"].get("gamma_value")
    assert np.allclose(models.load(str(again)).predict_proba(X), p, rtol=0, atol=1e-12)


def test_knn_without_its_training_data_is_refused():
    """scikit-learn keeps a KNN's training matrix private: a fitted KNeighborsClassifier alone
    cannot become a model."""
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.preprocessing import StandardScaler

    X, y, _ = _blobs(2)
    with pytest.raises(Exception, match="training matrix"):
        classic.from_sklearn("knn", StandardScaler().fit(X), KNeighborsClassifier(3).fit(X, y), class_names=["a", "b"],
                             feature_config=FeatureConfig(kind="f0-range"), params={"k": 3})
