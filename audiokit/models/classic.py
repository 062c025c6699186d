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
svm        ``support``, ``support_vectors``, ``n_support``, ``dual_coef``, ``intercept`` (and, for
           older readers, the libsvm-signed ``_dual_coef``/``_intercept``, ``probA``/``probB``);
           kernel, C and the resolved gamma in params. Reloaded as :class:`SVMDecision`, the
           decision function computed from those arrays with numpy.
mlp        ``coefs/0..L-1`` and ``intercepts/0..L-1`` (the weight matrices and biases).
logreg     ``coef``, ``intercept``.
=========  =====================================================================================

Only public scikit-learn attributes and methods are read or set (tests/test_sklearn_layout.py).
A reloaded model's probabilities equal the original's bit for bit, an SVM's to about 1e-12
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
        names = np.asarray(self.class_names, dtype=object)[self.fit_data["fit_y"][idx]]
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
            # scikit-learn keeps a KNN's training data private; fit() and from_modelfile keep a copy
            data = getattr(self, "fit_data", None)
            if data is None or len(data["fit_X"]) != e.n_samples_fit_:
                raise AudiokitError("this knn model has no training matrix to save (fit it with classic.fit)")
            arrays["fit_X"] = np.asarray(data["fit_X"], dtype=np.float64)
            arrays["fit_y"] = np.asarray(data["fit_y"], dtype=np.int64)
        elif self.kind == "svm":
            # libsvm's own signs (the public ones, negated for two classes) and the empty Platt
            # parameters of an SVC without probability=True: older audiokit versions read them
            sign = -1.0 if len(e.classes_) == 2 else 1.0
            arrays.update({"support": e.support_, "support_vectors": e.support_vectors_,
                           "n_support": np.asarray(e.n_support_, dtype=np.int32), "dual_coef": e.dual_coef_,
                           "intercept": e.intercept_, "_dual_coef": sign * e.dual_coef_,
                           "_intercept": sign * e.intercept_, "probA": np.empty(0), "probB": np.empty(0),  # no Platt
                           "class_weight": e.class_weight_, "fit_status": np.asarray(e.fit_status_),
                           "shape_fit": np.asarray(e.shape_fit_)})
            params["gamma_value"] = _gamma_value(e)
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
    Xs = scaler.transform(X)
    if kind == "svm":
        est.set_params(gamma=_resolve_gamma(p["gamma"], Xs))  # the number is then public, for saving
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(Xs, y)
    from sklearn.exceptions import ConvergenceWarning

    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        hint = {"mlp": "raise max_iter or alpha", "logreg": "raise max_iter, or lower C"}.get(kind, "raise max_iter")
        logging.getLogger("audiokit").warning(f"{kind}: the optimiser did not converge in {p.get('max_iter')} "
                                              f"iterations ({hint})")
    m = ClassicClassifier(kind, class_names, feature_config, p, scaler, est)
    m.fit_data = {"fit_X": Xs, "fit_y": y} if kind == "knn" else None
    return m


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
        fit_data = None
        if mf.kind == "knn":
            fit_data = {"fit_X": np.asarray(a["fit_X"], dtype=np.float64),
                        "fit_y": np.asarray(a["fit_y"], dtype=np.int64)}
            est.fit(fit_data["fit_X"], fit_data["fit_y"])  # a KNN's fit stores the matrix: exact
        elif mf.kind == "svm":
            est = SVMDecision(params["kernel"])
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
        m.fit_data = fit_data
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
    """A fitted SVC's (or :class:`SVMDecision`'s) resolved gamma, from public attributes only."""
    g = e.gamma
    if g == "auto":
        return 1.0 / int(e.n_features_in_)
    if isinstance(g, str):
        raise AudiokitError(f"this svm model was fitted with gamma={g!r} outside classic.fit; its value is "
                            "not public, so it cannot be saved")
    return float(g)


