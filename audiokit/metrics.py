"""Classification scores in numpy, with scikit-learn's definitions (``sklearn.metrics``).

``eval`` and the training reports score with these, so that scoring a model imports no
scikit-learn. Labels are class indices ``0..n-1``; a ratio whose denominator is 0 is 0
(scikit-learn's ``zero_division=0``). tests/test_metrics.py checks every function against
its ``sklearn.metrics`` counterpart on random labels.

Examples
--------
>>> y_true, y_pred = np.array([0, 1, 1, 2]), np.array([0, 1, 0, 0])
>>> confusion_matrix(y_true, y_pred, 3).tolist()
[[1, 0, 0], [1, 1, 0], [1, 0, 0]]
>>> accuracy(y_true, y_pred), round(macro_f1(y_true, y_pred), 4)
(0.5, 0.3889)
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def confusion_matrix(y_true, y_pred, n_labels: int) -> np.ndarray:
    """``(n_labels, n_labels)`` int64 counts; row: true label, column: predicted label
    (``confusion_matrix(..., labels=range(n_labels))``)."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    return np.bincount(y_true * n_labels + y_pred, minlength=n_labels * n_labels).reshape(n_labels, n_labels)


def accuracy(y_true, y_pred) -> float:
    """The share of items predicted right (``accuracy_score``)."""
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


def per_class(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall, F1 and support of every label of a confusion matrix
    (``precision_recall_fscore_support(average=None)``)."""
    tp = np.diag(cm).astype(np.float64)
    predicted, true = cm.sum(axis=0), cm.sum(axis=1)
    return {"precision": _ratio(tp, predicted), "recall": _ratio(tp, true),
            "f1": _ratio(2.0 * tp, true.astype(np.float64) + predicted), "support": true}


def average(scores: dict[str, np.ndarray], how: str) -> dict[str, float]:
    """``macro`` (the mean over labels) or ``weighted`` (by support) precision, recall and F1 of
    :func:`per_class`'s scores (``precision_recall_fscore_support(average=how)``)."""
    weights = scores["support"] if how == "weighted" and scores["support"].sum() > 0 else None
    return {k: float(np.average(scores[k], weights=weights)) for k in ("precision", "recall", "f1")}


def macro_f1(y_true, y_pred, labels: Sequence[int] | None = None) -> float:
    """The mean F1 over ``labels`` (default: those in ``y_true`` or ``y_pred``), as
    ``f1_score(average="macro", zero_division=0)``."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    labels = np.union1d(y_true, y_pred) if labels is None else np.asarray(labels, dtype=np.int64)
    n = int(max(labels.max(initial=-1), y_true.max(initial=-1), y_pred.max(initial=-1))) + 1
    return float(np.mean(per_class(confusion_matrix(y_true, y_pred, n))["f1"][labels]))


def top_k_hits(y_true, proba: np.ndarray, k: int) -> int:
    """How many items have their true label among the ``k`` most probable columns of ``proba``
    (``top_k_accuracy_score(normalize=False)`` with 3 or more labels: of equal probabilities,
    the later column ranks first)."""
    ranked = np.argsort(proba, axis=1, kind="mergesort")[:, ::-1][:, :k]
    return int((ranked == np.asarray(y_true)[:, None]).any(axis=1).sum())


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den``, 0 where ``den`` is 0."""
    den = np.asarray(den, dtype=np.float64).copy()
    empty = den == 0
    den[empty] = 1
    out = num / den
    out[empty] = 0.0
    return out
