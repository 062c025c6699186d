"""The fitter of the PyTorch kinds (resnet18/34/50, specresnet) in :mod:`audiokit.training.run`.

What is theirs alone (docs/deep-training.md): stores a CNN can take (2-D log-mel or MFCC
frames), features streamed from disk when they do not fit in memory, torchrun ranks, the
engine (:mod:`audiokit.training.engine`) with early stopping on an inner validation split
inside CV folds, a checkpoint after every epoch and ``resume`` from it (also mid-CV, with
the checkpoint's settings), the refit for the validated runs' median kept epoch, the
per-epoch history CSV and the curves PNG.

The input normalisation statistics are computed on each job's training items only.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import math
import os
import zlib

import numpy as np

from audiokit.errors import AudiokitError, ParameterError
from audiokit.io import atomic_output, checkpoint_path, history_path
from audiokit.training import report as rep
from audiokit.training.run import FitResult, TrainingInterrupted

log = logging.getLogger("audiokit")
#: Validation share inside each CV fold (for early stopping only; the fold's held-out part scores it).
INNER_VAL = 0.2


def engine_config(s, *, epochs: int | None = None, batch_size: int | None = None, seed: int | None = None):
    """The engine's configuration from deep settings ``s`` (``seed``: a job's own, else the run's)."""
    from audiokit.training.augment import Augment
    from audiokit.training.engine import EngineConfig

    cfg = EngineConfig(optimizer=s.optimizer, lr=float(s.lr), weight_decay=float(s.weight_decay),
                       batch_size=int(batch_size or s.batch_size), epochs=int(epochs or s.epochs),
                       scheduler=s.scheduler, patience=int(s.patience), label_smoothing=float(s.label_smoothing),
                       augment=Augment(**s.augmentation()), amp=bool(s.amp), compile=bool(s.compile),
                       seed=int(s.seed if seed is None else seed))
    cfg.check()
    return cfg


