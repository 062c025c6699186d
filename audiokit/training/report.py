"""How every trainer reports a run: fold scores, mean ± std, and the report JSON beside the model.

Shared by the classic and the deep fitters so that the folds' scores and the report file
look the same whatever the model kind.

Examples
--------
>>> s = summarize([0.91, 0.92, 0.915])
>>> format_pm(s["mean"], s["std"])
'91.5 % ± 0.4 %'
>>> report_path("runs/model.h5")
'runs/model.report.json'
"""

from __future__ import annotations

import json
import os
from typing import Sequence

import numpy as np

from audiokit.io import atomic_output, json_default, report_path


def fold_scores(y_true, y_pred, *, labels: Sequence[int] | None = None) -> dict:
    """Accuracy and macro-F1 of one validation set (scikit-learn's definitions, :mod:`audiokit.metrics`).

    ``labels``: the class indices to average macro-F1 over (default: those present in
    ``y_true`` or ``y_pred``).
    """
    from audiokit import metrics

    return {"n": int(len(y_true)), "accuracy": metrics.accuracy(y_true, y_pred),
            "macro_f1": metrics.macro_f1(y_true, y_pred, labels)}


def summarize(values: Sequence[float]) -> dict:
    """``{"mean", "std", "values"}``; ``std`` is the population standard deviation over folds
    (``np.std``, ddof=0, what ``cross_val_score(...).std()`` users report)."""
    v = np.asarray(list(values), dtype=np.float64)
    return {"mean": float(v.mean()) if v.size else float("nan"),
            "std": float(v.std()) if v.size else float("nan"),
            "values": [float(x) for x in v]}


def format_pm(mean: float, std: float, *, digits: int = 1) -> str:
    """A fraction pair as the papers write it: ``0.915, 0.008`` → ``"91.5 % ± 0.8 %"``."""
    return f"{100 * mean:.{digits}f} % ± {100 * std:.{digits}f} %"


def cv_summary(folds: Sequence[dict]) -> dict:
    """Per-fold scores (each a :func:`fold_scores` dict, optionally with more keys) and their
    mean ± std for accuracy and macro-F1: the ``cv`` block of every report."""
    return {
        "folds": list(folds),
        "accuracy": summarize([f["accuracy"] for f in folds]),
        "macro_f1": summarize([f["macro_f1"] for f in folds]),
    }


def class_counts(y, class_names) -> dict[str, int]:
    """Training items per class, for the model file (``info`` shows them).

    >>> class_counts(np.array([0, 1, 1]), ["a", "b"])
    {'a': 1, 'b': 2}
    """
    counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=len(class_names))
    return {name: int(n) for name, n in zip(class_names, counts)}


def cv_lines(cv: dict) -> list[str]:
    """Human lines for a :func:`cv_summary`: one per fold, then the mean ± std."""
    lines = [f"fold {i + 1}: accuracy {100 * f['accuracy']:.1f} %  macro-F1 {100 * f['macro_f1']:.1f} %"
             f"  (n={f['n']})" for i, f in enumerate(cv["folds"])]
    a, m = cv["accuracy"], cv["macro_f1"]
    lines.append(f"{len(cv['folds'])}-fold CV: accuracy {format_pm(a['mean'], a['std'])}, "
                 f"macro-F1 {format_pm(m['mean'], m['std'])}")
    return lines


def report_file(model_path: str) -> str | None:
    """The report's path for a model written to ``model_path``; ``None`` for a model written to
    stdout (``-``) or to a device or FIFO (``/dev/null``): there is no "beside"."""
    if model_path == "-" or (os.path.exists(model_path) and not os.path.isfile(model_path)):
        return None
    return report_path(model_path)


def write_report(model_path: str, report: dict) -> str | None:
    """Write ``report`` as JSON beside the model (atomically); returns its path, or ``None``
    (nothing written) where :func:`report_file` has none."""
    path = report_file(model_path)
    if path is None:
        return None
    with atomic_output(path) as target, open(target.file, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2, default=json_default)
        f.write("\n")
    return path
