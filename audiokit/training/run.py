"""One ``train`` run for every model kind: labelled items → test hold-out → validation split or
CV folds → fit → score → report → save.

The kinds differ only in their *fitter* (registered with the kind in :mod:`audiokit.models`):
:class:`audiokit.training.classic.ClassicFitter` (scikit-learn) and
:class:`audiokit.training.deep.DeepFitter` (PyTorch). A fitter reads the features it needs,
may prepare the run once the splits are known (the KNN k sweep; the deep network's pieces),
fits one :class:`Job` at a time and gives class probabilities of rows; everything else is
here, once.

The flow (docs/training.md):

1. read the store; drop unlabelled items; refuse an empty store, one class, NaN features;
2. ``test_split``: hold out a test set (store folds or a stratified, group-aware fraction);
3. ``folds``: (group) K-fold CV, per-fold and mean ± std scores, then the saved model is refit
   on all training items (or, without ``refit``, the fold models are saved as an ensemble);
   ``val_split``: fit on the rest, score on the held-out share, then refit on all (or keep the
   validated model); neither: fit on everything; the deep kinds' ``ensemble`` N trains that
   saved model N times with seeds seed..seed+N-1 and keeps the N models (probabilities averaged);
4. score the test set once with the saved model; write the model, then the report beside it.

Example: train, save and reload a model from Python

>>> import numpy as np, os, tempfile
>>> from audiokit.features import FeatureConfig
>>> from audiokit.store import StoreWriter
>>> from audiokit.models import load
>>> from audiokit.models.kinds.knn import KnnSettings
>>> d = tempfile.mkdtemp(); store = os.path.join(d, "s.h5")
>>> rng = np.random.default_rng(0)
>>> with StoreWriter(store, FeatureConfig(kind="mfcc-stats")) as w:
...     for i in range(40):
...         w.add(rng.normal(i % 2, 0.1, 4).astype(np.float32), label=["a", "b"][i % 2], path=f"{i}.wav")
>>> report = train(store, os.path.join(d, "knn.h5"), KnnSettings(k="3"))
>>> report["validation"]["accuracy"]
1.0
>>> load(os.path.join(d, "knn.h5")).predict(np.ones((1, 4)))
['b']
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from audiokit.errors import AudiokitError, ParameterError, UsageError
from audiokit.training import report as rep
from audiokit.training import splits

log = logging.getLogger("audiokit")


@dataclass
class Job:
    """One fit of a run: a CV fold, the validated run, or the refit on all training items."""

    index: int
    name: str
    #: Store rows (of the labelled items) to fit on, to stop early on (deep), and to score.
    train: np.ndarray
    val: np.ndarray | None = None
    score: np.ndarray | None = None
    label: str = ""
    #: Epochs the job trained (deep refit: the validated runs' kept epoch).
    epochs: int | None = None
    #: The job's model is a member of the saved ensemble (fold models without refit; ``ensemble`` N).
    member: bool = False
    #: The job's seed when it is not the run's (the members of an ``ensemble``: seed + m).
    seed: int | None = None
    #: The job trains the saved model again on all training items after validation or CV.
    refit: bool = False


class TrainingInterrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped a run after a step: no model was written; ``checkpoint`` (None
    when none was written) continues it with ``resume``."""

    def __init__(self, where: str, checkpoint: str | None, *, main: bool = True):
        super().__init__(f"stopped {where}")
        self.where, self.checkpoint, self.main = where, checkpoint, main


@dataclass
class FitResult:
    model: object
    #: Kept epoch (deep) and other figures the job's scores carry.
    extra: dict = field(default_factory=dict)


@dataclass
class Data:
    """The labelled items of the store and what a run knows of them."""

    name: str
    X: object
    y: np.ndarray  # class indices into class_names; -1 for classes only in the test set
    groups: np.ndarray | None
    rest: np.ndarray
    test: np.ndarray | None
    class_names: list[str]
    config: object
    item_shape: tuple
    n_store: int
    n_labelled: int
    #: The store's fold of each item (None: the store has none).
    folds: np.ndarray | None = None

    @property
    def train_groups(self):
        return None if self.groups is None else self.groups[self.rest]


