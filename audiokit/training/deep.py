"""``train --model resnet18|resnet34|resnet50|specresnet``: deep models on log-mel stores.

The flow of a run (docs/deep-training.md):

1. read the store; keep labelled items; refuse stores a CNN cannot take (``mfcc-stats``,
   ``f0-range``), NaN features, one class;
2. ``--test-split``: hold out a test set (shared with the classic trainer);
3. ``--val-split F`` (default 0.2, group-aware): train on the rest with early stopping on
   the held-out share and keep the best epoch; ``--folds K``: (group) K-fold CV, each fold
   with its own inner 20 % validation split for early stopping and scored on its held-out
   fold, then the saved model is refit on all training items for the median best epoch;
   ``--val-split 0``: train on everything for ``--epochs``;
4. score the test set once; write the model (rank 0), its report, history and curves.

The input normalisation statistics are computed on each run's training items only.
Every run writes a checkpoint beside the model after each epoch; ``--resume CKPT``
continues it (also mid-CV) with the checkpoint's settings.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
import zlib
from dataclasses import dataclass

import numpy as np

from audiokit.errors import AudiokitError, UsageError
from audiokit.training import TrainRun
from audiokit.training import report as rep
from audiokit.training import splits

log = logging.getLogger("audiokit")
#: Validation share inside each CV fold (for early stopping only; the fold's held-out part scores it).
INNER_VAL = 0.2

#: Defaults per kind: the recipe that won on unseen speakers and players (docs/deep-training.md,
#: "How the defaults were chosen"): a fixed one-cycle schedule, no early stopping, the last epoch kept.
#: The papers' own settings are one set of flags away (docs/deep-training.md, "The papers' recipes").
DEFAULTS = {
    "specresnet": dict(optimizer="adamw", lr=1e-3, weight_decay=1e-2, batch_size=32, epochs=30,
                       scheduler="onecycle", patience=0),
    "resnet": dict(optimizer="adamw", lr=1e-3, weight_decay=1e-2, batch_size=32, epochs=30, scheduler="onecycle",
                   patience=0),
}
#: The augmentation of a run with --augment (the default): SpecAugment and a ±10 % time shift.
AUGMENT_DEFAULTS = dict(specaugment=True, mixup=0.0, time_shift=0.1, flip=0.0, rotate=0.0, freq_warp=0.0)
#: What --no-augment turns off (unless given explicitly).
AUGMENT_OFF = dict(specaugment=False, time_shift=0.0)
#: Options that --resume may change; everything else comes from the checkpoint.
RESUME_MAY_CHANGE = ("epochs", "compile", "workers", "resume", "checkpoint", "history", "amp")


@dataclass
class Job:
    index: int
    name: str
    train: np.ndarray
    val: np.ndarray | None
    score: np.ndarray | None = None
    epochs: int | None = None
    label: str = ""


def _kind_defaults(kind: str) -> dict:
    return dict(DEFAULTS["specresnet" if kind == "specresnet" else "resnet"])


def resolve_options(kind: str, options: dict) -> dict:
    """The full deep settings: given options over the kind's defaults (see :data:`DEFAULTS`)."""
    from audiokit.models.deep import default_stem

    o = {**_kind_defaults(kind), **AUGMENT_DEFAULTS, "augment": True, "normalize": "dataset",
         "label_smoothing": 0.0, "class_weights": "none",
         "pretrained": "imagenet" if kind != "specresnet" else "none", "stem": default_stem(kind),
         "input_size": "auto", "amp": True, "compile": False, "workers": None}
    given = {k: v for k, v in options.items() if v is not None}
    unknown = sorted(set(given) - set(o) - {"resume", "checkpoint", "history"})
    if unknown:
        raise UsageError(f"unknown deep training options: {', '.join(unknown)}")
    o.update(given)
    if not o["augment"]:
        o.update({k: v for k, v in AUGMENT_OFF.items() if k not in given})
    if kind == "specresnet":
        if given.get("pretrained") not in (None, "none"):
            raise UsageError("--pretrained applies to the ResNets; specresnet is trained from scratch (the paper)")
        if given.get("stem") not in (None,):
            raise UsageError("--stem applies to the ResNets; specresnet takes the one-channel spectrogram as it is")
    return o