def class_weights(spec, y: np.ndarray, n_classes: int) -> list[float] | None:
    """``class_weights``: ``none``; ``balanced`` (n / (C · count), scikit-learn's rule, from the
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
        raise ParameterError("class_weights", f"must be none, balanced, or {n_classes} non-negative numbers (one "
                                              f"per class, in the order of the class names), got {spec!r}")
    return w


def fingerprint(y: np.ndarray, groups, class_names, cfg_json: str) -> dict:
    g = "" if groups is None else "\n".join(str(x) for x in groups)
    return {"items": int(len(y)), "classes": list(class_names), "labels_crc": zlib.crc32(y.astype(np.int64).tobytes()),
            "groups_crc": zlib.crc32(g.encode("utf-8", "replace")), "features_crc": zlib.crc32(cfg_json.encode())}


def _path_option(value, default):
    if value is None:
        return default
    return None if str(value).lower() == "none" else str(value)


class DeepFitter:
    family = "PyTorch"

    def __init__(self, kind: str, settings, *, store: str, output: str):
        self.kind, self.settings, self.store, self.output = kind, settings, store, output
        self.resume = None
        #: The member models waiting beside the checkpoint until the run's model is written.
        self.member_paths: list[str] = []
        self.results: dict = {}
        self.state = {"history": [], "best_epochs": []}
        if settings.plot and not settings.plot.lower().endswith(".png"):
            log.warning(f"train: plot {settings.plot}: writing PNG data whatever the extension")

    @contextlib.contextmanager
    def session(self):
        """torchrun's process group (when launched by it) and the checkpoint to resume, for the run."""
        from audiokit.training import distributed

        if distributed.from_env().enabled and self.store == "-":
            raise ParameterError("store", "under torchrun every process reads the store: give a file, not '-'")
        self.dist, self.device = distributed.setup(self.settings.device)
        if not self.dist.main:
            log.setLevel(logging.ERROR)
        try:
            if self.settings.resume:
                self._load_resume()
            self.inner_validation = INNER_VAL if self.settings.patience else None
            yield self
        finally:
            distributed.teardown(self.dist)

    @property
    def is_main(self) -> bool:
        return self.dist.main

    @property
    def rank(self) -> int:
        return self.dist.rank

    def log_fold(self, line: str) -> None:
        log.info(line)

    def _load_resume(self) -> None:
        """Continue the checkpoint's run with its settings, except those ``resume`` may change."""
        from audiokit.training.checkpoint import load_checkpoint

        s, path = self.settings, self.settings.resume
        self.resume = load_checkpoint(path)
        meta = self.resume["meta"]
        if meta.get("kind") != self.kind:
            raise ParameterError("resume", f"is a checkpoint of a {meta.get('kind')} run, not of {self.kind}",
                                 path=path)
        saved = dict(meta.get("settings", {}))
        cls, changed = type(s), []
        merged = dict(saved)
        for name, value in s.to_dict().items():
            if name not in s.given or name not in saved:
                merged.setdefault(name, value)
            elif name in cls.RESUME_MAY_CHANGE:
                merged[name] = value
            elif saved[name] != value:
                changed.append(f"{name} {saved[name]}")
        if changed:
            log.warning("train: resume continues with the checkpoint's settings: " + ", ".join(changed))
        merged["resume"] = path
        if int(merged["epochs"]) < int(saved.get("epochs", 0)):
            log.warning(f"train: epochs {merged['epochs']} is fewer than the checkpoint's {saved['epochs']}")
        self.settings = cls.from_dict(merged, source=path).check()

    # -- data -------------------------------------------------------------------------------------------------
    def check_store(self, store) -> None:
        from audiokit.models import deep as dm

        dm.check_item_shape(store.item_shape, feature_kind=store.config.kind, path=store.name)

    def features(self, store, labelled):
        from audiokit.training import data as td

        nbytes = len(labelled) * int(np.prod(store.item_shape)) * 4
        if self.store == "-" or td.fits_in_ram(nbytes):
            X = store.load_features(labelled)
            if not np.isfinite(X).all():
                raise AudiokitError("features contain NaN or infinite values", path=store.name)
            return X
        log.info(f"train: {nbytes / 2**30:.1f} GiB of features do not fit in memory; streaming them from "
                 f"{store.name}")
        return td.H5Rows(path=self.store, rows=labelled, item_shape=tuple(store.item_shape))

    def check_data(self, y, groups, class_names, cfg, name) -> None:
        self.fingerprint = fingerprint(y, groups, class_names, cfg.to_json())
        if self.resume is not None and self.resume["meta"].get("fingerprint") != self.fingerprint:
            raise AudiokitError("the checkpoint was made from a different store (items, labels, groups or feature "
                                "settings differ); resume it with the store it was trained on",
                                path=self.settings.resume)

    # -- the run ----------------------------------------------------------------------------------------------
    def prepare(self, data, jobs, sweep_rows, report) -> None:
        from audiokit.models import deep as dm
        from audiokit.training import data as td

        s, kind = self.settings, self.kind
        self.data, self.n_classes = data, len(data.class_names)
        self.cfg = engine_config(s)
        self.params = dm.network_params(kind, n_classes=self.n_classes, in_shape=data.item_shape,
                                        stem=getattr(s, "stem", None), input_size=dm.parse_input_size(s.input_size),
                                        pretrained=getattr(s, "pretrained", "none"), normalize=s.normalize)
        self.first_job = 0 if self.resume is None else int(self.resume["meta"]["job"]["index"])
        fresh_jobs = len(jobs) - self.first_job - (0 if self.resume is None else 1)
        self.pre_state, self.pre_desc = None, "none"
        if getattr(s, "pretrained", "none") != "none":
            if fresh_jobs > 0:  # a resumed job takes its weights from the checkpoint
                from audiokit.models.resnet import pretrained_state

                self.pre_state, self.pre_desc = pretrained_state(kind, s.pretrained)
            else:
                self.pre_desc = self.resume["meta"].get("pretrained", "none")
        self.params["pretrained"] = self.pre_desc
        smallest = min(len(j.train) for j in jobs)
        if "batch_size" not in s.given and smallest < self.cfg.batch_size:
            fit_batch = max(2, 2 ** int(np.log2(smallest)))
            log.warning(f"train: the default batch of {self.cfg.batch_size} is more than the {smallest} items a "
                        f"model is trained on; using batches of {fit_batch}")
            self.settings = s = s.replace(batch_size=fit_batch)
            self.cfg = engine_config(s)
        self.bank = td.FeatureBank(data.X, data.y, device=self.device, workers=s.loader_workers)
        data.X = None
        self.ckpt_path = _path_option(s.checkpoint, checkpoint_path(self.output))
        self.hist_path = _path_option(s.history, history_path(self.output))
        self.dtype = dm.amp_dtype(self.device) if self.cfg.amp else None

        d = self.dist
        report.update(device=str(self.device), world_size=d.world, amp=None if self.dtype is None else str(self.dtype),
                      params=self.params, engine={**self.cfg.to_dict(), "class_weights": s.class_weights})
        setup = [f"device {self.device}" + (f" × {d.world} processes ({d.backend})" if d.enabled else "")
                 + (f", AMP {str(self.dtype).replace('torch.', '')}" if self.dtype is not None else "")
                 + f"; {self.cfg.describe()}"]
        report["setup"] = setup

    def resume_point(self, jobs):
        """The first job to run, the scores of those done before, and their fold models (ensemble)."""
        done, members = [], []
        if self.resume is not None:
            jm = self.resume["meta"]["job"]
            if self.first_job >= len(jobs) or jm.get("name") != jobs[self.first_job].name:
                raise AudiokitError("the checkpoint's run does not match these settings (folds/validation)",
                                    path=self.settings.resume)
            done = list(jm["done"])
            self.state = {"history": list(jm["history"]), "best_epochs": list(jm["best_epochs"])}
            log.info(f"train: resuming {self.settings.resume} at {jobs[self.first_job].label or 'the run'}, epoch "
                     f"{self.resume['meta']['engine']['epoch'] + 1}, step {self.resume['meta']['engine']['step']}")
            members = [self._member_from_file(j.index) for j in jobs[:self.first_job] if j.member]
        return self.first_job, done, members

    def fitting(self):
        """While the jobs run: the first SIGINT/SIGTERM stops after the current step, with a checkpoint."""
        from audiokit.training.engine import StopFlag

        self.stop = StopFlag()
        return self.stop.handle_signals()

    def fit(self, job, data, done) -> FitResult:
        import torch

        from audiokit.models import deep as dm
        from audiokit.training.engine import Interrupted, fit, step_seed

        s, cfg = self.settings, self.cfg
        if job.refit:  # as long as the validated runs trained (their kept epoch under early stopping)
            bests = [b for b in self.state["best_epochs"] if b]
            cfg = engine_config(s, epochs=max(1, int(np.median(bests)) if bests else cfg.epochs), seed=job.seed)
            job.epochs = cfg.epochs
        elif job.seed is not None:
            cfg = engine_config(s, seed=job.seed)
        torch.manual_seed(step_seed(cfg.seed, 1000 + job.index))
        net = dm.build_network(self.kind, n_classes=self.n_classes, in_shape=data.item_shape, params=self.params,
                               pretrained_state=self.pre_state)
        net.frontend.set_stats(**self.bank.stats(job.train))
        cfg.class_weights = class_weights(s.class_weights, data.y[job.train], self.n_classes)
        meta = {"kind": self.kind, "settings": s.to_dict(), "fingerprint": self.fingerprint,
                "pretrained": self.pre_desc,
                "job": {"index": job.index, "name": job.name, "done": done, "history": self.state["history"],
                        "best_epochs": self.state["best_epochs"]}}
        rows: list[dict] = []

        def on_epoch(row):
            rows.append({"run": job.name, **row})
            if self.hist_path and self.dist.main:
                write_history(self.hist_path, self.state["history"] + rows)

        resume = self.resume if (self.resume is not None and job.index == self.first_job) else None
        if resume is not None:
            rows.extend({"run": job.name, **r} for r in resume["meta"]["engine"]["history"])
        try:
            res = fit(net, self.bank, job.train, job.val, cfg, n_classes=self.n_classes, device=self.device,
                      dist=self.dist, checkpoint=self.ckpt_path, resume=resume, stop=self.stop, label=job.label,
                      meta=meta, on_epoch=on_epoch)
        except Interrupted as exc:
            where = (f"after epoch {exc.epoch}" if exc.step == 0 else
                     f"in epoch {exc.epoch + 1} after step {exc.step}") + (f" of {job.label}" if job.label else "")
            raise TrainingInterrupted(where, exc.checkpoint, main=self.dist.main) from None
        self.state["history"] = self.state["history"] + [{"run": job.name, **r} for r in res.history]
        if job.score is not None:
            self.state["best_epochs"] = self.state["best_epochs"] + [res.best_epoch]
        self.results[job.name] = res
        return FitResult(net, extra={"best_epoch": res.best_epoch, "epochs_run": res.epochs_run,
                                     "loss": res.best_val_loss, "stopped_early": res.stopped_early})

    def proba(self, model, rows):
        from scipy.special import softmax

        from audiokit.models.ensemble import Ensemble
        from audiokit.training.engine import predict_rows

        nets = [m.net for m in model.members] if isinstance(model, Ensemble) else [getattr(model, "net", model)]
        out = []
        for net in nets:
            out.append(softmax(predict_rows(net.to(self.device), self.bank, rows, device=self.device,
                                            dtype=self.dtype), axis=1))
            if len(nets) > 1:
                net.cpu()
        return np.mean(out, axis=0)

    def saved_model(self, res):
        """The trained network as the classifier the model file holds (on the CPU)."""
        return self._classifier(res.model.cpu())

    def _classifier(self, net):
        from audiokit.models import deep as dm

        return dm.DeepClassifier(kind=self.kind, class_names=self.data.class_names,
                                 feature_config=self.data.config, net=net, params=self.params, device="cpu")

    def member(self, job, net):
        """A finished member's network as a classifier; saved beside the checkpoint so resume finds it."""
        import copy

        clf = self._classifier(copy.deepcopy(net).cpu())
        path = self._member_path(job.index)
        if path is not None:
            from audiokit.modelfile import save_model

            save_model(path, clf.to_modelfile())
            self.member_paths.append(path)
        return clf

    def _member_path(self, index: int) -> str | None:
        """Where the finished member of job ``index`` waits until the run ends (beside the checkpoint)."""
        return None if self.ckpt_path is None else f"{self.ckpt_path}.member{index + 1}.h5"

    def _member_from_file(self, index: int):
        from audiokit.models import load

        path = self._member_path(index)
        if path is None or not os.path.exists(path):
            raise AudiokitError(f"the model of job {index + 1} of the ensemble is missing ({path}); train again "
                                "without resume", path=self.ckpt_path)
        self.member_paths.append(path)
        return load(path, device="cpu")

    def report(self, report, final_job, final_res) -> None:
        from audiokit.models import deep as dm

        res = self.results[final_job.name]
        report["n_parameters"] = dm.count_parameters(final_res.model)
        report["history"] = {"file": self.hist_path, "best_epoch": res.best_epoch, "epochs_run": res.epochs_run,
                             "stopped_early": res.stopped_early, "rows": self.state["history"]}
        report["checkpoint"] = self.ckpt_path
        if self.settings.plot:
            report["plot"] = self.settings.plot

    def training_record(self, report, final_res) -> dict:
        res = report["history"]
        return {"engine": report["engine"], "pretrained": self.pre_desc, "device": str(self.device),
                "world_size": self.dist.world, "best_epoch": res["best_epoch"], "epochs_run": res["epochs_run"],
                "input_stats": final_res.model.frontend.stats()}

    def metrics_record(self, report) -> dict:
        h = report["history"]
        m = {"history": {k: h[k] for k in ("best_epoch", "epochs_run", "stopped_early")}}
        # Flat headline figures too, for 'audiokit info' and quick greps.
        if "validation" in report:
            m["val_accuracy"] = report["validation"]["accuracy"]
        if "cv" in report:
            m["cv_accuracy"] = rep.format_pm(report["cv"]["accuracy"]["mean"], report["cv"]["accuracy"]["std"])
        if "test" in report:
            m["test_accuracy"] = report["test"]["accuracy"]
        m["best_epoch"], m["epochs_run"] = h["best_epoch"], h["epochs_run"]
        return m

    def after_save(self, report, members) -> None:
        for path in self.member_paths:  # the members now live in the saved ensemble
            if os.path.exists(path):
                os.remove(path)
        if self.settings.plot:
            plot_curves(self.settings.plot, self.state["history"],
                        title=f"{self.kind} on {os.path.basename(self.data.name)}")


# -- history and curves ------------------------------------------------------------------------------------

HISTORY_COLUMNS = ("run", "epoch", "train_loss", "val_loss", "val_acc", "lr", "samples_per_s", "seconds")


def write_history(path: str, rows: list[dict]) -> None:
    """The per-epoch history as CSV (one row per epoch of each run: fold1.., refit, main), atomically."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(HISTORY_COLUMNS)
    for r in rows:
        w.writerow(["" if r.get(c) is None else (f"{r[c]:.6g}" if isinstance(r[c], float) else r[c])
                    for c in HISTORY_COLUMNS])
    with atomic_output(path) as target, open(target.file, "w", encoding="utf-8") as f:
        f.write(buf.getvalue())


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