def train(store: str, output: str, settings=None, *, kind: str | None = None, stdin=None, kind_reason: str = "",
          record: dict | None = None, summarize: Callable[[dict], list[str]] | None = None,
          on_setup: Callable[[dict], None] | None = None) -> dict:
    """Train a model on ``store`` and write it to ``output`` (``-``: stdout) with its report beside it.

    Parameters
    ----------
    settings
        The kind's settings dataclass (``KnnSettings(k="3")``); None: the kind's defaults.
    kind
        The model kind; None: the settings' kind, else the default for the store's features
        (:func:`audiokit.training.settings.default_kind`).
    stdin
        A seekable copy of stdin when ``store`` is ``-`` and it was already read.
    kind_reason
        Why this kind, when it was chosen rather than given (recorded in the report).
    record
        Extra provenance for the model file (the CLI's command line).
    summarize
        Builds the human lines of the finished report (the CLI's summary); they are kept in
        the report as ``summary``.
    on_setup
        Called with the report so far once the run is set up, before the first fit (the CLI
        prints the header of a deep run there).

    Raises :class:`TrainingInterrupted` (a ``KeyboardInterrupt``) when a signal stops a deep run.

    Returns the report: the dict also written as JSON beside the model. Under torchrun,
    ranks other than 0 return ``{"rank": r}`` and write nothing.
    """
    from audiokit.models import get, registry

    if kind is None and settings is not None:
        owners = [k.name for k in registry() if k.settings is type(settings)]
        kind = owners[0] if len(owners) == 1 else None
        if kind is None:
            raise ParameterError("kind", f"must be given with {type(settings).__name__} (one of {', '.join(owners)})")
    if kind is None:
        kind, kind_reason = default_kind_for(store, stdin)
    spec = get(kind)
    if settings is None:
        settings = spec.settings()
    if type(settings) is not spec.settings:
        raise ParameterError("settings", f"of {kind} are {spec.settings.__name__}, got {type(settings).__name__}")
    settings.check()
    fitter = spec.make_fitter(kind, settings, store=store, output=output)
    with fitter.session():
        return _run(fitter, store, output, stdin=stdin, kind_reason=kind_reason, record=record or {},
                    summarize=summarize, on_setup=on_setup)


def default_kind_for(store, stdin=None) -> tuple[str, str]:
    """The kind ``train`` picks for ``store`` (a path, or ``-`` with ``stdin`` a seekable copy)
    when none is given, and why (:func:`audiokit.training.settings.default_kind`)."""
    from audiokit.store import open_store
    from audiokit.training.settings import default_kind

    with open_store(store, stdin=stdin) as s:
        return default_kind(s.item_shape, s.config.kind)