def engine_config(o: dict, seed: int):
    from audiokit.training.augment import Augment
    from audiokit.training.engine import EngineConfig

    cfg = EngineConfig(optimizer=str(o["optimizer"]).lower(), lr=float(o["lr"]), weight_decay=float(o["weight_decay"]),
                       batch_size=int(o["batch_size"]), epochs=int(o["epochs"]), scheduler=str(o["scheduler"]).lower(),
                       patience=int(o["patience"]), label_smoothing=float(o["label_smoothing"]),
                       augment=Augment(time_shift=float(o["time_shift"]), flip=float(o["flip"]),
                                       rotate=float(o["rotate"]), freq_warp=float(o["freq_warp"]),
                                       specaugment=bool(o["specaugment"]),
                                       mixup=float(o["mixup"])),
                       amp=bool(o["amp"]), compile=bool(o["compile"]), seed=int(seed))
    cfg.check()
    return cfg


def class_weights(spec, y: np.ndarray, n_classes: int) -> list[float] | None:
    """``--class-weights``: ``none``; ``balanced`` (n / (C · count), scikit-learn's rule, from the
    training items); or one number per class in class order (``1,2,1``)."""
    s = str(spec or "none").strip().lower()
    if s == "none":
        return None
    if s == "balanced":
        counts = np.bincount(y, minlength=n_classes).astype(np.float64)
        w = np.where(counts > 0, len(y) / (n_classes * np.maximum(counts, 1)), 0.0)
        return [float(v) for v in w]
    try:
        w = [float(v) for v in s.split(",")]
    except ValueError:
        w = []
    if len(w) != n_classes or min(w) < 0 or not all(math.isfinite(v) for v in w):
        raise UsageError(f"--class-weights must be none, balanced, or {n_classes} non-negative numbers (one per "
                         f"class, in the order of the class names), got {spec!r}")
    return w


def fingerprint(store_name: str, y: np.ndarray, groups, class_names, cfg_json: str) -> dict:
    g = "" if groups is None else "\n".join(str(x) for x in groups)
    return {"items": int(len(y)), "classes": list(class_names), "labels_crc": zlib.crc32(y.astype(np.int64).tobytes()),
            "groups_crc": zlib.crc32(g.encode("utf-8", "replace")), "features_crc": zlib.crc32(cfg_json.encode())}


# -- the run ----------------------------------------------------------------------------------------------

def train(run: TrainRun, options: dict) -> dict:
    """Train a deep model as ``run`` and ``options`` (the deep flags; None = default) say.

    Returns the report (also written as JSON beside the model), whose ``summary`` holds the
    lines the CLI prints. Under torchrun, ranks other than 0 return ``{"rank": r}`` and write
    nothing.
    """
    from audiokit.training import distributed

    if distributed.from_env().enabled and run.store == "-":
        raise UsageError("under torchrun every process reads the store: give a file, not '-'")
    dist, device = distributed.setup(run.device)
    if not dist.main:
        log.setLevel(logging.ERROR)
    try:
        return _train(run, dict(options), dist, device)
    finally:
        distributed.teardown(dist)


