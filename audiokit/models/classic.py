"""Classic classifiers: KNN, SVM, MLP, logistic regression, fitted with scikit-learn and
predicting with numpy.

Every model is a ``StandardScaler`` followed by the estimator, so features are
standardised inside the model with the training set's mean and scale. Items of any
shape are flattened to vectors.

:func:`fit` fits scikit-learn's scaler and estimator and keeps only their fitted arrays,
the ones the model file stores (:func:`from_sklearn`). A model just fitted, saved
(:meth:`ClassicClassifier.to_modelfile`, plain arrays and JSON, never a pickle) or
reloaded (:func:`from_modelfile`) predicts with the numpy predictors of this module,
built from those arrays:

=========  =====================================================================================
kind       arrays (besides ``scaler/mean``, ``scaler/scale``, ``scaler/var``, ``classes``)
=========  =====================================================================================
knn        ``fit_X`` (the standardised training matrix), ``fit_y`` (class indices); k, metric
           and weights in params. :class:`KNN` finds and weighs the neighbours as scikit-learn's
           ``KNeighborsClassifier(algorithm="brute")`` does.
svm        ``support``, ``support_vectors``, ``n_support``, ``dual_coef``, ``intercept`` (and, for
           older readers, the libsvm-signed ``_dual_coef``/``_intercept``, ``probA``/``probB``);
           kernel, C and the resolved gamma in params. :class:`SVMDecision` computes SVC's
           decision function from them.
mlp        ``coefs/0..L-1`` and ``intercepts/0..L-1`` (the weight matrices and biases); the
           activations in params (:class:`MLP`).
logreg     ``coef``, ``intercept`` (:class:`Linear`).
=========  =====================================================================================

Only public scikit-learn attributes are read (tests/test_sklearn_layout.py). The numpy
probabilities equal scikit-learn's on the same fitted estimators to 1e-12 and pick the same
classes (tests/test_classic_numpy.py); a reloaded model's equal the saved one's bit for bit
(tests/test_modelfile.py).

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
from audiokit.threads import blas_threads, fit_threads


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


class ClassicClassifier:
    """A standardisation and a numpy predictor, built from a classic model file's arrays and params,
    with the :class:`audiokit.models.Classifier` protocol.

    ``params``: the kind's settings and what fitting found (``n_features``, ``n_samples_seen``, an
    SVM's ``gamma_value``, an MLP's activations and sizes), as the model file holds them;
    ``arrays``: the model file's arrays. Raises ``KeyError``, ``ValueError`` or ``UsageError`` when
    they are missing, disagree with each other or hold a bad setting.
    """

    def __init__(self, kind: str, class_names: Sequence[str], feature_config: FeatureConfig, params: dict,
                 arrays: dict, *, training: dict | None = None, metrics: dict | None = None):
        self.kind = kind
        self.class_names = list(class_names)
        self.feature_config = feature_config
        self.arrays, self.file_params = _model_arrays(kind, arrays, params)
        #: The kind's settings (what ``train`` flags set).
        self.params = {k: v for k, v in self.file_params.items() if k in DEFAULTS[kind]}
        self.training = dict(training or {})
        self.metrics = dict(metrics or {})
        self.n_features = self.file_params["n_features"]
        self.mean, self.scale = self.arrays["scaler/mean"], self.arrays["scaler/scale"]
        if self.mean.shape != (self.n_features,) or self.scale.shape != (self.n_features,):
            raise ValueError("the scaler's arrays disagree with the model's number of features")
        if not (self.scale > 0).all():
            raise ValueError("scaler/scale must be positive")
        self.predictor = _predictor(kind, self.arrays, self.file_params)
        # the columns of the predictor's probabilities in class_names
        self.columns = np.asarray(self.predictor.classes_, dtype=np.int64)
        if self.columns.min(initial=0) < 0 or self.columns.max(initial=-1) >= len(self.class_names):
            raise ValueError("arrays disagree with the model's sizes")

    def _prepare(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X)
        X = X.reshape(len(X), -1).astype(np.float64, copy=False)
        if X.shape[1] != self.n_features:
            raise AudiokitError(f"items have {X.shape[1]} features, the model expects {self.n_features}")
        if not np.isfinite(X).all():
            raise AudiokitError("features contain NaN or infinite values")
        return (X - self.mean) / self.scale

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities ``(n, n_classes)`` in :attr:`class_names` order."""
        with blas_threads(1):
            p = self.predictor.predict_proba(self._prepare(X))
        out = np.zeros((len(p), len(self.class_names)), dtype=np.float64)
        out[:, self.columns] = p
        return out

    def predict(self, X: np.ndarray) -> list[str]:
        """The most probable class name of each item (the first on ties)."""
        return [self.class_names[i] for i in self.predict_proba(X).argmax(axis=1)]

    def kneighbors(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """KNN only: ``(distances (n, k), class names (n, k))`` of each item's k nearest training items,
        nearest first; distances are in the standardised feature space."""
        if self.kind != "knn":
            raise UsageError(f"kneighbors needs a knn model, this one is {self.kind}")
        with blas_threads(1):
            dist, idx = self.predictor.kneighbors(self._prepare(X))
        return dist, np.asarray(self.class_names, dtype=object)[self.predictor.fit_y[idx]]

    def to_modelfile(self):
        from audiokit.modelfile import ModelFile

        return ModelFile(kind=self.kind, class_names=self.class_names, feature_config=self.feature_config,
                         arrays=dict(self.arrays), params=dict(self.file_params), training=self.training,
                         metrics=self.metrics)


def fit(kind: str, X: np.ndarray, y: np.ndarray, *, class_names: Sequence[str], feature_config: FeatureConfig,
        params: dict | None = None, seed: int = 0) -> ClassicClassifier:
    """Standardise ``X`` and fit the kind's estimator on class indices ``y`` (into ``class_names``).

    Raises
    ------
    UsageError
        Bad settings, or k larger than the number of training items.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.preprocessing import StandardScaler

    p = resolve_params(kind, params or {})
    X = np.asarray(X).reshape(len(X), -1).astype(np.float64, copy=False)
    y = np.asarray(y, dtype=np.int64)
    if kind == "knn" and p["k"] > len(X):
        raise ParameterError("k", f"{p['k']} is more than the {len(X)} training items")
    scaler = StandardScaler().fit(X)
    est = make_estimator(kind, p, seed=seed)
    Xs = scaler.transform(X)
    if kind == "svm":
        est.set_params(gamma=_resolve_gamma(p["gamma"], Xs))  # the number is then public, for saving
    with warnings.catch_warnings(record=True) as caught, blas_threads(fit_threads()):
        warnings.simplefilter("always")
        est.fit(Xs, y)
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        hint = {"mlp": "raise max_iter or alpha", "logreg": "raise max_iter, or lower C"}.get(kind, "raise max_iter")
        logging.getLogger("audiokit").warning(f"{kind}: the optimiser did not converge in {p.get('max_iter')} "
                                              f"iterations ({hint})")
    return from_sklearn(kind, scaler, est, class_names=class_names, feature_config=feature_config, params=p,
                        fit_data=(Xs, y) if kind == "knn" else None)


def from_sklearn(kind: str, scaler, estimator, *, class_names: Sequence[str], feature_config: FeatureConfig,
                 params: dict, fit_data: tuple[np.ndarray, np.ndarray] | None = None) -> ClassicClassifier:
    """The classifier of a fitted ``StandardScaler`` and scikit-learn estimator: their fitted arrays,
    read once, as the model file stores them. ``params``: the kind's settings (:func:`resolve_params`);
    ``fit_data``: a KNN's standardised training matrix and class indices, which scikit-learn keeps
    private."""
    s, e = scaler, estimator
    arrays = {"scaler/mean": s.mean_, "scaler/scale": s.scale_, "scaler/var": s.var_, "classes": e.classes_}
    fitted = {"n_features": s.n_features_in_, "n_samples_seen": np.max(s.n_samples_seen_)}
    if kind == "knn":
        if fit_data is None:
            raise AudiokitError("a knn model needs the training matrix it was fitted on (fit it with classic.fit)")
        arrays["fit_X"], arrays["fit_y"] = fit_data
    elif kind == "svm":
        arrays.update(support=e.support_, support_vectors=e.support_vectors_, n_support=e.n_support_,
                      dual_coef=e.dual_coef_, intercept=e.intercept_, class_weight=e.class_weight_,
                      fit_status=e.fit_status_, shape_fit=e.shape_fit_)
        fitted["gamma_value"] = _gamma_value(e)
    elif kind == "mlp":
        for i, (w, b) in enumerate(zip(e.coefs_, e.intercepts_)):
            arrays[f"coefs/{i}"] = w
            arrays[f"intercepts/{i}"] = b
        fitted.update(activation=e.activation, out_activation=e.out_activation_, n_layers=e.n_layers_,
                      n_outputs=e.n_outputs_, n_iter=e.n_iter_)
    else:
        arrays.update(coef=e.coef_, intercept=e.intercept_)
    return ClassicClassifier(kind, class_names, feature_config, {**params, **fitted}, arrays)


def from_modelfile(mf, *, device: str = "auto") -> ClassicClassifier:
    """The classic classifier of a model file (``device`` is ignored: CPU). A file whose arrays or
    params are missing, bad or disagree with each other is a :class:`ModelFileError` naming it."""
    if mf.kind not in DEFAULTS:
        raise ModelFileError(f"not a classic model kind: {mf.kind!r}", path=mf.path or None)
    try:
        m = ClassicClassifier(mf.kind, mf.class_names, mf.feature_config, mf.params, mf.arrays,
                              training=mf.training, metrics=mf.metrics)
        # One prediction now, so that arrays which disagree with each other are refused here, not
        # in the middle of a run.
        m.predict_proba(np.zeros((1, m.n_features)))
        return m
    except ModelFileError:
        raise
    except UsageError as exc:
        raise ModelFileError(f"bad {mf.kind} settings in the model file ({exc.reason})", path=mf.path or None) from exc
    except (KeyError, ValueError, TypeError, IndexError, AttributeError, AudiokitError) as exc:
        what = f"missing array {exc}" if isinstance(exc, KeyError) else (str(exc).strip().splitlines() or ["?"])[0]
        raise ModelFileError(f"broken {mf.kind} model ({what})", path=mf.path or None) from exc


def _model_arrays(kind: str, a: dict, p: dict) -> tuple[dict, dict]:
    """The arrays and params of a classic model file, from a fitted model's or a file's of any audiokit
    version: the names this version writes, each in its dtype; the settings resolved."""
    params = resolve_params(kind, {k: v for k, v in p.items() if k in DEFAULTS[kind]})
    params.update(n_features=int(p["n_features"]), n_samples_seen=int(p["n_samples_seen"]))
    arrays = {k: np.asarray(a[k], dtype=np.float64) for k in ("scaler/mean", "scaler/scale", "scaler/var")}
    classes = np.asarray(a["classes"], dtype=np.int64)
    if kind == "knn":
        fit_y = np.asarray(a["fit_y"], dtype=np.int64)
        arrays.update(classes=np.unique(fit_y), fit_X=np.asarray(a["fit_X"], dtype=np.float64), fit_y=fit_y)
    elif kind == "svm":
        sign = -1.0 if len(classes) == 2 else 1.0  # libsvm's signs are the public ones, negated for two classes
        dual, icpt = np.asarray(a["dual_coef"], dtype=np.float64), np.asarray(a["intercept"], dtype=np.float64)
        arrays.update(classes=classes, support=np.asarray(a["support"], dtype=np.int32),
                      support_vectors=np.asarray(a["support_vectors"], dtype=np.float64),
                      n_support=np.asarray(a["n_support"], dtype=np.int32), dual_coef=dual, intercept=icpt,
                      _dual_coef=sign * dual, _intercept=sign * icpt, probA=np.empty(0), probB=np.empty(0),
                      class_weight=np.asarray(a.get("class_weight", np.ones(len(classes))), dtype=np.float64),
                      fit_status=np.asarray(int(a.get("fit_status", 0))),
                      shape_fit=np.asarray(tuple(int(x) for x in a.get("shape_fit", ()))))
        params["gamma_value"] = float(p["gamma_value"])
    elif kind == "mlp":
        arrays["classes"] = np.unique(classes)  # the output columns, as MLPClassifier orders them
        n = int(p["n_layers"]) - 1
        for i in range(n):
            arrays[f"coefs/{i}"] = np.asarray(a[f"coefs/{i}"], dtype=np.float64)
            arrays[f"intercepts/{i}"] = np.asarray(a[f"intercepts/{i}"], dtype=np.float64)
        params.update(activation=str(p["activation"]), out_activation=str(p["out_activation"]), n_layers=n + 1,
                      n_outputs=1 if len(arrays["classes"]) == 2 else len(arrays["classes"]),
                      n_iter=int(p.get("n_iter", 0)))
    else:
        arrays.update(classes=classes, coef=np.asarray(a["coef"], dtype=np.float64),
                      intercept=np.asarray(a["intercept"], dtype=np.float64))
    return arrays, params


def _predictor(kind: str, a: dict, p: dict):
    """The numpy predictor of a kind's model-file arrays and params."""
    if kind == "knn":
        return KNN(a["fit_X"], a["fit_y"], k=p["k"], metric=p["metric"], weights=p["weights"])
    if kind == "svm":
        return _svm(a, p)
    if kind == "mlp":
        n = p["n_layers"] - 1
        return MLP([a[f"coefs/{i}"] for i in range(n)], [a[f"intercepts/{i}"] for i in range(n)],
                   classes=a["classes"], n_features=p["n_features"], hidden=p["hidden"],
                   activation=p["activation"], out_activation=p["out_activation"])
    return Linear(a["coef"], a["intercept"], classes=a["classes"], n_features=p["n_features"])


# -- the predictors: numpy only ----------------------------------------------------------------------------
# Prediction does not use scikit-learn: importing it (SciPy under it) was most of a one-file `predict`'s
# start-up (docs/benchmarks.md, "classic models", start-up). Each follows its arithmetic.

def _softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax, as scikit-learn computes it (the row's maximum subtracted first)."""
    z = z - z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def _expit(z: np.ndarray) -> np.ndarray:
    """The logistic function 1 / (1 + exp(-z)) (0 where exp overflows)."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-z))


def _two_columns(p: np.ndarray) -> np.ndarray:
    """``(n,)`` probabilities of the second class → ``(n, 2)``."""
    return np.stack([1 - p, p], axis=1)


class Linear:
    """Logistic regression's probabilities from ``coef`` and ``intercept``, as scikit-learn's
    ``LogisticRegression.predict_proba``: the softmax of the decision values, or for two classes
    (one row of coefficients) the logistic function of the one decision value."""

    def __init__(self, coef, intercept, *, classes, n_features: int):
        self.coef, self.intercept, self.classes_ = np.asarray(coef), np.asarray(intercept), np.asarray(classes)
        rows = 1 if len(self.classes_) == 2 else len(self.classes_)
        if len(self.classes_) < 2 or self.coef.shape != (rows, n_features) or self.intercept.shape != (rows,):
            raise ValueError(f"logreg coef {self.coef.shape} and intercept {self.intercept.shape} disagree with "
                             f"{len(self.classes_)} classes of {n_features} features")

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        z = X @ self.coef.T + self.intercept
        return _two_columns(_expit(z[:, 0])) if z.shape[1] == 1 else _softmax(z)


class MLP:
    """A multi-layer perceptron's probabilities from its weights, as scikit-learn's
    ``MLPClassifier.predict_proba``: ``activation`` after every hidden layer, then a softmax
    (a logistic output unit for two classes)."""

    ACTIVATIONS = {"identity": lambda a: a, "relu": lambda a: np.maximum(a, 0, out=a),
                   "tanh": lambda a: np.tanh(a, out=a), "logistic": _expit}

    def __init__(self, coefs, intercepts, *, classes, n_features: int, hidden: Sequence[int], activation: str,
                 out_activation: str):
        self.coefs, self.intercepts = list(coefs), list(intercepts)
        self.classes_ = np.asarray(classes)
        n_out = 1 if len(self.classes_) == 2 else len(self.classes_)
        sizes = [n_features, *hidden, n_out]
        if activation not in self.ACTIVATIONS:
            raise ValueError(f"unknown mlp activation {activation!r}")
        if len(self.classes_) < 2 or out_activation != ("logistic" if n_out == 1 else "softmax") \
                or [w.shape for w in self.coefs] != list(zip(sizes[:-1], sizes[1:])) \
                or [b.shape for b in self.intercepts] != [(n,) for n in sizes[1:]]:
            raise ValueError("mlp weights disagree with its layer sizes and classes")
        self.activation, self.out_activation = activation, out_activation

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        a = X
        for i, (w, b) in enumerate(zip(self.coefs, self.intercepts)):
            a = a @ w
            a += b
            if i < len(self.coefs) - 1:
                a = self.ACTIVATIONS[self.activation](a)
        return _two_columns(_expit(a[:, 0])) if self.out_activation == "logistic" else _softmax(a)


#: The knn metrics (the settings' choices).
KNN_METRICS = ("euclidean", "manhattan", "chebyshev", "cosine")
#: Distances computed at once, at most (queries × training items); more are computed in parts.
_BLOCK_CELLS = 1 << 22


class KNN:
    """k nearest neighbours by brute force, found and weighed as scikit-learn's
    ``KNeighborsClassifier(algorithm="brute")`` does, in its order of arithmetic (so the
    distances agree to the last bits, usually to the bit) and with its choice among ties:

    * euclidean: sqrt(|x|² - 2 x·y + |y|²) on blocks of 256 × 256, floored at 0 (a self-distance
      is then about sqrt(eps) · |x|, not 0); manhattan and chebyshev summed feature by feature;
      cosine: 1 - the dot product of unit rows, clipped to [0, 2];
    * of items equally far at the k-th place, those scikit-learn's neighbour heap keeps (euclidean,
      manhattan, chebyshev) or its argpartition picks (cosine);
    * ``weights="distance"``: votes of 1 / distance, or only the neighbours at distance 0 when there
      are any; probabilities are the votes over their sum.

    Neighbours are listed nearest first; equally distant ones in training order (scikit-learn's order
    among them depends on its heap's layout, and for cosine it is kept).
    """

    def __init__(self, fit_X, fit_y, *, k: int, metric: str = "euclidean", weights: str = "uniform"):
        self.fit_X = np.asarray(fit_X, dtype=np.float64)
        self.fit_y = np.asarray(fit_y, dtype=np.int64)
        if self.fit_X.ndim != 2 or not len(self.fit_X) or self.fit_y.shape != (len(self.fit_X),):
            raise ValueError(f"knn fit_X {self.fit_X.shape} and fit_y {self.fit_y.shape} disagree in size")
        if not 1 <= k <= len(self.fit_X):
            raise ValueError(f"k={k} is more than the {len(self.fit_X)} training items")
        if metric not in KNN_METRICS or weights not in ("uniform", "distance"):
            raise ValueError(f"unknown knn metric {metric!r} or weights {weights!r}")
        self.k, self.metric, self.weights = int(k), metric, weights
        self.classes_, self.labels = np.unique(self.fit_y, return_inverse=True)
        if metric == "euclidean":
            self.fit_sq = _row_sq(self.fit_X)
        elif metric == "cosine":
            self.fit_unit = _unit_rows(self.fit_X)
        else:
            self.fit_T = np.ascontiguousarray(self.fit_X.T)

    def kneighbors(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(distances, indices into fit_X)``, each ``(n, k)``, nearest first."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.fit_X.shape[1]:
            raise ValueError(f"X has {X.shape[-1]} features, the knn expects {self.fit_X.shape[1]}")
        step = max(256, _BLOCK_CELLS // len(self.fit_X) // 256 * 256)
        parts = [self._kneighbors(X[i:i + step]) for i in range(0, len(X), step)] or \
            [(np.empty((0, self.k)), np.empty((0, self.k), dtype=np.intp))]
        return np.concatenate([d for d, _ in parts]), np.concatenate([i for _, i in parts])

    def _kneighbors(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.metric == "cosine":
            # scikit-learn's way for a metric its neighbour search lacks: all distances, argpartition, argsort
            d = _unit_rows(X) @ self.fit_unit.T
            d *= -1
            d += 1
            d = np.clip(d, 0.0, 2.0)
            rows = np.arange(len(d))[:, None]
            idx = np.argpartition(d, self.k - 1, axis=1)[:, :self.k]
            idx = idx[rows, np.argsort(d[rows, idx])]
            return d[rows, idx], idx
        if self.metric == "euclidean":
            r = _sq_euclidean(X, self.fit_X, self.fit_sq)
        else:
            r = _by_feature(X, self.fit_T, self.metric)
        idx = _k_smallest(r, self.k)
        dist = np.take_along_axis(r, idx, axis=1)
        return (np.sqrt(dist) if self.metric == "euclidean" else dist), idx

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        dist, idx = self.kneighbors(X)
        if self.weights == "distance":
            with np.errstate(divide="ignore"):
                w = 1.0 / dist
            at_zero = np.isinf(w)
            rows = at_zero.any(axis=1)
            w[rows] = at_zero[rows]
        else:
            w = np.ones(idx.shape)
        votes = np.zeros((len(idx), len(self.classes_)))
        labels, rows = self.labels[idx], np.arange(len(idx))
        for i in range(self.k):  # nearest first, as scikit-learn adds them
            votes[rows, labels[:, i]] += w[:, i]
        votes /= votes.sum(axis=1)[:, None]
        return votes


def _row_sq(X: np.ndarray) -> np.ndarray:
    """|x|² of each row, each a BLAS dot product of the row with itself (scikit-learn's row norms)."""
    return np.matmul(X[:, None, :], X[:, :, None])[:, 0, 0]


def _sq_euclidean(X: np.ndarray, Y: np.ndarray, y_sq: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances ``(len(X), len(Y))`` as scikit-learn's neighbour search computes
    them: (|x|² + (-2 x·y)) + |y|² on blocks of 256 × 256 items, floored at 0."""
    B = 256
    x_sq = _row_sq(X)
    out = np.empty((len(X), len(Y)))
    for a in range(0, len(X), B):
        xa = X[a:a + B]
        # at least two rows: numpy computes one row times a matrix as a matrix-vector product, whose
        # sums round differently from the matrix product scikit-learn computes
        xm = np.vstack([xa, xa]) if len(xa) == 1 else xa
        for b in range(0, len(Y), B):
            d = (xm @ Y[b:b + B].T)[:len(xa)]
            d *= -2.0
            d += x_sq[a:a + B, None]
            d += y_sq[b:b + B]
            out[a:a + B, b:b + B] = d
    return np.maximum(out, 0.0, out=out)


def _by_feature(X: np.ndarray, YT: np.ndarray, metric: str) -> np.ndarray:
    """``manhattan``, ``chebyshev`` or ``sqeuclidean`` distances of the rows of ``X`` to the columns of
    ``YT``, accumulated feature by feature as scipy and scikit-learn do per pair."""
    out = np.zeros((len(X), YT.shape[1]))
    diff = np.empty_like(out)
    for j in range(YT.shape[0]):
        np.subtract(X[:, j, None], YT[j], out=diff)
        if metric == "sqeuclidean":
            np.multiply(diff, diff, out=diff)
            out += diff
        else:
            np.abs(diff, out=diff)
            if metric == "manhattan":
                out += diff
            else:
                np.maximum(out, diff, out=out)
    return out


def _unit_rows(X: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1, as scikit-learn's ``normalize`` (near-zero rows left as they are)."""
    norms = np.sqrt(np.einsum("ij,ij->i", X, X))
    norms[norms < 10 * np.finfo(np.float64).eps] = 1.0
    return X / norms[:, None]


def _k_smallest(r: np.ndarray, k: int) -> np.ndarray:
    """Indices of each row's k smallest values, smallest first (equal values in index order). Where
    the k-th smallest value is shared by more items than fit, the ones kept are those scikit-learn's
    neighbour heap keeps (:func:`_heap_keep`)."""
    if k == r.shape[1]:
        idx = np.broadcast_to(np.arange(k), r.shape).copy()
    else:
        idx = np.argpartition(r, k, axis=1)[:, :k + 1]  # the k + 1 smallest, the largest of them last
        part = np.take_along_axis(r, idx, axis=1)
        idx = np.sort(idx[:, :k], axis=1)
        for i in np.flatnonzero(part[:, :k].max(axis=1) == part[:, k]):  # a tie at the k-th place
            idx[i] = _heap_keep(r[i], k)
    order = np.argsort(np.take_along_axis(r, idx, axis=1), axis=1, kind="stable")
    return np.take_along_axis(idx, order, axis=1)


def _heap_keep(values: np.ndarray, k: int) -> np.ndarray:
    """The indices (ascending) scikit-learn's fixed-size max-heap (``sklearn.utils._heap.heap_push``)
    holds after the values are pushed in index order: a value not below the root is dropped,
    otherwise it replaces the root and sinks."""
    heap_v, heap_i = [np.finfo(np.float64).max] * k, [0] * k
    for j, v in enumerate(values.tolist()):
        if v >= heap_v[0]:
            continue
        at = 0
        while True:
            left, right = 2 * at + 1, 2 * at + 2
            if left >= k:
                break
            child = left if right >= k or heap_v[left] >= heap_v[right] else right
            if not v < heap_v[child]:
                break
            heap_v[at], heap_i[at] = heap_v[child], heap_i[child]
            at = child
        heap_v[at], heap_i[at] = v, j
    return np.sort(np.asarray(heap_i, dtype=np.intp))


def _resolve_gamma(gamma, Xs: np.ndarray) -> float:
    """The RBF width SVC derives from ``gamma`` on the matrix it is fitted on, as scikit-learn documents
    it (``scale``: 1 / (n_features * X.var()), ``auto``: 1 / n_features); fitting with this number gives
    the same model and leaves the value in the public ``gamma`` parameter."""
    if gamma == "scale":
        var = Xs.var()
        return 1.0 / (Xs.shape[1] * var) if var != 0 else 1.0
    if gamma == "auto":
        return 1.0 / Xs.shape[1]
    return float(gamma)


def _gamma_value(e) -> float:
    """A fitted SVC's resolved gamma, from public attributes only."""
    g = e.gamma
    if g == "auto":
        return 1.0 / int(e.n_features_in_)
    if isinstance(g, str):
        raise AudiokitError(f"this svm model was fitted with gamma={g!r} outside classic.fit; its value is "
                            "not public, so it cannot be saved")
    return float(g)


class SVMDecision:
    """A fitted SVC computed from its public arrays: ``decision_function`` as scikit-learn's SVC computes
    it (one-vs-one libsvm decisions turned into one-vs-rest scores with its vote-plus-confidence rule),
    ``predict`` (libsvm's vote) and ``predict_proba`` (the softmax of the decision values)."""

    def __init__(self, kernel: str, gamma: float = 1.0):
        self.kernel = kernel
        self.gamma = gamma

    def _kernel(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[-1]} features, the svm expects {self.n_features_in_}")
        if self.kernel == "linear":
            return X @ self.support_vectors_.T
        # differences, not |x|^2 + |s|^2 - 2x.s, as libsvm's dense kernel does
        return np.exp(-self.gamma * _by_feature(X, np.ascontiguousarray(self.support_vectors_.T), "sqeuclidean"))

    def _ovo(self, X: np.ndarray) -> np.ndarray:
        """libsvm's decision of each class pair (i, j), i < j, in scikit-learn's order; > 0 votes i."""
        K = self._kernel(X)
        n = len(self.classes_)
        at = np.r_[0, np.cumsum(self.n_support_)]
        rows = []
        for i in range(n):
            for j in range(i + 1, n):
                si, sj = slice(at[i], at[i + 1]), slice(at[j], at[j + 1])
                rows.append(K[:, si] @ self.dual_coef_[j - 1, si] + K[:, sj] @ self.dual_coef_[i, sj])
        return np.stack(rows, axis=1) + self.intercept_

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """``(n,)`` for two classes (> 0 means ``classes_[1]``), else ``(n, n_classes)`` one-vs-rest."""
        if len(self.classes_) == 2:
            # the public dual_coef_ and intercept_ of a two-class SVC are libsvm's negated
            K = self._kernel(X)
            return K @ self.dual_coef_[0] + self.intercept_[0]
        dec = self._ovo(X)
        return self._vote(dec, tie_to_first=True) + self._confidence(dec)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """The softmax of the one-vs-rest decision values (a sigmoid for two classes): their argmax is
        the decision's class (libsvm's vote, a tie broken by the summed confidences), which Platt
        scaling does not promise."""
        d = self.decision_function(X)
        if d.ndim == 1:
            d = np.stack([-d, d], axis=1) / 2
        return _softmax(d)

    def _vote(self, dec: np.ndarray, *, tie_to_first: bool) -> np.ndarray:
        # a decision of exactly 0 goes to i in scikit-learn's one-vs-rest scores, to j in libsvm's vote
        wins = dec >= 0 if tie_to_first else dec > 0
        first, second = self._pairs()
        return wins @ first + ~wins @ second

    def _pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """One-hot ``(n_pairs, n_classes)`` of class i and of class j for each one-vs-one decision,
        in SVC's order (0-1, 0-2, …, 1-2, …)."""
        n = len(self.classes_)
        i, j = np.triu_indices(n, 1)
        eye = np.eye(n)
        return eye[i], eye[j]

    def _confidence(self, dec: np.ndarray) -> np.ndarray:
        first, second = self._pairs()
        conf = dec @ (first - second)
        return conf / (3 * (np.abs(conf) + 1))  # into (-1/3, 1/3): breaks ties without changing votes

    def predict(self, X: np.ndarray) -> np.ndarray:
        """libsvm's prediction: the class with most one-vs-one votes (the first on ties)."""
        if len(self.classes_) == 2:
            return self.classes_[(self.decision_function(X) >= 0).astype(np.int64)]
        return self.classes_[self._vote(self._ovo(X), tie_to_first=False).argmax(axis=1)]


def _svm(a: dict, p: dict) -> SVMDecision:
    """The :class:`SVMDecision` of a model file's public SVC arrays (files of every audiokit version
    hold them; the libsvm-signed copies are not needed)."""
    est = SVMDecision(p["kernel"], float(p["gamma_value"]))
    est.classes_ = a["classes"]
    est.support_vectors_, est.n_support_ = a["support_vectors"], a["n_support"]
    est.dual_coef_, est.intercept_ = a["dual_coef"], a["intercept"]
    est.n_features_in_ = p["n_features"]
    n, s = len(est.classes_), len(est.support_vectors_)
    if est.support_vectors_.ndim != 2 or est.support_vectors_.shape[1] != est.n_features_in_ \
            or est.n_support_.shape != (n,) or int(est.n_support_.sum()) != s or est.n_support_.min(initial=0) < 0 \
            or est.dual_coef_.shape != (n - 1, s) or est.intercept_.shape != (n * (n - 1) // 2,):
        raise ValueError("svm arrays disagree with each other in size")
    if not (np.isfinite(est.gamma) and est.gamma >= 0):
        raise ValueError(f"gamma_value must be a finite number >= 0, got {est.gamma}")
    return est