class SVMDecision:
    """A fitted SVC rebuilt from its public arrays: ``decision_function`` as scikit-learn's SVC computes
    it (one-vs-one libsvm decisions turned into one-vs-rest scores with its vote-plus-confidence rule),
    and ``predict`` (libsvm's vote) computed with numpy. A real SVC cannot be rebuilt without setting its
    private libsvm fields."""

    def __init__(self, kernel: str, gamma: float = 1.0):
        self.kernel = kernel
        self.gamma = gamma

    def _kernel(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[-1]} features, the svm expects {self.n_features_in_}")
        if self.kernel == "linear":
            return X @ self.support_vectors_.T
        from scipy.spatial.distance import cdist

        # differences, not |x|^2 + |s|^2 - 2x.s, as libsvm's dense kernel does
        return np.exp(-self.gamma * cdist(X, self.support_vectors_, "sqeuclidean"))

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


def _restore_svm(est, a: dict, p: dict, classes: np.ndarray) -> None:
    """Fill an :class:`SVMDecision` from the model file's public SVC arrays (files of every audiokit
    version hold them; the libsvm-signed copies are not needed)."""
    est.classes_ = classes
    est.support_ = np.asarray(a["support"], dtype=np.int32)
    est.support_vectors_ = np.asarray(a["support_vectors"], dtype=np.float64)
    est.n_support_ = np.asarray(a["n_support"], dtype=np.int32)
    est.dual_coef_ = np.asarray(a["dual_coef"], dtype=np.float64)
    est.intercept_ = np.asarray(a["intercept"], dtype=np.float64)
    est.probA_ = np.asarray(a.get("probA", np.empty(0)), dtype=np.float64)
    est.probB_ = np.asarray(a.get("probB", np.empty(0)), dtype=np.float64)
    est.class_weight_ = np.asarray(a.get("class_weight", np.ones(len(classes))), dtype=np.float64)
    est.fit_status_ = int(a.get("fit_status", 0))
    est.shape_fit_ = tuple(int(x) for x in a.get("shape_fit", ()))
    est.gamma = float(p["gamma_value"])
    est.n_features_in_ = int(p["n_features"])
    n, s = len(classes), len(est.support_vectors_)
    if est.support_vectors_.ndim != 2 or est.support_vectors_.shape[1] != est.n_features_in_ \
            or est.n_support_.shape != (n,) or int(est.n_support_.sum()) != s or est.n_support_.min(initial=0) < 0 \
            or est.dual_coef_.shape != (n - 1, s) or est.intercept_.shape != (n * (n - 1) // 2,):
        raise ValueError("svm arrays disagree with each other in size")
    if not (np.isfinite(est.gamma) and est.gamma >= 0):
        raise ValueError(f"gamma_value must be a finite number >= 0, got {est.gamma}")


def _restore_mlp(est, a: dict, p: dict, classes: np.ndarray) -> None:
    """Make ``est`` a fitted MLPClassifier with the file's weights: one public ``partial_fit`` step on a
    dummy item sets up every fitted attribute for ``classes`` (output layer, label binarizer), then the
    public ``coefs_`` and ``intercepts_`` are replaced by the stored ones."""
    n = int(p["n_layers"]) - 1
    coefs = [np.asarray(a[f"coefs/{i}"], dtype=np.float64) for i in range(n)]
    intercepts = [np.asarray(a[f"intercepts/{i}"], dtype=np.float64) for i in range(n)]
    est.set_params(activation=str(p["activation"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.partial_fit(np.zeros((1, int(p["n_features"]))), classes[:1], classes=classes)
    if est.n_layers_ != n + 1 or est.out_activation_ != str(p["out_activation"]) \
            or [w.shape for w in est.coefs_] != [w.shape for w in coefs] \
            or [b.shape for b in est.intercepts_] != [b.shape for b in intercepts]:
        raise ValueError("mlp weights disagree with its layer sizes and classes")
    est.coefs_, est.intercepts_ = coefs, intercepts
    est.n_iter_ = int(p.get("n_iter", 0))
