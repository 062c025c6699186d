"""Classic classifiers (scikit-learn, CPU): KNN, SVM, MLP, logistic regression.

Every model is a ``StandardScaler`` followed by the estimator, so features are
standardised inside the model with the training set's mean and scale. Items of any
shape are flattened to vectors.

Saving never pickles: a model becomes plain arrays and JSON (:meth:`ClassicClassifier.to_modelfile`)
and :func:`from_modelfile` rebuilds the scikit-learn objects from them:

=========  =====================================================================================
kind       arrays (besides ``scaler/mean``, ``scaler/scale``, ``scaler/var``)
=========  =====================================================================================
knn        ``fit_X`` (the standardised training matrix), ``fit_y`` (class indices); k, metric
           and weights in params. The estimator is rebuilt by ``fit`` on them (a KNN's fit only
           stores the data, so this is exact).
svm        ``support``, ``support_vectors``, ``n_support``, ``dual_coef``, ``intercept``, the
           libsvm-signed ``_dual_coef``/``_intercept``, Platt ``probA``/``probB``; kernel, C and
           the resolved gamma in params.
mlp        ``coefs/0..L-1`` and ``intercepts/0..L-1`` (the weight matrices and biases).
logreg     ``coef``, ``intercept``.
=========  =====================================================================================

A reloaded model's probabilities equal the original's bit for bit (tests/test_modelfile.py).

Examples
--------
>>> import numpy as np
>>> from audiokit.features import FeatureConfig
>>> X = np.r_[np.zeros((5, 2)), np.ones((5, 2))] + np.arange(10)[:, None] * 0.01
>>> m = fit("knn", X, np.repeat([0, 1], 5), class_names=["a", "b"],
...         feature_config=FeatureConfig(kind="f0-range"), params={"k": 3})
>>> m.predict_proba(np.array([[0.9, 1.0]])).tolist()
[[0.0, 1.0]]
>>> from_modelfile(m.to_modelfile()).predict(np.array([[0.0, 0.1]]))
['a']
"""

from __future__ import annotations

import logging
import warnings
from typing import Sequence

import numpy as np

from audiokit.errors import AudiokitError, ModelFileError, ParameterError, UsageError
from audiokit.features import FeatureConfig



def _settings(kind: str):
    from audiokit.models import get

    spec = get(kind)
    if spec.family != "scikit-learn":
        raise ParameterError("kind", f"{kind} is not a scikit-learn kind")
    return spec.settings


def resolve_params(kind: str, options: dict) -> dict:
    """The kind's estimator settings: ``options`` over its settings' defaults, validated (a
    single ``k``, not a range). Raises :class:`ParameterError` naming the setting."""
    cls = _settings(kind)
    allowed = set(cls().model_params())
    extra = sorted(set(options) - allowed)
    if extra:
        raise ParameterError(extra[0], f"is not a setting of {kind}")
    values = dict(options)
    if "k" in values:
        values["k"] = str(values["k"])
    return cls(**values).check().model_params()


def _defaults() -> dict:
    from audiokit.models import get, names

    return {kind: get(kind).settings().model_params() for kind in names("scikit-learn")}


#: Defaults of each kind's estimator settings, from its settings class.
DEFAULTS = _defaults()


def make_estimator(kind: str, params: dict, *, seed: int = 0):
    """The unfitted scikit-learn estimator for ``kind`` with resolved ``params``."""
    if kind == "knn":
        from sklearn.neighbors import KNeighborsClassifier

        # brute force: exact, deterministic neighbour order, and fast enough at these sizes
        return KNeighborsClassifier(n_neighbors=params["k"], metric=params["metric"], weights=params["weights"],
                                    algorithm="brute")
    if kind == "svm":
        from sklearn.svm import SVC

        # No Platt scaling: its internal 5-fold fit costs 5 fits and, on a few items per class, gives
        # probabilities whose argmax disagrees with the SVM's decision (predict_proba uses the decision).
        return SVC(kernel=params["kernel"], C=params["C"], gamma=params["gamma"], probability=False,
                   random_state=seed)
    if kind == "mlp":
        from sklearn.neural_network import MLPClassifier

        return MLPClassifier(hidden_layer_sizes=tuple(params["hidden"]), alpha=params["alpha"],
                             max_iter=params["max_iter"], random_state=seed)
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=params["C"], max_iter=params["max_iter"])


def _svm_proba(svc, X: np.ndarray) -> np.ndarray:
    """An SVM's class probabilities as the softmax of its one-vs-rest decision values (a sigmoid for two
    classes): their argmax is always ``svc.predict``'s class, which Platt scaling does not promise."""
    from scipy.special import softmax

    d = svc.decision_function(X)
    if d.ndim == 1:
        d = np.stack([-d, d], axis=1) / 2
    return softmax(d, axis=1)


