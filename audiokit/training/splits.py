"""Validation splits shared by every trainer (classic and deep): stratified, seeded and
group-aware, built on scikit-learn's splitters.

When items carry groups (speakers, singers, players), every split keeps each group
wholly on one side, so a model is never validated on a voice it was trained on.

================  ====================================  ==================================
split             without groups                        with groups
================  ====================================  ==================================
``--val-split``   ``StratifiedShuffleSplit``            ``StratifiedGroupKFold``, first fold
``--folds K``     ``StratifiedKFold(shuffle=True)``     ``StratifiedGroupKFold(shuffle=True)``
================  ====================================  ==================================

With groups the validation share is ``1 / round(1 / val_fraction)`` of the groups
(0.2 → one fold of five): whole groups cannot be cut to an exact fraction. With fewer
groups than that (2 to 4 for 0.2), whole groups would take a third to a half of the data,
so the split falls back to a stratified share of the items of every group, with a warning;
:func:`describe_split` says which protocol a split has.

Examples
--------
>>> import numpy as np
>>> y = np.repeat([0, 1], 10)
>>> tr, va = train_val_split(y, val_fraction=0.2, seed=0)
>>> len(tr), len(va), np.bincount(y[va]).tolist()
(16, 4, [2, 2])
>>> g = np.repeat(np.arange(10), 2)
>>> folds = cv_splits(y, g, folds=5, seed=0)
>>> all(set(g[t]).isdisjoint(g[v]) for t, v in folds)
True
"""

from __future__ import annotations

import logging
import re
from typing import Sequence

import numpy as np

from audiokit.errors import AudiokitError, ParameterError, UsageError

log = logging.getLogger("audiokit")
Split = tuple[np.ndarray, np.ndarray]


# -- checks ------------------------------------------------------------------------------------

def check_labels(labels: np.ndarray, *, class_names: Sequence[str] | None = None, path: str | None = None,
                 min_classes: int = 2) -> np.ndarray:
    """Refuse label vectors nothing can be trained on; returns the labels as int64.

    Raises
    ------
    AudiokitError
        No items, no labelled items, or fewer than ``min_classes`` classes present.
    """
    y = np.asarray(labels, dtype=np.int64)
    if y.size == 0:
        raise AudiokitError("the store is empty; nothing to train on", path=path)
    if (y < 0).all():
        raise AudiokitError("the store has no labels; featurize with labels (directory names, "
                            "a label regex or a manifest) to train or evaluate", path=path)
    present = np.unique(y[y >= 0])
    if len(present) < min_classes:
        name = class_names[present[0]] if class_names is not None and len(present) else str(present.tolist())
        raise AudiokitError(f"only one class ({name}) in the store; a classifier needs at least "
                            f"{min_classes}", path=path)
    return y


def _class_name(c: int, class_names: Sequence[str] | None) -> str:
    return class_names[c] if class_names is not None and 0 <= c < len(class_names) else str(c)


def _check_per_class(y: np.ndarray, need: int, what: str, class_names, path, *, param: str | None = None) -> None:
    """Refuse classes with fewer than ``need`` items; ``param`` names the setting that needs them."""
    classes, counts = np.unique(y, return_counts=True)
    few = [(c, n) for c, n in zip(classes, counts) if n < need]
    if few:
        detail = ", ".join(f"{_class_name(c, class_names)} ({n})" for c, n in few)
        reason = f"{what} needs at least {need} items per class; too few in {detail}"
        if param:
            raise ParameterError(param, reason, path=path)
        raise UsageError(reason, path=path)


def _group_codes(groups) -> np.ndarray | None:
    if groups is None:
        return None
    g = np.asarray(groups, dtype=object)
    _, codes = np.unique(g.astype(str), return_inverse=True)
    return codes


# -- groups ------------------------------------------------------------------------------------

