"""``eval``: score a trained model (any kind) on a labelled store — metrics, report, plot.

Every figure is scikit-learn's definition (:mod:`sklearn.metrics`, computed with numpy by
:mod:`audiokit.metrics`) on the model's predictions (the most probable class of
:meth:`Classifier.predict_proba`). The JSON schema of :func:`evaluate`'s result is
documented in ``docs/model-format.md`` ("eval --json").

A store of another item duration than the model's (``logmel``/``mfcc``) is scored over
windows of the model's duration, or padded to it, by the rule ``predict`` uses for audio
files (:mod:`audiokit.features.windows`); the report's ``windowing`` block says so.

Classes the store has and the model does not know are not dropped: their items count
as errors in the headline figures (the model cannot name them), they appear as rows of
the per-class report and the confusion matrix, and ``unknown_classes`` lists them with
their counts; ``known_classes`` gives the figures over the other items alone.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from audiokit.errors import AudiokitError

SCHEMA_VERSION = 1


def evaluate(model, store, *, top_k: int = 3, batch_size: int = 256) -> dict:
    """Predict every labelled item of ``store`` with ``model`` and score the predictions.

    Parameters
    ----------
    model : audiokit.models.Classifier
        Any trained model (classic or deep).
    store : audiokit.store.Store
        A store of the model's feature configuration, with labels. For ``logmel``/``mfcc``
        its items may be of another duration: longer ones are scored over windows of the
        model's duration (the windows' probabilities combined as ``predict`` combines a
        file's), shorter ones padded (:func:`audiokit.predict.store_fit`; the report's
        ``windowing`` says which).
    top_k : int
        Also report top-k accuracy for this k (when the model has more than k classes).
    batch_size : int
        Items per ``predict_proba`` call.

    Returns
    -------
    dict
        The eval report (docs/model-format.md, "eval --json").

    Raises
    ------
    ModelFileError
        The store's feature configuration differs from the model's (in more than the
        duration of sequence items).
    AudiokitError
        No labelled items in the store.
    """
    from audiokit.predict import store_fit, store_proba

    fit = store_fit(model, store)
    idx = np.flatnonzero(store.labelled)
    if len(store) == 0:
        raise AudiokitError("the store is empty; nothing to evaluate", path=store.name)
    if len(idx) == 0:
        raise AudiokitError("the store has no labels; eval needs labelled items (use predict for unlabelled "
                            "audio)", path=store.name)
    proba = store_proba(model, store, idx, batch_size=batch_size, fit=fit)
    model_classes = list(model.class_names)
    store_names = [store.class_names[c] for c in store.labels[idx]]
    report = score(proba, store_names, model_classes, top_k=top_k,
                   extra={"store": store.name, "unlabelled_skipped": int(len(store) - len(idx))})
    report["windowing"] = fit.report(len(idx))
    report["protocol"] = protocol(model, store, idx)
    return report


def protocol(model, store, idx) -> dict | None:
    """Whether the evaluated groups were seen in training: the store's groups of items ``idx``
    against the training groups the model file records (``training.groups``; None when either
    side has no groups).

    >>> class M: training = {"groups": ["ann", "bob"]}
    >>> class S: groups = np.array(["bob", "cy", "cy"], dtype=object)
    >>> protocol(M, S, np.arange(3))["text"]
    '3 items of 2 groups, 1 of them seen in training'
    """
    trained = (getattr(model, "training", None) or {}).get("groups")
    groups = getattr(store, "groups", None)
    if trained is None or groups is None:
        return None
    test = {str(g) for g in np.asarray(groups, dtype=object)[idx] if g}
    if not test:
        return None
    seen = len(test & set(trained))
    return {"items": int(len(idx)), "groups": len(test), "seen_in_training": seen,
            "text": f"{len(idx)} items of {len(test)} group{'' if len(test) == 1 else 's'}, "
                    + ("none seen in training" if seen == 0 else f"{seen} of them seen in training")}


def score(proba: np.ndarray, true_names: Sequence[str], model_classes: Sequence[str], *, top_k: int = 3,
          extra: dict | None = None) -> dict:
    """The eval report from probabilities ``(n, C)`` over ``model_classes`` and the true class names.

    The numbers are those of scikit-learn's ``accuracy_score``, ``precision_recall_fscore_support``
    (``zero_division=0``), ``confusion_matrix`` and ``top_k_accuracy_score``, computed by
    :mod:`audiokit.metrics`.
    """
    from audiokit import metrics

    model_classes = list(model_classes)
    C = len(model_classes)
    unknown = sorted({t for t in true_names if t not in model_classes})
    labels_all = model_classes + unknown  # unknown classes get indices C, C+1, ... (never predicted)
    index = {c: i for i, c in enumerate(labels_all)}
    y_true = np.array([index[t] for t in true_names], dtype=np.int64)
    y_pred = np.asarray(proba).argmax(axis=1)

    acc = metrics.accuracy(y_true, y_pred)
    out: dict = {"schema": SCHEMA_VERSION, **(extra or {}), "items": int(len(y_true)), "classes": model_classes,
                 "accuracy": acc}
    cm = metrics.confusion_matrix(y_true, y_pred, len(labels_all))
    scores = metrics.per_class(cm)
    for avg in ("macro", "weighted"):
        out[avg] = metrics.average(scores, avg)
    out["per_class"] = [{"class": c, "precision": float(scores["precision"][i]), "recall": float(scores["recall"][i]),
                         "f1": float(scores["f1"][i]), "support": int(scores["support"][i]),
                         "known": c in model_classes} for i, c in enumerate(labels_all)]
    # Rows: true classes (model's, then unknown ones); columns: the model's classes (all it can predict).
    out["confusion_matrix"] = {"rows": labels_all, "columns": model_classes, "matrix": cm[:, :C].tolist()}
    known = y_true < C
    out["top_k"] = {}
    if 1 < top_k < C and known.any():
        # Items of unknown classes are misses at every k: count hits on the others, divide by all.
        hits = metrics.top_k_hits(y_true[known], np.asarray(proba)[known], top_k)
        out["top_k"] = {str(top_k): float(hits) / len(y_true)}
    out["unknown_classes"] = {c: int((y_true == index[c]).sum()) for c in unknown}
    out["absent_classes"] = [c for c in model_classes if not (y_true == index[c]).any()]
    if unknown:
        yk, pk = y_true[known], y_pred[known]
        out["known_classes"] = {
            "items": int(known.sum()),
            "accuracy": metrics.accuracy(yk, pk) if known.any() else None,
            "macro_f1": metrics.macro_f1(yk, pk, labels=range(C)) if known.any() else None,
        }
    return out


def plot_confusion(path: str, report: dict, *, title: str | None = None) -> None:
    """Write the confusion matrix of an eval report as a labelled heatmap PNG (atomically).

    Colours are row-normalised (recall per true class) so classes of any size compare; cells
    show the counts.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(report["confusion_matrix"]["matrix"], dtype=float)
    rows, cols = report["confusion_matrix"]["rows"], report["confusion_matrix"]["columns"]
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    size = max(4.0, 0.6 * max(len(rows), len(cols)) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size), dpi=120)
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(cols)), labels=cols, rotation=45, ha="right")
    ax.set_yticks(range(len(rows)), labels=rows)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", fontsize=8,
                    color="white" if norm[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    ax.set_title(title or f"confusion matrix — accuracy {100 * report['accuracy']:.1f} %")
    fig.tight_layout()
    save_figure(fig, path)


def render(report: dict, console) -> None:
    """Print an eval report as rich tables: summary, per-class report, confusion matrix."""
    from rich.table import Table

    pct = lambda v: "-" if v is None else f"{100 * v:.1f} %"  # noqa: E731
    t = Table(title=f"eval: {report.get('model', '')} on {report.get('store', '')}", show_header=False)
    t.add_column("metric")
    t.add_column("value", justify="right")
    t.add_row("items", str(report["items"]))
    if report.get("protocol"):
        t.add_row("groups", report["protocol"]["text"].split(" of ", 1)[1])
    if report.get("windowing"):
        w = report["windowing"]
        t.add_row("windowed" if w["mode"] == "windows" else "padded", f"{w['items']} {w['summary']}")
    t.add_row("accuracy", pct(report["accuracy"]))
    for k, v in report["top_k"].items():
        t.add_row(f"top-{k} accuracy", pct(v))
    for avg in ("macro", "weighted"):
        m = report[avg]
        t.add_row(f"{avg} precision / recall / F1", f"{pct(m['precision'])} / {pct(m['recall'])} / {pct(m['f1'])}")
    if report["unknown_classes"]:
        t.add_row("classes unknown to the model",
                  ", ".join(f"{c} ({n})" for c, n in report["unknown_classes"].items()))
        kc = report["known_classes"]
        t.add_row("accuracy on known classes", f"{pct(kc['accuracy'])} of {kc['items']}")
    if report.get("absent_classes"):
        t.add_row("model classes absent from the store", ", ".join(report["absent_classes"]))
    console.print(t)

    pc = Table(title="per class")
    for col in ("class", "precision", "recall", "F1", "support"):
        pc.add_column(col, justify="left" if col == "class" else "right")
    for r in report["per_class"]:
        name = r["class"] if r["known"] else f"{r['class']} (unknown to the model)"
        pc.add_row(name, pct(r["precision"]), pct(r["recall"]), pct(r["f1"]), str(r["support"]))
    console.print(pc)

    cmr = report["confusion_matrix"]
    cm = Table(title="confusion matrix (rows: true, columns: predicted)")
    cm.add_column("true \\ predicted")
    for c in cmr["columns"]:
        cm.add_column(c, justify="right")
    for name, row in zip(cmr["rows"], cmr["matrix"]):
        diag = cmr["columns"].index(name) if name in cmr["columns"] else -1
        cm.add_row(name, *[f"[bold]{v}[/bold]" if j == diag else ("·" if v == 0 else str(v))
                           for j, v in enumerate(row)])
    console.print(cm)


def save_figure(fig, path: str) -> None:
    """Write a matplotlib figure as PNG atomically (temp file + rename) and close it.

    The one way every plot (confusion matrix, k sweep, training curves) reaches disk. An x axis
    whose lines are all drawn at whole numbers (epochs, k) gets whole-number ticks, never 2.5."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    from audiokit.io import atomic_output

    for ax in fig.axes:
        xs = [np.asarray(line.get_xdata(), dtype=float) for line in ax.get_lines()]
        if xs and all(x.size and np.all(np.isfinite(x)) and np.all(x == np.round(x)) for x in xs):
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    try:
        with atomic_output(path) as target:
            fig.savefig(target.file, format="png")
    finally:
        plt.close(fig)