def _train(run: TrainRun, options: dict, dist, device) -> dict:
    import torch

    from audiokit.models import deep as dm
    from audiokit.store import open_store
    from audiokit.training import data as td
    from audiokit.training.checkpoint import checkpoint_path, load_checkpoint
    from audiokit.training.engine import Interrupted, StopFlag, fit, predict_rows, step_seed

    kind = run.model
    resume = None
    if options.get("resume"):
        resume = load_checkpoint(options["resume"])
        run, options = _resume_settings(run, options, resume)
    o = resolve_options(kind, {k: v for k, v in options.items() if k not in ("resume", "checkpoint", "history")})
    cfg = engine_config(o, run.seed)
    input_size = dm.parse_input_size(o["input_size"])
    if run.plot and not run.plot.lower().endswith(".png"):
        log.warning(f"train: --plot {run.plot}: writing PNG data whatever the extension")

    # -- the store ---------------------------------------------------------------------------------------
    with open_store(run.store, stdin=run.stdin) as store:
        name = store.name
        dm.check_item_shape(store.item_shape, feature_kind=store.config.kind, path=name)
        splits.check_labels(store.labels, class_names=store.class_names, path=name)
        labelled = np.flatnonzero(store.labelled)
        if len(labelled) < len(store):
            log.warning(f"train: leaving out {len(store) - len(labelled)} unlabelled items of {len(store)}")
        y_store = store.labels[labelled]
        groups = splits.resolve_groups(run.group_by, store_groups=store.groups, paths=store.paths)
        groups = None if groups is None else groups[labelled]
        folds_col = None if store.folds is None else store.folds[labelled]
        feat_cfg = store.config
        store_classes = list(store.class_names)
        item_shape = tuple(store.item_shape)
        n_store = len(store)
        nbytes = len(labelled) * int(np.prod(item_shape)) * 4
        if run.store == "-" or td.fits_in_ram(nbytes):
            X = store.load_features(labelled)
            if not np.isfinite(X).all():
                raise AudiokitError("features contain NaN or infinite values", path=name)
        else:
            log.info(f"train: {nbytes / 2**30:.1f} GiB of features do not fit in memory; streaming them from {name}")
            X = td.H5Rows(path=run.store, rows=labelled, item_shape=item_shape)
    fp = fingerprint(name, y_store, groups, store_classes, feat_cfg.to_json())
    if resume is not None and resume["meta"].get("fingerprint") != fp:
        raise AudiokitError("the checkpoint was made from a different store (items, labels, groups or feature "
                            "settings differ); resume it with the store it was trained on", path=options["resume"])

    # -- test hold-out, classes -------------------------------------------------------------------------
    held = splits.holdout_split(run.test_split, labels=y_store, groups=groups, folds=folds_col, seed=run.seed,
                                class_names=store_classes, path=name)
    rest = np.arange(len(y_store)) if held is None else held[0]
    test = None if held is None else held[1]
    present = np.unique(y_store[rest])
    if len(present) < 2:
        raise AudiokitError("only one class left to train on after holding out the test set", path=name)
    class_names = [store_classes[c] for c in present]
    n_classes = len(class_names)
    remap = np.full(len(store_classes), -1, dtype=np.int64)
    remap[present] = np.arange(n_classes)
    y = remap[y_store]
    lost = sorted(set(np.unique(y_store)) - set(present))
    if lost:
        log.warning("train: classes only in the test set, unknown to the model: "
                    + ", ".join(store_classes[c] for c in lost))
    yr = y[rest]
    gr = None if groups is None else groups[rest]

    # -- the runs: CV folds and/or the one whose model is saved ---------------------------------------
    jobs: list[Job] = []
    cv_inner_note = None
    if run.folds:
        cv = (splits.store_folds(None if folds_col is None else folds_col[rest], path=name) if run.folds == "store"
              else splits.cv_splits(yr, gr, folds=run.folds, seed=run.seed, class_names=class_names, path=name))
        for i, (tr, va) in enumerate(cv):
            inner_tr, inner_va = tr, None
            if cfg.patience:  # an inner validation set to stop on; without early stopping it would only cost data
                try:
                    a, b = splits.train_val_split(yr[tr], None if gr is None else gr[tr], val_fraction=INNER_VAL,
                                                  seed=run.seed, class_names=class_names, path=name)
                    inner_tr, inner_va = tr[a], tr[b]
                except UsageError as exc:
                    cv_inner_note = (f"no inner validation split in the folds ({exc.reason}); each fold trained "
                                     f"for all {cfg.epochs} epochs without early stopping")
            jobs.append(Job(i, f"fold{i + 1}", rest[inner_tr], None if inner_va is None else rest[inner_va],
                            score=rest[va], label=f"fold {i + 1}/{len(cv)}"))
        if run.refit is not False:  # else the fold models are kept as an ensemble
            jobs.append(Job(len(jobs), "refit", rest, None, label="refit"))
    elif run.val_split:
        tr, va = splits.train_val_split(yr, gr, val_fraction=run.val_split, seed=run.seed, class_names=class_names,
                                        path=name)
        jobs.append(Job(0, "main", rest[tr], rest[va], score=rest[va]))
        if run.refit is not False:  # the saved model then knows every training group
            jobs.append(Job(1, "refit", rest, None, label="refit"))
    else:
        jobs.append(Job(0, "main", rest, None))
    if cv_inner_note:
        log.warning(f"train: {cv_inner_note}")

    # -- model pieces shared by the jobs ------------------------------------------------------------------
    params = dm.network_params(kind, n_classes=n_classes, in_shape=item_shape, stem=o["stem"], input_size=input_size,
                               pretrained=str(o["pretrained"]), normalize=str(o["normalize"]))
    pre_state, pre_desc = None, "none"
    first_job = 0 if resume is None else int(resume["meta"]["job"]["index"])
    fresh_jobs = len(jobs) - first_job - (0 if resume is None else 1)
    if kind in dm.RESNETS and str(o["pretrained"]) != "none":
        if fresh_jobs > 0:  # a resumed job takes its weights from the checkpoint
            from audiokit.models.resnet import pretrained_state

            pre_state, pre_desc = pretrained_state(kind, str(o["pretrained"]))
        else:
            pre_desc = resume["meta"].get("pretrained", "none")
    params["pretrained"] = pre_desc
    smallest = min(len(j.train) for j in jobs)
    if options.get("batch_size") is None and smallest < cfg.batch_size:
        fit_batch = max(2, 2 ** int(np.log2(smallest)))
        log.warning(f"train: the default batch of {cfg.batch_size} is more than the {smallest} items a model is "
                    f"trained on; using batches of {fit_batch}")
        o["batch_size"] = fit_batch
        cfg = engine_config(o, run.seed)
    bank = td.FeatureBank(X, y, device=device, workers=o["workers"])
    del X
    ckpt_path = _path_option(options.get("checkpoint"), checkpoint_path(run.output))
    hist_path = _path_option(options.get("history"), history_path(run.output))
    dtype = dm.amp_dtype(device) if cfg.amp else None

    summary = [f"{kind}{rep.why_kind(run)} on {len(rest)} items, {n_classes} classes, items {item_shape[0]}×{item_shape[1]} "
               f"[{feat_cfg.describe()}]" + (f", {len(set(gr))} groups" if gr is not None else ""),
               f"device {device}" + (f" × {dist.world} processes ({dist.backend})" if dist.enabled else "")
               + (f", AMP {str(dtype).replace('torch.', '')}" if dtype is not None else "")
               + f"; {cfg.describe()}"]
    if kind in dm.RESNETS:
        size = params["input_size"]
        shown = "native" if size is None else "×".join(map(str, size["resize"])) + (
            f" cropped to {'×'.join(map(str, size['crop']))}" if size.get("crop") else "")
        summary.append(f"stem {params['stem']}, input {item_shape[0]}×{item_shape[1]} → {shown} "
                       f"(--input-size {o['input_size']}), pretrained {pre_desc}")
    for line in summary:
        log.info(f"train: {line}")

    state = {"done": [], "history": [], "best_epochs": []}
    if resume is not None:
        jm = resume["meta"]["job"]
        if first_job >= len(jobs) or jm.get("name") != jobs[first_job].name:
            raise AudiokitError("the checkpoint's run does not match these settings (folds/validation)",
                                path=options["resume"])
        state = {"done": list(jm["done"]), "history": list(jm["history"]), "best_epochs": list(jm["best_epochs"])}
        log.info(f"train: resuming {options['resume']} at {jobs[first_job].label or 'the run'}, epoch "
                 f"{resume['meta']['engine']['epoch'] + 1}, step {resume['meta']['engine']['step']}")
    stop = StopFlag()
    results: dict = {}
    members = [_member_from_file(ckpt_path, i) for i in range(first_job)] if run.folds and run.refit is False else []
    net = None
    with stop.handle_signals():
        for job in jobs[first_job:]:
            jcfg = cfg
            if job.name == "refit":  # as long as the validated runs trained (their best epoch under early stopping)
                bests = [b for b in state["best_epochs"] if b]
                epochs = int(np.median(bests)) if bests else cfg.epochs
                jcfg = engine_config({**o, "epochs": max(1, epochs)}, run.seed)
                job.epochs = jcfg.epochs
            torch.manual_seed(step_seed(run.seed, 1000 + job.index))
            net = dm.build_network(kind, n_classes=n_classes, in_shape=item_shape, params=params,
                                   pretrained_state=pre_state)
            net.frontend.set_stats(**bank.stats(job.train))
            jcw = class_weights(o["class_weights"], y[job.train], n_classes)
            jcfg.class_weights = jcw
            meta = {"run": _run_dict(run), "options": {k: v for k, v in o.items()}, "fingerprint": fp,
                    "pretrained": pre_desc,
                    "job": {"index": job.index, "name": job.name, "done": state["done"],
                            "history": state["history"], "best_epochs": state["best_epochs"]}}
            job_rows: list[dict] = []

            def on_epoch(row, job=job, job_rows=job_rows):
                job_rows.append({"run": job.name, **row})
                if hist_path and dist.main:
                    write_history(hist_path, state["history"] + job_rows)

            this_resume = resume if (resume is not None and job.index == first_job) else None
            if this_resume is not None:
                job_rows.extend({"run": job.name, **r} for r in this_resume["meta"]["engine"]["history"])
            try:
                res = fit(net, bank, job.train, job.val, jcfg, n_classes=n_classes, device=device, dist=dist,
                          checkpoint=ckpt_path, resume=this_resume, stop=stop, label=job.label, meta=meta,
                          on_epoch=on_epoch)
            except Interrupted as exc:
                if dist.main:
                    where = (f"after epoch {exc.epoch}" if exc.step == 0 else
                             f"in epoch {exc.epoch + 1} after step {exc.step}") + (f" of {job.label}" if job.label else "")
                    if exc.checkpoint:
                        log.warning(f"train: stopped {where}; checkpoint {exc.checkpoint}; continue with: audiokit "
                                    f"train {run.store} -o {run.output} --model {kind} --resume {exc.checkpoint}")
                    else:
                        log.warning("train: stopped; no checkpoint written (the model goes to stdout: give "
                                    "--checkpoint PATH to be able to resume)")
                raise KeyboardInterrupt from None
            state["history"] = state["history"] + [{"run": job.name, **r} for r in res.history]
            state["best_epochs"] = state["best_epochs"] + ([res.best_epoch] if job.score is not None else [])
            if job.score is not None:
                scores = None
                if dist.main:
                    logits = predict_rows(net, bank, job.score, device=device, dtype=dtype)
                    scores = rep.fold_scores(y[job.score], logits.argmax(axis=1), labels=list(range(n_classes)))
                    protocol = splits.describe_split(job.train, job.score, groups,
                                                     what="scored" if run.folds else "validation")
                    scores.update(best_epoch=res.best_epoch, epochs_run=res.epochs_run, train=int(len(job.train)),
                                  loss=res.best_val_loss, stopped_early=res.stopped_early, protocol=protocol)
                    if run.folds:
                        log.info(f"train: {job.label}: {protocol['text']}: accuracy "
                                 f"{100 * scores['accuracy']:.1f} %, macro-F1 {100 * scores['macro_f1']:.1f} %")
                state["done"] = state["done"] + [scores]
            results[job.name] = res
            if run.folds and run.refit is False and job.name != "refit":
                members.append(_member(job, net, kind, class_names, feat_cfg, params, ckpt_path))

    # -- scores of the saved model -------------------------------------------------------------------------
    final_job = jobs[-1]
    res = results[final_job.name]
    report: dict = {
        "command": "train", "model": kind, "output": run.output, "store": name, "feature_config": feat_cfg.to_dict(),
        "items": {"store": n_store, "labelled": int(len(labelled)), "train": int(len(rest)),
                  "test": 0 if test is None else int(len(test))},
        "item_shape": list(item_shape), "classes": class_names, "grouped": groups is not None,
        "n_groups": None if groups is None else int(len(set(groups))), "seed": run.seed,
        "device": str(device), "world_size": dist.world, "amp": None if dtype is None else str(dtype),
        "params": params, "n_parameters": dm.count_parameters(net), "engine": {**cfg.to_dict(), "class_weights":
                                                                              o["class_weights"]},
    }
    if not dist.main:
        return {"rank": dist.rank}
    if run.folds:
        done = [d for d in state["done"] if d is not None]
        cv = rep.cv_summary(done)
        cv.update(k=len(done), grouped=gr is not None,
                  inner_validation=INNER_VAL if cfg.patience and not cv_inner_note else None,
                  protocols=[d["protocol"]["text"] for d in done])
        report["cv"] = cv
        summary += rep.cv_lines(cv)
        summary.append(f"  protocol: fold 1 {done[0]['protocol']['text']}")  # the other folds alike
        if final_job.name == "refit":
            report["refit"] = {"items": int(len(rest)), "epochs": final_job.epochs,
                               "note": "after cross-validation the saved model was refit on all training items "
                                       "for the median kept epoch of the folds"}
            summary.append(f"refit on all {len(rest)} training items for {final_job.epochs} epochs (median kept "
                           f"epoch of the folds): the saved model")
        else:
            report["ensemble"] = {"members": len(members), "note": "the saved model is the fold models, their "
                                                                   "probabilities averaged"}
            summary.append(f"the saved model: the {len(members)} fold models as an ensemble (probabilities "
                           "averaged; --refit trains one model on all items instead)")
    elif run.val_split:
        val = dict(state["done"][0])
        val.update(fraction=run.val_split, grouped=val["protocol"].get("shared_groups") == 0)
        report["validation"] = val
        kept = (f"epoch {val['best_epoch']} of {val['epochs_run']} (early stop)" if val["stopped_early"]
                else f"epoch {val['best_epoch']} of {val['epochs_run']}")
        summary.append(f"{val['protocol']['text']}: accuracy {100 * val['accuracy']:.1f} %, macro-F1 "
                       f"{100 * val['macro_f1']:.1f} % at {kept}")
        if final_job.name == "refit":
            report["refit"] = {"items": int(len(rest)), "epochs": final_job.epochs,
                               "note": "after validation the saved model was refit on all training items for "
                                       "the validated run's kept epoch"}
            summary.append(f"refit on all {len(rest)} training items"
                           + (f" of {len(set(gr))} groups" if gr is not None else "")
                           + f" for {final_job.epochs} epochs: the saved model (--no-refit keeps the validated one)")
        else:
            summary.append(f"the saved model is the validated one, trained on {len(final_job.train)} items")
    else:
        summary.append(f"no validation (--val-split 0): trained on all {len(rest)} items for {res.epochs_run} epochs")
    if test is not None:
        yt = y[test]
        known = yt >= 0
        if members:  # the ensemble's mean probability
            from scipy.special import softmax

            proba = np.mean([softmax(predict_rows(m.net.to(device), bank, test[known], device=device, dtype=dtype),
                                     axis=1) for m in members], axis=0)
            for m in members:
                m.net.cpu()
        else:
            proba = predict_rows(net, bank, test[known], device=device, dtype=dtype)
        ts = rep.fold_scores(yt[known], proba.argmax(axis=1), labels=list(range(n_classes)))
        ts.update(spec=run.test_split, unknown_class_items=int((~known).sum()))
        report["test"] = ts
        ts["protocol"] = splits.describe_split(rest, test[known], groups, what="test")
        summary.append(f"{ts['protocol']['text']} (--test-split {run.test_split}): accuracy "
                       f"{100 * ts['accuracy']:.1f} %, macro-F1 {100 * ts['macro_f1']:.1f} %")
    report["history"] = {"file": hist_path, "best_epoch": res.best_epoch, "epochs_run": res.epochs_run,
                         "stopped_early": res.stopped_early, "rows": state["history"]}
    report["checkpoint"] = ckpt_path

    # -- files ---------------------------------------------------------------------------------------------
    if members:
        from audiokit.models.ensemble import Ensemble

        clf = Ensemble(members)
    else:
        clf = dm.DeepClassifier(kind=kind, class_names=class_names, feature_config=feat_cfg, net=net.cpu(),
                                params=params, device="cpu")
        clf.net.channels_last = False
    clf.training = {"store": name, "items": int(len(labelled)),
                    "trained_on": int(len(rest) if members else len(final_job.train)),  # ensemble: all, as classic
                    "seed": run.seed, "val_split": run.val_split, "folds": run.folds, "group_by": run.group_by,
                    "test_split": run.test_split, "argv": run.argv, "groups": splits.group_names(gr),
                    "class_counts": rep.class_counts(y[rest], class_names), "refit": final_job.name == "refit",
                    "engine": report["engine"], "pretrained": pre_desc, "device": str(device),
                    "world_size": dist.world, "best_epoch": res.best_epoch, "epochs_run": res.epochs_run,
                    "input_stats": net.frontend.stats()}
    clf.metrics = {key: report[key] for key in ("validation", "cv", "test") if key in report}
    clf.metrics["history"] = {k: report["history"][k] for k in ("best_epoch", "epochs_run", "stopped_early")}
    # Flat headline figures too, for 'audiokit info' and quick greps.
    if "validation" in report:
        clf.metrics["val_accuracy"] = report["validation"]["accuracy"]
    if "cv" in report:
        clf.metrics["cv_accuracy"] = rep.format_pm(report["cv"]["accuracy"]["mean"], report["cv"]["accuracy"]["std"])
    if "test" in report:
        clf.metrics["test_accuracy"] = report["test"]["accuracy"]
    clf.metrics["best_epoch"] = res.best_epoch
    clf.metrics["epochs_run"] = res.epochs_run
    from audiokit.modelfile import save_model

    save_model(run.output, clf.to_modelfile())
    for i in range(len(members)):  # the fold models now live in the saved ensemble
        path = _member_path(ckpt_path, i)
        if path is not None and os.path.exists(path):
            os.remove(path)
    if run.plot:
        plot_curves(run.plot, state["history"], title=f"{kind} on {os.path.basename(name)}")
        report["plot"] = run.plot
    report_file = rep.write_report(run.output, report)
    report["report"] = report_file
    where = "stdout" if run.output == "-" else run.output
    summary.append(f"model → {where}" + (f" (report: {report_file}" + (f", history: {hist_path}" if hist_path else "")
                                        + ")" if report_file else ""))
    report["summary"] = summary
    if report_file:
        rep.write_report(run.output, report)
    return report