class ClassicClassifier:
    """A fitted scaler + scikit-learn estimator with the :class:`audiokit.models.Classifier` protocol."""

    def __init__(self, kind: str, class_names: Sequence[str], feature_config: FeatureConfig, params: dict,
                 scaler, estimator, *, training: dict | None = None, metrics: dict | None = None):
        self.kind = kind
        self.class_names = list(class_names)
        self.feature_config = feature_config
        self.params = params
        self.scaler = scaler
        self.estimator = estimator
        self.training = dict(training or {})
        self.metrics = dict(metrics or {})

    @property
    def n_features(self) -> int:
        return int(self.scaler.n_features_in_)

    def _prepare(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X)
        X = X.reshape(len(X), -1).astype(np.float64, copy=False)
        if X.shape[1] != self.n_features:
            raise AudiokitError(f"items have {X.shape[1]} features, the model expects {self.n_features}")
        if not np.isfinite(X).all():
            raise AudiokitError("features contain NaN or infinite values")
        return self.scaler.transform(X)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities ``(n, n_classes)`` in :attr:`class_names` order."""
        from threadpoolctl import threadpool_limits

        Xs = self._prepare(X)
        # One OpenMP thread: on batches this small, the thread team scikit-learn's neighbour search
        # starts per call costs more than it saves (docs/benchmarks.md, "threads").
        with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="openmp"):
            warnings.simplefilter("ignore", RuntimeWarning)  # overflow in exp of a far-out item
            p = _svm_proba(self.estimator, Xs) if self.kind == "svm" else self.estimator.predict_proba(Xs)
        out = np.zeros((len(Xs), len(self.class_names)), dtype=np.float64)
        out[:, np.asarray(self.estimator.classes_, dtype=np.int64)] = p
        return out

    def predict(self, X: np.ndarray) -> list[str]:
        """The most probable class name of each item (the first on ties)."""
        return [self.class_names[i] for i in self.predict_proba(X).argmax(axis=1)]

    def kneighbors(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """KNN only: ``(distances (n, k), class names (n, k))`` of each item's k nearest training items,
        nearest first; distances are in the standardised feature space."""
        if self.kind != "knn":
            raise UsageError(f"kneighbors needs a knn model, this one is {self.kind}")
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="openmp"):
            dist, idx = self.estimator.kneighbors(self._prepare(X))
        names = np.asarray(self.class_names, dtype=object)[np.asarray(self.estimator._y)[idx]]
        return dist, names

    # -- the model file --------------------------------------------------------------------------------
    def to_modelfile(self):
        from audiokit.modelfile import ModelFile

        s = self.scaler
        arrays = {"scaler/mean": s.mean_, "scaler/scale": s.scale_, "scaler/var": s.var_,
                  "classes": np.asarray(self.estimator.classes_, dtype=np.int64)}
        params = dict(self.params)
        params["n_features"] = self.n_features
        params["n_samples_seen"] = int(np.max(s.n_samples_seen_))
        e = self.estimator
        if self.kind == "knn":
            arrays["fit_X"] = e._fit_X
            arrays["fit_y"] = np.asarray(e.classes_, dtype=np.int64)[np.asarray(e._y)]
        elif self.kind == "svm":
            arrays.update({"support": e.support_, "support_vectors": e.support_vectors_,
                           "n_support": e._n_support, "dual_coef": e.dual_coef_, "intercept": e.intercept_,
                           "_dual_coef": e._dual_coef_, "_intercept": e._intercept_,
                           "probA": e._probA, "probB": e._probB, "class_weight": e.class_weight_,
                           "fit_status": np.asarray(e.fit_status_), "shape_fit": np.asarray(e.shape_fit_)})
            params["gamma_value"] = float(e._gamma)
        elif self.kind == "mlp":
            for i, (w, b) in enumerate(zip(e.coefs_, e.intercepts_)):
                arrays[f"coefs/{i}"] = w
                arrays[f"intercepts/{i}"] = b
            params.update(activation=e.activation, out_activation=e.out_activation_, n_layers=e.n_layers_,
                          n_outputs=e.n_outputs_, n_iter=int(e.n_iter_))
        else:
            arrays.update({"coef": e.coef_, "intercept": e.intercept_})
        return ModelFile(kind=self.kind, class_names=self.class_names, feature_config=self.feature_config,
                         arrays=arrays, params=params, training=self.training, metrics=self.metrics)


def fit(kind: str, X: np.ndarray, y: np.ndarray, *, class_names: Sequence[str], feature_config: FeatureConfig,
        params: dict | None = None, seed: int = 0) -> ClassicClassifier:
    """Standardise ``X`` and fit the kind's estimator on class indices ``y`` (into ``class_names``).

    Raises
    ------
    UsageError
        Bad settings, or k larger than the number of training items.
    """
    from sklearn.preprocessing import StandardScaler

    p = resolve_params(kind, params or {})
    X = np.asarray(X).reshape(len(X), -1).astype(np.float64, copy=False)
    y = np.asarray(y, dtype=np.int64)
    if kind == "knn" and p["k"] > len(X):
        raise ParameterError("k", f"{p['k']} is more than the {len(X)} training items")
    scaler = StandardScaler().fit(X)
    est = make_estimator(kind, p, seed=seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(scaler.transform(X), y)
    from sklearn.exceptions import ConvergenceWarning

    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        hint = {"mlp": "raise max_iter or alpha", "logreg": "raise max_iter, or lower C"}.get(kind, "raise max_iter")
        logging.getLogger("audiokit").warning(f"{kind}: the optimiser did not converge in {p.get('max_iter')} "
                                              f"iterations ({hint})")
    return ClassicClassifier(kind, class_names, feature_config, p, scaler, est)


def from_modelfile(mf, *, device: str = "auto") -> ClassicClassifier:
    """Rebuild a classic classifier from a model file's arrays and params (``device`` is ignored: CPU)."""
    from sklearn.preprocessing import StandardScaler

    a, p = mf.arrays, dict(mf.params)
    try:
        scaler = StandardScaler()
        scaler.mean_, scaler.scale_, scaler.var_ = a["scaler/mean"], a["scaler/scale"], a["scaler/var"]
        scaler.n_features_in_ = int(p["n_features"])
        scaler.n_samples_seen_ = int(p["n_samples_seen"])
        classes = np.asarray(a["classes"], dtype=np.int64)
        base = {k: v for k, v in p.items() if k in DEFAULTS.get(mf.kind, {})}
        params = resolve_params(mf.kind, base)
        est = make_estimator(mf.kind, params)
        if mf.kind == "knn":
            est.fit(a["fit_X"], a["fit_y"])  # a KNN's fit stores the matrix: exact
        elif mf.kind == "svm":
            _restore_svm(est, a, p, classes)
        elif mf.kind == "mlp":
            _restore_mlp(est, a, p, classes)
        elif mf.kind == "logreg":
            est.coef_, est.intercept_ = a["coef"], a["intercept"]
            est.classes_ = classes
            est.n_features_in_ = scaler.n_features_in_
        else:
            raise ModelFileError(f"not a classic model kind: {mf.kind!r}", path=mf.path or None)
        m = ClassicClassifier(mf.kind, mf.class_names, mf.feature_config, params, scaler, est,
                              training=mf.training, metrics=mf.metrics)
        fitted = np.asarray(est.classes_)
        if len(scaler.mean_) != scaler.n_features_in_ or classes.max(initial=-1) >= len(mf.class_names) \
                or fitted.dtype.kind not in "iu" or fitted.min(initial=0) < 0 \
                or fitted.max(initial=-1) >= len(mf.class_names):
            raise ValueError("arrays disagree with the model's sizes")
        # One prediction now, so that arrays which disagree with each other (a k larger than the
        # training matrix, a matrix of another width) are refused here, not in the middle of a run.
        m.predict_proba(np.zeros((1, scaler.n_features_in_)))
        return m
    except ModelFileError:
        raise
    except UsageError as exc:
        raise ModelFileError(f"bad {mf.kind} settings in the model file ({exc.reason})", path=mf.path or None) from exc
    except (KeyError, ValueError, TypeError, IndexError, AttributeError, AudiokitError) as exc:
        what = f"missing array {exc}" if isinstance(exc, KeyError) else (str(exc).strip().splitlines() or ["?"])[0]
        raise ModelFileError(f"broken {mf.kind} model ({what})", path=mf.path or None) from exc


