"""``train --model knn|svm|mlp|logreg``: validation, cross-validation, the KNN k sweep, the model file.

The flow of a run (docs/training.md):

1. read the store; drop unlabelled items; refuse an empty store, one class, NaN features;
2. ``--test-split``: hold out a test set (store folds or a stratified, group-aware fraction);
3. KNN with a k range: score every k by (group) K-fold CV on the training part (``--folds`` K,
   else 5 or fewer when classes/groups are small) and keep the best (ties → smaller k);
4. ``--folds K``: per-fold and mean ± std accuracy and macro-F1, then refit on all the
   training part; ``--val-split F``: fit on the rest, score on the held-out share — the
   saved model is the one scored; neither: fit on everything, no held-out score;
5. score the test set once with the saved model; write the model, then the report beside it.
"""

from __future__ import annotations

import logging
import re
from typing import Sequence

import numpy as np

from audiokit.errors import AudiokitError, UsageError
from audiokit.training import TrainRun
from audiokit.training import report as rep
from audiokit.training import splits

log = logging.getLogger("audiokit")
#: Folds of the CV that picks k when --folds is not given.
SWEEP_FOLDS = 5


def parse_k(spec) -> list[int]:
    """``--k``: ``"8"`` → ``[8]``; ``"1..40"`` → 1…40; ``"1..40:2"`` → 1, 3, …, 39; ``"1,3,5"``.

    >>> parse_k("1..5"), parse_k("3..9:3"), parse_k("8"), parse_k("5,1,3")
    ([1, 2, 3, 4, 5], [3, 6, 9], [8], [1, 3, 5])
    """
    s = str(spec).replace(" ", "")
    try:
        m = re.fullmatch(r"(\d+)\.\.(\d+)(?::(\d+))?", s)
        if m:
            lo, hi, step = int(m[1]), int(m[2]), int(m[3] or 1)
            if lo < 1 or hi < lo or step < 1:
                raise ValueError
            ks = list(range(lo, hi + 1, step))
        else:
            ks = sorted({int(x) for x in s.split(",")})
        if not ks or min(ks) < 1:
            raise ValueError
        return ks
    except ValueError:
        raise UsageError(f"--k must be a positive number, a range like 1..40 (or 1..40:2), or a list like "
                         f"1,3,5; got {spec!r}") from None