def _member_path(ckpt_path: str | None, index: int) -> str | None:
    """Where a finished fold model of an ensemble waits until the run ends (beside the checkpoint)."""
    return None if ckpt_path is None else f"{ckpt_path}.fold{index + 1}.h5"


def _member(job: Job, net, kind, class_names, feat_cfg, params, ckpt_path):
    """A finished fold's network as a classifier; saved beside the checkpoint so --resume finds it."""
    import copy

    from audiokit.models import deep as dm

    clf = dm.DeepClassifier(kind=kind, class_names=class_names, feature_config=feat_cfg,
                            net=copy.deepcopy(net).cpu(), params=params, device="cpu")
    clf.net.channels_last = False
    path = _member_path(ckpt_path, job.index)
    if path is not None:
        from audiokit.modelfile import save_model

        save_model(path, clf.to_modelfile())
    return clf


def _member_from_file(ckpt_path: str | None, index: int):
    from audiokit.models import load

    path = _member_path(ckpt_path, index)
    if path is None or not os.path.exists(path):
        raise AudiokitError(f"the model of fold {index + 1} is missing ({path}); train again without --resume",
                            path=ckpt_path)
    return load(path, device="cpu")


def _path_option(value, default):
    if value is None:
        return default
    return None if str(value).lower() == "none" else str(value)