def resolve_groups(spec: str, *, store_groups, paths: Sequence[str]) -> np.ndarray | None:
    """The groups a split uses, from the ``--group-by`` value.

    ``auto``: the store's groups when it has them (items without one form their own group),
    else none; ``none``: ignore groups; anything else is a regex whose first capture group
    (or the group named ``group``) on each file name is the item's group.
    """
    import os

    if spec == "none":
        return None
    if spec == "auto":
        if store_groups is None:
            return None
        g = np.asarray(store_groups, dtype=object)
        if not any(g):
            return None
        # An item with no group is a group of its own (it cannot leak into another group).
        return np.array([x if x else f"\0item{i}" for i, x in enumerate(g)], dtype=object)
    try:
        rx = re.compile(spec)
    except re.error as exc:
        raise ParameterError("group_by", f"bad regex {spec!r} ({exc})") from None
    out = []
    for p in paths:
        m = rx.search(os.path.basename(p))
        if m is None:
            raise ParameterError("group_by", f"regex {spec!r} does not match the file name", path=p)
        out.append(m.groupdict().get("group") or (m.group(1) if rx.groups else m.group(0)))
    return np.array(out, dtype=object)


# -- splits ------------------------------------------------------------------------------------

def train_val_split(labels, groups=None, *, val_fraction: float = 0.2, seed: int = 0,
                    class_names: Sequence[str] | None = None, path: str | None = None) -> Split:
    """One stratified (and, with ``groups``, group-disjoint) split into training and validation indices.

    Parameters
    ----------
    labels : array of int, shape (n,)
        Class of each item (all labelled).
    groups : array, shape (n,), optional
        Group (speaker) of each item; a group never sits on both sides.
    val_fraction : float
        Share held out for validation, in (0, 1).
    seed : int
        Seed of the shuffle; the same seed gives the same split.

    Returns
    -------
    (train_idx, val_idx) : sorted int arrays

    Raises
    ------
    UsageError
        A fraction outside (0, 1), fewer than 2 items in a class, too few items or groups
        for a validation set holding every class.
    """
    y = np.asarray(labels, dtype=np.int64)
    if not 0 < val_fraction < 1:
        raise ParameterError("val_split", f"must be a fraction between 0 and 1, got {val_fraction}")
    _check_per_class(y, 2, "a stratified validation split", class_names, path)
    idx = np.arange(len(y))
    g = _group_codes(groups)
    if g is None:
        from sklearn.model_selection import StratifiedShuffleSplit

        n_val = int(np.ceil(val_fraction * len(y)))
        n_classes = len(np.unique(y))
        if n_val < n_classes or len(y) - n_val < n_classes:
            raise ParameterError("val_split", f"{val_fraction:g} of {len(y)} items leaves {n_val} for validation and "
                             f"{len(y) - n_val} for training, too few for {n_classes} classes; change "
                             f"val_split or use folds", path=path)
        sss = StratifiedShuffleSplit(n_splits=1, test_size=n_val, random_state=seed)
        tr, va = next(sss.split(idx, y))
        return np.sort(tr), np.sort(va)
    n_groups = len(np.unique(g))
    k = int(round(1 / val_fraction))
    if n_groups < k:
        # Whole groups would make the validation share 1/n_groups (half the data with two groups)
        # and leave few groups to train on: split the items of every group instead, and say so.
        log.warning(f"train: {n_groups} group(s) are too few for a group-aware {val_fraction:g} validation "
                    f"split (it needs {k}); validating on {val_fraction:g} of the items of every group instead, "
                    "so its groups are not unseen")
        return train_val_split(y, None, val_fraction=val_fraction, seed=seed, class_names=class_names, path=path)
    # scikit-learn needs k <= the largest class (each fold must be able to take one of its items)
    tr, va = _stratified_group_folds(y, g, max(2, min(k, int(np.bincount(y).max()))), seed)[0]
    missing = sorted(set(np.unique(y)) - set(np.unique(y[tr])))
    if missing:
        log.warning("train: a group-aware validation split leaves no training item of class "
                    f"{', '.join(_class_name(c, class_names) for c in missing)} (all its groups fell into "
                    "validation); validating on a share of the items of every group instead")
        return train_val_split(y, None, val_fraction=val_fraction, seed=seed, class_names=class_names, path=path)
    return tr, va


