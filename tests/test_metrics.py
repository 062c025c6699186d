"""audiokit.metrics against sklearn.metrics on random labels: the same numbers, exactly."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from audiokit import metrics


def _labels(seed: int, n_labels: int, n: int):
    rng = np.random.default_rng(seed)
    # skewed: some labels rare or absent in the truth or in the predictions
    p = rng.dirichlet(np.full(n_labels, 0.5))
    y_true = rng.choice(n_labels, size=n, p=p)
    y_pred = np.where(rng.random(n) < 0.6, y_true, rng.choice(n_labels, size=n))
    y_pred[y_pred == n_labels - 1] = 0  # the last label is never predicted
    return y_true, y_pred


@pytest.mark.parametrize("seed", range(12))
def test_scores_equal_sklearn(seed):
    n_labels = 2 + seed % 6
    y_true, y_pred = _labels(seed, n_labels, n=5 + 37 * seed)
    lab = list(range(n_labels))
    cm = metrics.confusion_matrix(y_true, y_pred, n_labels)
    assert cm.tolist() == skm.confusion_matrix(y_true, y_pred, labels=lab).tolist()
    assert metrics.accuracy(y_true, y_pred) == skm.accuracy_score(y_true, y_pred)
    pc = metrics.per_class(cm)
    p, r, f, s = skm.precision_recall_fscore_support(y_true, y_pred, labels=lab, average=None, zero_division=0)
    for ours, theirs in ((pc["precision"], p), (pc["recall"], r), (pc["f1"], f), (pc["support"], s)):
        assert np.array_equal(ours, theirs), (ours, theirs)
    for how in ("macro", "weighted"):
        p, r, f, _ = skm.precision_recall_fscore_support(y_true, y_pred, labels=lab, average=how, zero_division=0)
        assert metrics.average(pc, how) == {"precision": p, "recall": r, "f1": f}, how
    assert metrics.macro_f1(y_true, y_pred) == skm.f1_score(y_true, y_pred, average="macro", zero_division=0)
    assert metrics.macro_f1(y_true, y_pred, labels=lab) == \
        skm.f1_score(y_true, y_pred, labels=lab, average="macro", zero_division=0)
    if n_labels > 2:
        rng = np.random.default_rng(100 + seed)
        proba = rng.random((len(y_true), n_labels))
        proba[::3, 1] = proba[::3, 0]  # equal probabilities: the order among them counts
        proba[::5] = 0.25
        for k in range(1, n_labels):
            assert metrics.top_k_hits(y_true, proba, k) == \
                skm.top_k_accuracy_score(y_true, proba, k=k, labels=lab, normalize=False), k