def _run_dict(run: TrainRun) -> dict:
    return {k: getattr(run, k) for k in ("store", "output", "model", "val_split", "folds", "group_by", "test_split",
                                         "seed", "refit")}


def _resume_settings(run: TrainRun, options: dict, ckpt: dict):
    """The run and options to continue ``ckpt`` with: the checkpoint's, except what may change."""
    import dataclasses

    meta = ckpt["meta"]
    saved_run, saved_opts = meta.get("run", {}), meta.get("options", {})
    if saved_run.get("model") != run.model:
        raise UsageError(f"the checkpoint is of a {saved_run.get('model')} run, not --model {run.model}",
                         path=options["resume"])
    changed = []
    for k in ("val_split", "folds", "group_by", "test_split", "seed", "refit"):
        if k in saved_run and saved_run[k] != getattr(run, k):
            changed.append(f"--{k.replace('_', '-')} {saved_run[k]}")
    new_opts = dict(saved_opts)
    for k, v in options.items():
        if v is None:
            continue
        if k in RESUME_MAY_CHANGE:
            new_opts[k] = v
        elif k in saved_opts and saved_opts[k] != v:
            changed.append(f"--{k.replace('_', '-')} {saved_opts[k]}")
    if changed:
        log.warning("train: --resume continues with the checkpoint's settings: " + ", ".join(changed))
    run = dataclasses.replace(run, **{k: saved_run[k] for k in ("val_split", "folds", "group_by", "test_split", "refit",
                                                               "seed") if k in saved_run})
    for k in ("resume", "checkpoint", "history"):
        if options.get(k) is not None:
            new_opts[k] = options[k]
    if int(new_opts.get("epochs", 0)) < int(saved_opts.get("epochs", 0)):
        log.warning(f"train: --epochs {new_opts['epochs']} is fewer than the checkpoint's {saved_opts['epochs']}")
    return run, new_opts