def _restore_svm(est, a: dict, p: dict, classes: np.ndarray) -> None:
    """Set the fitted attributes ``SVC.predict_proba`` reads (scikit-learn's libsvm wrapper)."""
    est.classes_ = classes
    est.support_ = a["support"].astype(np.int32)
    est.support_vectors_ = a["support_vectors"]
    est._n_support = a["n_support"].astype(np.int32)
    est.dual_coef_, est._dual_coef_ = a["dual_coef"], a["_dual_coef"]
    est.intercept_, est._intercept_ = a["intercept"], a["_intercept"]
    est._probA, est._probB = a["probA"], a["probB"]
    est.class_weight_ = a["class_weight"]
    est.fit_status_ = int(a["fit_status"])
    est.shape_fit_ = tuple(int(x) for x in a["shape_fit"])
    est._gamma = float(p["gamma_value"])
    est._sparse = False
    est.n_features_in_ = int(p["n_features"])


def _restore_mlp(est, a: dict, p: dict, classes: np.ndarray) -> None:
    """Set the fitted attributes ``MLPClassifier.predict_proba`` reads: weights, biases, layer counts."""
    from sklearn.preprocessing import LabelBinarizer

    n = int(p["n_layers"]) - 1
    est.coefs_ = [a[f"coefs/{i}"] for i in range(n)]
    est.intercepts_ = [a[f"intercepts/{i}"] for i in range(n)]
    est.n_layers_ = int(p["n_layers"])
    est.n_outputs_ = int(p["n_outputs"])
    est.out_activation_ = str(p["out_activation"])
    est.activation = str(p["activation"])
    est.classes_ = classes
    est._label_binarizer = LabelBinarizer().fit(classes)
    est.n_features_in_ = int(p["n_features"])
    est.n_iter_ = int(p.get("n_iter", 0))