def _run(fitter, store, output, *, stdin, kind_reason, record, summarize, on_setup) -> dict:
    s = fitter.settings
    kind = fitter.kind
    data = _read(fitter, store, stdin, s)
    rest, y, gr = data.rest, data.y, data.train_groups
    n_classes = len(data.class_names)

    # -- splits: CV folds, or a validation split, then the refit ----------------------------------------
    jobs: list[Job] = []
    val_fraction = s.validation
    inner_note = None
    if s.folds is not None:
        yr = y[rest]
        cv = (splits.store_folds(None if data.folds is None else data.folds[rest], path=data.name)
              if s.folds == "store" else
              splits.cv_splits(yr, gr, folds=s.folds, seed=s.seed, class_names=data.class_names, path=data.name))
        for i, (tr, va) in enumerate(cv):
            inner_tr, inner_va = tr, None
            if fitter.inner_validation:  # early stopping needs a validation set inside the fold
                try:
                    a, b = splits.train_val_split(yr[tr], None if gr is None else gr[tr],
                                                  val_fraction=fitter.inner_validation, seed=s.seed,
                                                  class_names=data.class_names, path=data.name)
                    inner_tr, inner_va = tr[a], tr[b]
                except UsageError as exc:
                    inner_note = (f"no inner validation split in the folds ({exc.reason}); each fold trained "
                                  f"without early stopping")
            jobs.append(Job(i, f"fold{i + 1}", rest[inner_tr], None if inner_va is None else rest[inner_va],
                            score=rest[va], label=f"fold {i + 1}/{len(cv)}"))
        sweep_rows = rest
    elif val_fraction:
        tr, va = splits.train_val_split(y[rest], gr, val_fraction=val_fraction, seed=s.seed,
                                        class_names=data.class_names, path=data.name)
        jobs.append(Job(0, "main", rest[tr], rest[va], score=rest[va]))
        sweep_rows = rest[tr]
    else:
        jobs.append(Job(0, "main", rest))
        sweep_rows = rest
    if inner_note:
        log.warning(f"train: {inner_note}")
        fitter.inner_validation = None
    if s.refit and any(j.score is not None for j in jobs):
        jobs.append(Job(len(jobs), "refit", rest, label="refit", refit=True))
    if s.folds is not None and not s.refit:
        for job in jobs:
            job.member = True
    elif s.members > 1:  # the saved model's training, once per member with its own seed
        last = jobs.pop()
        for m in range(s.members):
            name = "refit" if last.refit else "member"
            jobs.append(Job(len(jobs), f"{name}{m + 1}", last.train, label=f"{name} {m + 1}/{s.members}",
                            member=True, seed=s.seed + m, refit=last.refit))

    report: dict = {
        "command": "train", "model": kind, "family": fitter.family, "output": output, "store": data.name,
        "feature_config": data.config.to_dict(),
        "items": {"store": data.n_store, "labelled": data.n_labelled, "train": int(len(rest)),
                  "test": 0 if data.test is None else int(len(data.test)),
                  "train_groups": None if gr is None else int(len(set(gr)))},
        "item_shape": list(data.item_shape), "feature_dim": int(np.prod(data.item_shape)),
        "classes": data.class_names, "grouped": data.groups is not None,
        "n_groups": None if data.groups is None else int(len(set(data.groups))), "seed": s.seed,
        "kind_reason": kind_reason or None,
    }

    fitter.prepare(data, jobs, sweep_rows, report)
    report["settings"] = fitter.settings.to_dict()
    if on_setup is not None and fitter.is_main:
        on_setup(report)

    # -- fit every job; score the ones that hold items out -----------------------------------------------
    first, done, members = fitter.resume_point(jobs)
    ensemble = any(j.member for j in jobs)
    final = None
    with fitter.fitting():
        for job in jobs[first:]:
            res = fitter.fit(job, data, done)
            if job.score is not None:
                done.append(_scores(fitter, job, res, data, s) if fitter.is_main else None)
            if job.member:
                members.append(fitter.member(job, res.model))
            final = (job, res)
    if not fitter.is_main:
        return {"rank": fitter.rank}
    final_job, final_res = final
    if ensemble:
        from audiokit.models.ensemble import Ensemble

        model = Ensemble(members)
    else:
        model = fitter.saved_model(final_res)

    # -- the report ---------------------------------------------------------------------------------------
    if s.folds is not None:
        cv = rep.cv_summary(done)
        cv.update(k=len(done), grouped=gr is not None, inner_validation=fitter.inner_validation,
                  protocols=[d["protocol"]["text"] for d in done])
        report["cv"] = cv
    elif val_fraction:
        val = dict(done[0])
        grouped = val["protocol"].get("shared_groups") == 0  # False when the split fell back to items
        val.update(fraction=val_fraction, share=len(jobs[0].score) / len(rest), grouped=grouped)
        if grouped:
            val["val_groups"] = val["protocol"]["groups"]
        report["validation"] = val
    if final_job.refit:
        report["refit"] = {"items": int(len(rest)), "epochs": final_job.epochs,
                           "after": "cross-validation" if s.folds is not None else "validation"}
    if ensemble:
        what = ("the fold models" if s.folds is not None else f"{len(members)} models trained on all {len(rest)} "
                f"training items with seeds {s.seed}..{s.seed + len(members) - 1}")
        report["ensemble"] = {"members": len(members), "of": "folds" if s.folds is not None else "seeds",
                              "note": f"the saved model is {what}, their probabilities averaged"}
    if data.test is not None:
        yt = y[data.test]
        known = yt >= 0
        proba = fitter.proba(model, data.test[known])
        ts = rep.fold_scores(yt[known], proba.argmax(axis=1), labels=list(range(n_classes)))
        ts.update(spec=s.test_split, unknown_class_items=int((~known).sum()))
        ts["protocol"] = splits.describe_split(rest, data.test[known], data.groups, what="test")
        report["test"] = ts
    fitter.report(report, final_job, final_res)

    # -- the model file, then the report beside it ----------------------------------------------------------
    model.training = {"store": data.name, "items": data.n_labelled,
                      "trained_on": int(len(rest) if ensemble else len(final_job.train)),
                      "seed": s.seed, "val_split": val_fraction, "folds": s.folds, "group_by": s.group_by,
                      "test_split": s.test_split, **record, "groups": splits.group_names(gr),
                      "class_counts": rep.class_counts(y[rest], data.class_names), "refit": "refit" in report,
                      "settings": report["settings"], **fitter.training_record(report, final_res)}
    model.metrics = {key: report[key] for key in ("validation", "cv", "test", "k_sweep") if key in report}
    model.metrics.update(fitter.metrics_record(report))
    from audiokit.modelfile import save_model

    save_model(output, model.to_modelfile())
    fitter.after_save(report, members)  # plots and leftovers: after the model, so a failed run leaves none
    report["report"] = rep.report_file(output)  # the file names itself too, so it is complete on its own
    if summarize is not None:
        report["summary"] = summarize(report)
    rep.write_report(output, report)
    return report