# -- history and curves ------------------------------------------------------------------------------------

HISTORY_COLUMNS = ("run", "epoch", "train_loss", "val_loss", "val_acc", "lr", "samples_per_s", "seconds")


def history_path(model_path: str) -> str | None:
    """``model.h5`` → ``model.history.csv`` beside it; none for a model on stdout."""
    if model_path == "-":
        return None
    root, ext = os.path.splitext(model_path)
    return f"{root if ext.lower() in ('.h5', '.hdf5', '.hdf') else model_path}.history.csv"


def write_history(path: str, rows: list[dict]) -> None:
    """The per-epoch history as CSV (one row per epoch of each run: fold1.., refit, main), atomically."""
    from audiokit.store import AtomicTarget

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(HISTORY_COLUMNS)
    for r in rows:
        w.writerow(["" if r.get(c) is None else (f"{r[c]:.6g}" if isinstance(r[c], float) else r[c])
                    for c in HISTORY_COLUMNS])
    target = AtomicTarget(path)
    try:
        with open(target.file, "w", encoding="utf-8") as f:
            f.write(buf.getvalue())
        target.commit()
    except BaseException:
        target.abort()
        raise


def plot_curves(path: str, rows: list[dict], *, title: str = "") -> None:
    """Loss (train, validation) and validation accuracy per epoch, one colour per run, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from audiokit.evaluate import save_figure

    runs = list(dict.fromkeys(r["run"] for r in rows))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4), dpi=110)
    for i, name in enumerate(runs):
        rr = [r for r in rows if r["run"] == name]
        ep = [r["epoch"] for r in rr]
        c = f"C{i % 10}"
        run = "" if name == "main" else f"{name} "
        # In CV a fold's curve is its inner validation split (early stopping), not its held-out fold.
        val = "inner validation" if name.startswith("fold") else "validation"
        ax1.plot(ep, [r["train_loss"] for r in rr], color=c, ls="--", label=f"{run}training")
        if any(r.get("val_loss") is not None for r in rr):
            ax1.plot(ep, [r.get("val_loss") for r in rr], color=c, label=f"{run}{val}")
            ax2.plot(ep, [100 * r["val_acc"] if r.get("val_acc") is not None else None for r in rr], color=c,
                     marker="o", ms=3, label=f"{run}{val}")
    from matplotlib.ticker import MaxNLocator

    for ax in (ax1, ax2):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("cross-entropy")
    ax1.set_title("loss")
    ax1.grid(alpha=0.3)
    ax1.legend(fontsize=7)
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("validation accuracy (%)")
    ax2.set_title("validation accuracy")
    ax2.grid(alpha=0.3)
    if ax2.lines:
        ax2.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path)