def group_names(groups) -> list[str] | None:
    """The sorted names of the groups that have one (items without a group are their own), for
    the model file's record of what it was trained on (eval says whether its groups were seen)."""
    if groups is None:
        return None
    return sorted({str(g) for g in groups if g and not str(g).startswith("\0item")})


def describe_split(train_idx, held_idx, groups=None, *, what: str = "validation") -> dict:
    """The protocol of a split as numbers and one phrase: how many items and groups sit on each
    side, and how many held-out groups the training side never saw.

    >>> g = np.array(["a", "a", "b", "b", "c", "c"])
    >>> describe_split([0, 1, 2, 3], [4, 5], g)["text"]
    'validation on 1 unseen group of 3 (2 items; trained on 4 items of 2 groups)'
    >>> describe_split([0, 2, 4], [1, 3, 5], g)["text"]
    'validation on 3 items of 3 groups also in training (trained on 3 items)'
    """
    tr, ho = np.asarray(train_idx), np.asarray(held_idx)
    d = {"train_items": int(len(tr)), "items": int(len(ho))}
    if groups is None:
        d["text"] = f"{what} on {len(ho)} items (no groups; trained on {len(tr)} items)"
        return d
    g = np.asarray(groups, dtype=object)
    gt, gh = set(g[tr].tolist()), set(g[ho].tolist())
    unseen, shared = len(gh - gt), len(gh & gt)
    d.update(groups=len(gh), unseen_groups=unseen, shared_groups=shared, train_groups=len(gt),
             total_groups=len(gt | gh))
    def groups_(n: int) -> str:
        return f"{n} group" if n == 1 else f"{n} groups"

    if shared == 0:
        d["text"] = (f"{what} on {unseen} unseen {'group' if unseen == 1 else 'groups'} of {len(gt | gh)} "
                     f"({len(ho)} items; trained on {len(tr)} items of {groups_(len(gt))})")
    else:
        d["text"] = (f"{what} on {len(ho)} items of {groups_(len(gh))}"
                     + (f" ({unseen} unseen, {shared} also in training)" if unseen else " also in training")
                     + f" (trained on {len(tr)} items)")
    return d


def cv_splits(labels, groups=None, *, folds: int = 5, seed: int = 0,
              class_names: Sequence[str] | None = None, path: str | None = None) -> list[Split]:
    """Stratified K-fold splits (group K-fold when ``groups`` is given), seeded and shuffled.

    Returns
    -------
    list of (train_idx, val_idx), one per fold; every item is validated exactly once.

    Raises
    ------
    UsageError
        ``folds < 2``, a class with fewer items than folds, or fewer groups than folds.
    """
    y = np.asarray(labels, dtype=np.int64)
    if folds < 2:
        raise ParameterError("folds", f"must be at least 2, got {folds}")
    _check_per_class(y, folds, str(folds), class_names, path, param="folds")
    g = _group_codes(groups)
    if g is None:
        from sklearn.model_selection import StratifiedKFold

        skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        return [(np.sort(t), np.sort(v)) for t, v in skf.split(np.zeros(len(y)), y)]
    n_groups = len(np.unique(g))
    if n_groups < folds:
        raise ParameterError("folds", f"{folds} with groups needs at least {folds} groups, the store has {n_groups} "
                         "(use fewer folds, or group_by none)", path=path)
    return _stratified_group_folds(y, g, folds, seed)