def train(run: TrainRun, options: dict) -> dict:
    """Train a classic model as ``run`` and ``options`` say; write the model and its report.

    Returns the report (the same dict as the JSON written beside the model), whose
    ``summary`` holds the human lines the CLI prints.
    """
    from audiokit.models import classic
    from audiokit.store import open_store

    kind = run.model
    options = dict(options)
    ks = parse_k(options.pop("k")) if "k" in options else None
    if ks is not None and kind != "knn":
        raise UsageError(f"--k is a knn setting, not of --model {kind}")
    params = classic.resolve_params(kind, {**options, **({"k": ks[0]} if ks else {})})
    sweep = ks is not None and len(ks) > 1
    if run.plot and not sweep:
        raise UsageError("--plot for a classic model draws the k sweep: give --model knn --k 1..40")

    with open_store(run.store, stdin=run.stdin) as store:
        name = store.name
        labelled = np.flatnonzero(store.labelled)
        splits.check_labels(store.labels, class_names=store.class_names, path=name)
        if len(labelled) < len(store):
            log.warning(f"train: leaving out {len(store) - len(labelled)} unlabelled items of {len(store)}")
        X_all = store.X  # refuses NaN/inf
        X = X_all[labelled]
        y_store = store.labels[labelled]
        groups = splits.resolve_groups(run.group_by, store_groups=store.groups, paths=store.paths)
        groups = None if groups is None else groups[labelled]
        folds_col = None if store.folds is None else store.folds[labelled]
        cfg = store.config
        store_classes = list(store.class_names)
        item_shape = store.item_shape
        n_store = len(store)

    # -- test hold-out --------------------------------------------------------------------------------
    held = splits.holdout_split(run.test_split, labels=y_store, groups=groups, folds=folds_col, seed=run.seed,
                                class_names=store_classes, path=name)
    rest = np.arange(len(y_store)) if held is None else held[0]
    test = None if held is None else held[1]

    # The model knows the classes it is trained on; classes only in the test set are reported by eval.
    present = np.unique(y_store[rest])
    if len(present) < 2:
        raise AudiokitError("only one class left to train on after holding out the test set", path=name)
    class_names = [store_classes[c] for c in present]
    remap = np.full(len(store_classes), -1, dtype=np.int64)
    remap[present] = np.arange(len(present))
    y = remap[y_store]
    Xr, yr = X[rest], y[rest]
    gr = None if groups is None else groups[rest]

    def fit(Xf, yf, p):
        return classic.fit(kind, Xf, yf, class_names=class_names, feature_config=cfg, params=p, seed=run.seed)

    report: dict = {
        "command": "train", "model": kind, "output": run.output, "store": name, "feature_config": cfg.to_dict(),
        "items": {"store": n_store, "labelled": int(len(labelled)), "train": int(len(rest)),
                  "test": 0 if test is None else int(len(test))},
        "feature_dim": int(np.prod(item_shape)), "classes": class_names,
        "grouped": groups is not None, "n_groups": None if groups is None else int(len(set(groups))),
        "seed": run.seed,
    }
    summary = [f"{kind}{rep.why_kind(run)} on {len(rest)} items, {len(class_names)} classes, {int(np.prod(item_shape))} features "
               f"[{cfg.describe()}]" + (f", {len(set(gr))} groups" if gr is not None else "")]
    lost = sorted(set(np.unique(y_store)) - set(present))
    if lost:
        log.warning("train: classes only in the test set, unknown to the model: "
                    + ", ".join(store_classes[c] for c in lost))

    # -- splits, then the KNN k sweep on the items that train (never on validation items) -------------
    if run.folds:
        cv_folds = (splits.store_folds(None if folds_col is None else folds_col[rest], path=name)
                    if run.folds == "store" else
                    splits.cv_splits(yr, gr, folds=run.folds, seed=run.seed, class_names=class_names, path=name))
        fit_part = np.arange(len(yr))
    elif run.val_split:
        tr, va = splits.train_val_split(yr, gr, val_fraction=run.val_split, seed=run.seed,
                                        class_names=class_names, path=name)
        fit_part = tr
    else:
        fit_part = np.arange(len(yr))
    if kind == "knn" and sweep:
        table, params["k"], sweep_info = _sweep_k(ks, Xr[fit_part], yr[fit_part],
                                                  None if gr is None else gr[fit_part], params, run,
                                                  class_names, name, fit)
        report["k_sweep"] = {**sweep_info, "items": int(len(fit_part)), "table": table, "chosen_k": params["k"]}
        summary += _k_table_lines(table, params["k"], sweep_info)
        if run.plot:
            report["plot"] = run.plot

    def refit(after: str):
        """The saved model: fit again on every training item, and say so."""
        _check_k(params, len(yr), name)
        report["refit"] = {"items": int(len(yr)), "note": f"after {after} the saved model was refit on all "
                                                          "training items"}
        summary.append(f"refit on all {len(yr)} training items after {after} (--no-refit keeps the "
                       + ("fold models as an ensemble)" if after == "cross-validation" else "validated model)"))
        return fit(Xr, yr, params)

    # -- validation -------------------------------------------------------------------------------------
    if run.folds:
        scores, members = [], []
        for i, (tr, va) in enumerate(cv_folds):
            _check_k(params, len(tr), name)
            m = fit(Xr[tr], yr[tr], params)
            members.append(m)
            pred = m.predict_proba(Xr[va]).argmax(axis=1)
            scores.append(rep.fold_scores(yr[va], pred, labels=list(range(len(class_names)))))
            log.debug(f"train: fold {i + 1}/{len(cv_folds)} accuracy {scores[-1]['accuracy']:.4f}")
        cv = rep.cv_summary(scores)
        cv.update(k=len(cv_folds), grouped=gr is not None)
        report["cv"] = cv
        summary += rep.cv_lines(cv)
        if sweep:
            summary.append("  (k was chosen on these same folds, so this estimate is optimistic; "
                           "--test-split gives an unbiased one)")
        summary.append(f"  protocol: fold 1 {splits.describe_split(*cv_folds[0], gr, what='scored')['text']}")
        if run.refit is False:
            from audiokit.models.ensemble import Ensemble

            model = Ensemble(members)
            report["ensemble"] = {"members": len(members), "note": "the saved model is the fold models, their "
                                                                   "probabilities averaged"}
            summary.append(f"the saved model: the {len(members)} fold models as an ensemble (probabilities "
                           "averaged; --refit trains one model on all items instead)")
        else:
            model = refit("cross-validation")
    elif run.val_split:
        _check_k(params, len(tr), name)
        model = fit(Xr[tr], yr[tr], params)
        pred = model.predict_proba(Xr[va]).argmax(axis=1)
        val = rep.fold_scores(yr[va], pred, labels=list(range(len(class_names))))
        val["protocol"] = splits.describe_split(tr, va, gr)
        grouped = val["protocol"].get("shared_groups") == 0  # False when the split fell back to items
        val.update(fraction=run.val_split, share=len(va) / len(yr), grouped=grouped, train=int(len(tr)))
        if grouped:
            val["val_groups"] = val["protocol"]["groups"]
        report["validation"] = val
        summary.append(f"{val['protocol']['text']}: accuracy {100 * val['accuracy']:.1f} %, "
                       f"macro-F1 {100 * val['macro_f1']:.1f} %")
        if run.refit is not False:
            model = refit("validation")
    else:
        _check_k(params, len(yr), name)
        model = fit(Xr, yr, params)
        summary.append(f"no validation (--val-split 0): trained on all {len(yr)} items")

    if kind == "knn":
        n_min_class = int(np.bincount(yr).min())
        if params["k"] > n_min_class:
            log.warning(f"train: k={params['k']} is more than the {n_min_class} items of the smallest class; "
                        "its items can be outvoted by their neighbours")

    # -- test set ---------------------------------------------------------------------------------------
    if test is not None:
        yt = y[test]
        known = yt >= 0
        pred = model.predict_proba(X[test][known]).argmax(axis=1)
        ts = rep.fold_scores(yt[known], pred, labels=list(range(len(class_names))))
        ts.update(spec=run.test_split, unknown_class_items=int((~known).sum()))
        report["test"] = ts
        ts["protocol"] = splits.describe_split(rest, test[known], groups, what="test")
        summary.append(f"{ts['protocol']['text']} (--test-split {run.test_split}): accuracy "
                       f"{100 * ts['accuracy']:.1f} %, macro-F1 {100 * ts['macro_f1']:.1f} %")

    report["params"] = params
    if "ensemble" not in report:
        model.params = params
    model.training = {"store": name, "items": int(len(labelled)),
                      "trained_on": len(yr) if "ensemble" in report else int(np.max(model.scaler.n_samples_seen_)),
                      "seed": run.seed, "val_split": run.val_split, "folds": run.folds, "group_by": run.group_by,
                      "test_split": run.test_split, "argv": run.argv, "groups": splits.group_names(gr),
                      "class_counts": rep.class_counts(yr, class_names), "refit": "refit" in report}
    model.metrics = {key: report[key] for key in ("validation", "cv", "test", "k_sweep") if key in report}

    from audiokit.modelfile import save_model

    save_model(run.output, model.to_modelfile())
    if "plot" in report:  # after the model, so a failed run leaves no plot of it
        _plot_k(run.plot, report["k_sweep"]["table"], params["k"], report["k_sweep"])
    report_file = rep.write_report(run.output, report)
    report["report"] = report_file
    where = "stdout" if run.output == "-" else run.output
    summary.append(f"model → {where}" + (f" (report: {report_file})" if report_file else ""))
    report["summary"] = summary
    if report_file:  # the file gets the summary too, so it is complete on its own
        rep.write_report(run.output, report)
    return report