def _scores(fitter, job, res, data, s) -> dict:
    """Accuracy and macro-F1 of a job's model on its held-out items, with the split's protocol."""
    proba = fitter.proba(res.model, job.score)
    scores = rep.fold_scores(data.y[job.score], proba.argmax(axis=1), labels=list(range(len(data.class_names))))
    protocol = splits.describe_split(job.train, job.score, data.groups,
                                     what="scored" if s.folds is not None else "validation")
    scores.update(train=int(len(job.train)), protocol=protocol, **res.extra)
    if s.folds is not None:
        fitter.log_fold(f"train: {job.label}: {protocol['text']}: accuracy {100 * scores['accuracy']:.1f} %, "
                        f"macro-F1 {100 * scores['macro_f1']:.1f} %")
    return scores


def _read(fitter, store, stdin, s) -> Data:
    from audiokit.store import open_store

    with open_store(store, stdin=stdin) as st:
        name = st.name
        fitter.check_store(st)
        splits.check_labels(st.labels, class_names=st.class_names, path=name)
        labelled = np.flatnonzero(st.labelled)
        if len(labelled) < len(st):
            log.warning(f"train: leaving out {len(st) - len(labelled)} unlabelled items of {len(st)}")
        X = fitter.features(st, labelled)
        y_store = st.labels[labelled]
        groups = splits.resolve_groups(s.group_by, store_groups=st.groups, paths=st.paths)
        groups = None if groups is None else groups[labelled]
        folds_col = None if st.folds is None else st.folds[labelled]
        cfg, store_classes, item_shape, n_store = st.config, list(st.class_names), tuple(st.item_shape), len(st)
    fitter.check_data(y_store, groups, store_classes, cfg, name)

    held = splits.holdout_split(s.test_split, labels=y_store, groups=groups, folds=folds_col, seed=s.seed,
                                class_names=store_classes, path=name)
    rest = np.arange(len(y_store)) if held is None else held[0]
    test = None if held is None else held[1]
    # The model knows the classes it is trained on; classes only in the test set are reported by eval.
    present = np.unique(y_store[rest])
    if len(present) < 2:
        raise AudiokitError("only one class left to train on after holding out the test set", path=name)
    remap = np.full(len(store_classes), -1, dtype=np.int64)
    remap[present] = np.arange(len(present))
    lost = sorted(set(np.unique(y_store)) - set(present))
    if lost:
        log.warning("train: classes only in the test set, unknown to the model: "
                    + ", ".join(store_classes[c] for c in lost))
    data = Data(name=name, X=X, y=remap[y_store], groups=groups, rest=rest, test=test,
                class_names=[store_classes[c] for c in present], config=cfg, item_shape=item_shape,
                n_store=n_store, n_labelled=int(len(labelled)), folds=folds_col)
    return data