def store_folds(folds, *, path: str | None = None) -> list[Split]:
    """Cross-validation on the folds the store holds (a featurize manifest's ``fold`` column:
    the ESC-50 / UrbanSound8K protocol): fold f is scored by a model trained on all the others.

    >>> [(t.tolist(), v.tolist()) for t, v in store_folds(np.array([1, 2, 1, 3]))]
    [([1, 3], [0, 2]), ([0, 2, 3], [1]), ([0, 1, 2], [3])]
    """
    if folds is None:
        raise ParameterError("folds", "store: the store has no folds; give the featurize manifest a fold column",
                         path=path)
    f = np.asarray(folds)
    if (f < 0).any():
        raise ParameterError("folds", f"store: {int((f < 0).sum())} of {len(f)} items have no fold; give every "
                         "manifest row one", path=path)
    ids = np.unique(f)
    if len(ids) < 2:
        raise ParameterError("folds", f"store: the items are all in fold {int(ids[0])}; cross-validation needs 2 "
                         "or more", path=path)
    return [(np.flatnonzero(f != i), np.flatnonzero(f == i)) for i in ids]


def _stratified_group_folds(y: np.ndarray, g: np.ndarray, k: int, seed: int) -> list[Split]:
    import warnings

    from sklearn.model_selection import StratifiedGroupKFold

    sgkf = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        # "The least populated class in y has only n members": expected with few groups per class.
        warnings.simplefilter("ignore", UserWarning)
        try:
            out = [(np.sort(t), np.sort(v)) for t, v in sgkf.split(np.zeros(len(y)), y, g)]
        except ValueError as exc:  # sizes scikit-learn cannot split; say so in one line
            raise UsageError(f"cannot make {k} stratified group folds of these items ({exc})") from None
    if any(len(v) == 0 for _, v in out):
        raise UsageError(f"cannot make {k} non-empty group folds from {len(np.unique(g))} groups")
    for t, v in out:  # the guarantee callers rely on; cheap enough to check every time
        assert not set(g[t]) & set(g[v]), "a group on both sides of a split"
    return out


def parse_test_split(spec: str | None) -> tuple[str, object] | None:
    """``--test-split``: ``None``; ``("fold", {ids})`` for store fold numbers ``"3"`` or ``"3,4"``;
    ``("fraction", f)`` for a fraction ``"0.2"``."""
    if spec is None or spec == "":
        return None
    s = spec.strip()
    try:
        if "." in s:
            f = float(s)
            if not 0 < f < 1:
                raise ValueError
            return ("fraction", f)
        ids = {int(x) for x in s.split(",") if x.strip()}
        if not ids or min(ids) < 0:
            raise ValueError
        return ("fold", ids)
    except ValueError:
        raise ParameterError("test_split", f"must be store fold number(s) like 3 or 3,4, or a fraction like 0.2; "
                         f"got {spec!r}") from None


def holdout_split(spec: str | None, *, labels, groups=None, folds=None, seed: int = 0,
               class_names: Sequence[str] | None = None, path: str | None = None) -> Split | None:
    """Hold out a test set before any training or validation: ``(rest_idx, test_idx)`` or ``None``.

    Fold numbers select the items of those store folds (the store must have folds, e.g.
    from a manifest's ``fold`` column); a fraction holds out a stratified, group-aware share.
    """
    parsed = parse_test_split(spec)
    if parsed is None:
        return None
    how, value = parsed
    y = np.asarray(labels, dtype=np.int64)
    if how == "fraction":
        return train_val_split(y, groups, val_fraction=value, seed=seed, class_names=class_names, path=path)
    if folds is None:
        raise ParameterError("test_split", f"{spec}: the store has no folds (give a fold column in the featurize "
                         "manifest), or pass a fraction such as 0.2", path=path)
    f = np.asarray(folds)
    test = np.flatnonzero(np.isin(f, sorted(value)))
    if len(test) == 0:
        have = sorted({int(x) for x in f if x >= 0})
        raise ParameterError("test_split", f"{spec}: no item in that fold; the store's folds are {have}", path=path)
    rest = np.setdiff1d(np.arange(len(y)), test)
    if len(rest) == 0:
        raise ParameterError("test_split", f"{spec} holds out every item; nothing left to train on", path=path)
    return rest, test