def _check_k(params: dict, n_train: int, path: str) -> None:
    if "k" in params and params["k"] > n_train:
        raise UsageError(f"--k {params['k']} is more than the {n_train} items a model is trained on", path=path)


def _sweep_k(ks: list[int], X, y, groups, params: dict, run: TrainRun, class_names, path, fit):
    """Score every k by (group) K-fold CV accuracy on (X, y); the best k, ties to the smaller."""
    from sklearn.metrics import accuracy_score

    if run.folds and run.folds != "store":
        n_folds = run.folds
    else:
        counts = np.bincount(y)
        n_folds = min(SWEEP_FOLDS, int(counts[counts > 0].min()))
        if groups is not None:
            n_folds = min(n_folds, len(set(groups)))
        if n_folds < 2:
            raise UsageError("a k sweep needs at least 2 items (and groups) per class for cross-validation",
                             path=path)
    folds = splits.cv_splits(y, groups, folds=n_folds, seed=run.seed, class_names=class_names, path=path)
    smallest = min(len(tr) for tr, _ in folds)
    usable = [k for k in ks if k <= smallest]
    if not usable:
        raise UsageError(f"--k {ks[0]}..{ks[-1]}: every k is more than the {smallest} items of the smallest "
                         "training fold", path=path)
    if len(usable) < len(ks):
        log.warning(f"train: k sweep limited to {usable[0]}..{usable[-1]}: the smallest training fold has "
                    f"{smallest} items")
    # One scaler + KNN per k and fold: cheap, since a KNN's fit only stores the data.
    acc = np.zeros((len(usable), len(folds)))
    for j, (tr, va) in enumerate(folds):
        for i, k in enumerate(usable):
            m = fit(X[tr], y[tr], {**_knn_only(params), "k": k})
            acc[i, j] = accuracy_score(y[va], m.predict_proba(X[va]).argmax(axis=1))
    means, stds = acc.mean(axis=1), acc.std(axis=1)
    best = means.max()
    chosen = usable[int(np.flatnonzero(means >= best - 1e-12)[0])]
    table = [{"k": k, "accuracy": float(mu), "std": float(sd)} for k, mu, sd in zip(usable, means, stds)]
    info = {"folds": n_folds, "grouped": groups is not None, "criterion": "mean CV accuracy, ties to the smaller k"}
    return table, chosen, info


def _knn_only(params: dict) -> dict:
    return {k: params[k] for k in ("metric", "weights")}


def _k_table_lines(table: Sequence[dict], chosen: int, info: dict) -> list[str]:
    lines = [f"k sweep ({info['folds']}-fold{' group' if info['grouped'] else ''} CV accuracy):", "    k  accuracy"]
    for row in table:
        mark = "  ← chosen" if row["k"] == chosen else ""
        lines.append(f"  {row['k']:3d}  {100 * row['accuracy']:5.1f} % ± {100 * row['std']:.1f} %{mark}")
    lines.append(f"chosen k = {chosen}")
    return lines


def _plot_k(path: str, table, chosen: int, info: dict) -> None:
    """Accuracy vs k (the KNN paper's figure) as a PNG, written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    from audiokit.evaluate import save_figure

    save_figure(fig, path)
