"""The fitter of the scikit-learn kinds (knn, svm, mlp, logreg) in :mod:`audiokit.training.run`.

What is theirs alone: features as vectors, the KNN k sweep before the run (every k scored by
(group) K-fold CV on the items that train, never on validation items: ``folds`` K, else 5 or
fewer when classes or groups are few; ties go to the smaller k), and its accuracy-vs-k plot.
"""

from __future__ import annotations

import contextlib
import logging

import numpy as np

from audiokit.errors import ParameterError, UsageError
from audiokit.training import splits
from audiokit.training.run import FitResult

log = logging.getLogger("audiokit")
#: Folds of the CV that picks k when ``folds`` is not given.
SWEEP_FOLDS = 5


class ClassicFitter:
    family = "scikit-learn"
    is_main = True
    rank = 0
    #: No early stopping, so no validation split inside CV folds.
    inner_validation = None

    def __init__(self, kind: str, settings, *, store: str, output: str):
        self.kind, self.settings = kind, settings
        self.params = settings.model_params()
        self.sweep = None
        if settings.plot and not (kind == "knn" and len(settings.ks) > 1):
            raise ParameterError("plot", "for a classic model draws the k sweep: give a knn model a k range "
                                         "like 1..40")

    def session(self):
        return contextlib.nullcontext()

    def log_fold(self, line: str) -> None:
        log.debug(line)

    # -- data -------------------------------------------------------------------------------------------------
    def check_store(self, store) -> None:
        pass

    def features(self, store, labelled):
        return store.X[labelled]  # refuses NaN/inf

    def check_data(self, *args) -> None:
        pass

    # -- the run ----------------------------------------------------------------------------------------------
    def prepare(self, data, jobs, sweep_rows, report) -> None:
        self._data = data
        if self.kind == "knn" and len(self.settings.ks) > 1:
            table, self.params["k"], info = _sweep_k(self.settings.ks, data.X[sweep_rows], data.y[sweep_rows],
                                                     None if data.groups is None else data.groups[sweep_rows],
                                                     self.params, self.settings, data.class_names, data.name,
                                                     self._fit_fn(data))
            report["k_sweep"] = self.sweep = {**info, "items": int(len(sweep_rows)), "table": table,
                                              "chosen_k": self.params["k"]}

    def _fit_fn(self, data):
        from audiokit.models import classic

        def fit(X, y, params):
            return classic.fit(self.kind, X, y, class_names=data.class_names, feature_config=data.config,
                               params=params, seed=self.settings.seed)
        return fit

    def resume_point(self, jobs):
        return 0, [], []

    def fit(self, job, data, done) -> FitResult:
        if "k" in self.params and self.params["k"] > len(job.train):
            raise ParameterError("k", f"{self.params['k']} is more than the {len(job.train)} items a model is "
                                      "trained on", path=data.name)
        return FitResult(self._fit_fn(data)(data.X[job.train], data.y[job.train], self.params))

    def proba(self, model, rows):
        return model.predict_proba(self._data.X[rows])

    def fitting(self):
        return contextlib.nullcontext()

    def saved_model(self, res):
        return res.model

    def member(self, job, model):
        return model

    def report(self, report, final_job, final_res) -> None:
        report["params"] = self.params
        if self.kind == "knn":
            n_min_class = int(np.bincount(self._data.y[self._data.rest]).min())
            if self.params["k"] > n_min_class:
                log.warning(f"train: k={self.params['k']} is more than the {n_min_class} items of the smallest "
                            "class; its items can be outvoted by their neighbours")
        if self.sweep is not None and self.settings.plot:
            report["plot"] = self.settings.plot

    def training_record(self, report, final_res) -> dict:
        return {}

    def metrics_record(self, report) -> dict:
        return {}

    def after_save(self, report, members) -> None:
        if "plot" in report:
            _plot_k(self.settings.plot, self.sweep["table"], self.params["k"], self.sweep)


def _sweep_k(ks: list[int], X, y, groups, params: dict, settings, class_names, path, fit):
    """Score every k by (group) K-fold CV accuracy on (X, y); the best k, ties to the smaller."""
    from audiokit.metrics import accuracy

    if settings.folds and settings.folds != "store":
        n_folds = settings.folds
    else:
        counts = np.bincount(y)
        n_folds = min(SWEEP_FOLDS, int(counts[counts > 0].min()))
        if groups is not None:
            n_folds = min(n_folds, len(set(groups)))
        if n_folds < 2:
            raise UsageError("a k sweep needs at least 2 items (and groups) per class for cross-validation",
                             path=path)
    folds = splits.cv_splits(y, groups, folds=n_folds, seed=settings.seed, class_names=class_names, path=path)
    smallest = min(len(tr) for tr, _ in folds)
    usable = [k for k in ks if k <= smallest]
    if not usable:
        raise ParameterError("k", f"{ks[0]}..{ks[-1]}: every k is more than the {smallest} items of the smallest "
                                  "training fold", path=path)
    if len(usable) < len(ks):
        log.warning(f"train: k sweep limited to {usable[0]}..{usable[-1]}: the smallest training fold has "
                    f"{smallest} items")
    # One scaler + KNN per k and fold: cheap, since a KNN's fit only stores the data.
    acc = np.zeros((len(usable), len(folds)))
    for j, (tr, va) in enumerate(folds):
        for i, k in enumerate(usable):
            m = fit(X[tr], y[tr], {**params, "k": k})
            acc[i, j] = accuracy(y[va], m.predict_proba(X[va]).argmax(axis=1))
    means, stds = acc.mean(axis=1), acc.std(axis=1)
    chosen = usable[int(np.flatnonzero(means >= means.max() - 1e-12)[0])]
    table = [{"k": k, "accuracy": float(mu), "std": float(sd)} for k, mu, sd in zip(usable, means, stds)]
    info = {"folds": n_folds, "grouped": groups is not None, "criterion": "mean CV accuracy, ties to the smaller k"}
    return table, chosen, info


def _plot_k(path: str, table, chosen: int, info: dict) -> None:
    """Accuracy vs k (the KNN paper's figure) as a PNG, written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from audiokit.evaluate import save_figure

    ks = [r["k"] for r in table]
    acc = np.array([r["accuracy"] for r in table]) * 100
    sd = np.array([r["std"] for r in table]) * 100
    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    ax.plot(ks, acc, marker="o", ms=3)
    ax.fill_between(ks, acc - sd, acc + sd, alpha=0.2)
    ax.axvline(chosen, color="C3", ls="--", lw=1, label=f"chosen k = {chosen}")
    ax.set_xlabel("k (neighbours)")
    ax.set_ylabel("CV accuracy (%)")
    ax.set_title(f"KNN accuracy vs k ({info['folds']}-fold{' group' if info['grouped'] else ''} CV)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path)
