"""The PyTorch training loop: optimisers, schedules, early stopping, AMP, checkpoints, DDP.

:func:`fit` trains an :class:`audiokit.models.deep.AudioNet` on the rows of a
:class:`audiokit.training.data.FeatureBank`:

* optimiser ``adamw | adam | sgd`` (SGD with Nesterov momentum 0.9); schedule
  ``plateau`` (``ReduceLROnPlateau``: × ``lr_factor`` = 0.2 after ``lr_patience`` = 2 epochs
  without a better validation loss, the Spec-ResNet paper's 1e-3 → 2e-4 → 4e-5), ``cosine``
  (per epoch), ``onecycle`` (per step) or ``none``;
* cross-entropy with optional label smoothing and class weights; augmentation on the
  device (:mod:`audiokit.training.augment`);
* early stopping on the validation loss after ``patience`` epochs without improvement,
  restoring the best epoch's weights;
* channels_last weights and inputs (on the CPU too, where oneDNN's NHWC convolutions are
  faster); on CUDA: autocast (bf16 where supported, else fp16 with a ``GradScaler``),
  ``cudnn.benchmark``, optional ``torch.compile``. The hot loop never waits for the GPU:
  losses are summed on the device and read once per epoch;
* a checkpoint after every epoch (atomic), and after the current step when SIGINT/SIGTERM
  arrives, from which :func:`fit` continues exactly where it stopped (every random draw
  is seeded from ``(seed, epoch, step, rank)``, so a resumed run equals an uninterrupted
  one on a CPU);
* under ``torchrun``: DistributedDataParallel with a ``DistributedSampler`` (see
  :mod:`audiokit.training.distributed`).
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from audiokit.errors import AudiokitError, ParameterError, UsageError
from audiokit.training.augment import Augment
from audiokit.training.data import FeatureBank, batch_bounds
from audiokit.training.distributed import Dist
from audiokit.training.settings import DeepSettings

log = logging.getLogger("audiokit")

#: The settings' allowed values (one list, in DeepSettings).
OPTIMIZERS = DeepSettings.__dataclass_fields__["optimizer"].metadata["choices"]
SCHEDULERS = DeepSettings.__dataclass_fields__["scheduler"].metadata["choices"]
#: Under DDP, how often (in steps) the ranks agree on a stop request.
STOP_SYNC_EVERY = 8


_D = DeepSettings()


@dataclass
class EngineConfig:
    """How to train: the deep settings (defaults from :class:`audiokit.training.settings.DeepSettings`)
    and the engine's own constants."""

    optimizer: str = _D.optimizer
    lr: float = _D.lr
    weight_decay: float = _D.weight_decay
    momentum: float = 0.9
    batch_size: int = _D.batch_size
    epochs: int = _D.epochs
    scheduler: str = _D.scheduler
    lr_factor: float = 0.2
    lr_patience: int = 2
    min_lr: float = 1e-6
    #: Early stopping: epochs without a lower validation loss, then the best epoch's weights are
    #: restored (0: off, train every epoch and keep the last).
    patience: int = _D.patience
    label_smoothing: float = _D.label_smoothing
    #: Per-class loss weights (None: all 1).
    class_weights: list[float] | None = None
    augment: Augment = field(default_factory=Augment)
    amp: bool = _D.amp
    channels_last: bool = True
    compile: bool = _D.compile
    #: Recompute the BatchNorm statistics after every epoch from up to this many training items
    #: ("precise BN"; 0: keep the running averages). See :func:`recalibrate_bn`. 1024 items
    #: estimate the statistics well (Wu & Johnson use batches of this order) and bound the cost
    #: on large stores (its cost: docs/benchmarks.md).
    precise_bn: int = 1024
    seed: int = 0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["augment"] = self.augment.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "EngineConfig":
        d = dict(d)
        d["augment"] = Augment(**d.get("augment", {}))
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})

    def check(self) -> None:
        """Refuse impossible settings (exit 2)."""
        if self.optimizer not in OPTIMIZERS:
            raise ParameterError("optimizer", f"must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if self.scheduler not in SCHEDULERS:
            raise ParameterError("scheduler", f"must be one of {', '.join(SCHEDULERS)}, got {self.scheduler!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ParameterError("lr", f"must be a positive number, got {self.lr}")
        if not self.weight_decay >= 0:
            raise ParameterError("weight_decay", f"must be >= 0, got {self.weight_decay}")
        if self.batch_size < 2:
            raise ParameterError("batch_size", f"must be at least 2 (BatchNorm needs two items), got {self.batch_size}")
        if self.epochs < 1:
            raise ParameterError("epochs", f"must be at least 1, got {self.epochs}")
        if self.patience < 0:
            raise ParameterError("patience", f"must be >= 0 (0 turns early stopping off), got {self.patience}")
        if not 0 <= self.label_smoothing < 1:
            raise ParameterError("label_smoothing", f"must be in [0, 1), got {self.label_smoothing}")
        a = self.augment
        if not 0 <= a.flip <= 1:
            raise ParameterError("flip", f"is a probability in [0, 1], got {a.flip}")
        if not 0 <= a.time_shift < 1:
            raise ParameterError("time_shift", f"is a fraction of the frames in [0, 1), got {a.time_shift}")
        if not 0 <= a.rotate <= 180:
            raise ParameterError("rotate", f"is in degrees, 0..180, got {a.rotate}")
        if not 0 <= a.freq_warp < 1:
            raise ParameterError("freq_warp", f"is a fraction of the frequency axis in [0, 1), got {a.freq_warp}")
        if a.mixup < 0:
            raise ParameterError("mixup", f"is the Beta(α, α) parameter, >= 0 (0: off), got {a.mixup}")

    def describe(self) -> str:
        s = (f"{self.optimizer} lr {self.lr:g}" + (f" wd {self.weight_decay:g}" if self.weight_decay else "")
             + f", batch {self.batch_size}, {self.epochs} epochs{' max' if self.patience else ''}, "
             f"scheduler {self.scheduler}")
        if self.patience:
            s += f", early stopping patience {self.patience}"
        if self.label_smoothing:
            s += f", label smoothing {self.label_smoothing:g}"
        if self.class_weights is not None:
            s += ", class weights"
        return s + f"; augmentation: {self.augment.describe()}"


@dataclass
class FitResult:
    history: list[dict]
    #: 1-based epoch whose weights were kept: the best one under early stopping, else the last.
    best_epoch: int | None
    best_val_loss: float | None
    epochs_run: int
    stopped_early: bool


class Interrupted(KeyboardInterrupt):
    """Training stopped on request after a step; ``checkpoint`` holds the state (None: not written)."""

    def __init__(self, checkpoint: str | None, epoch: int, step: int):
        super().__init__(f"interrupted at epoch {epoch + 1}, step {step}")
        self.checkpoint, self.epoch, self.step = checkpoint, epoch, step


class StopFlag:
    """A request to stop after the current step: set by SIGINT/SIGTERM inside
    :meth:`handle_signals`, or after ``after_steps`` optimiser steps (tests, time-boxed jobs)."""

    def __init__(self, *, after_steps: int | None = None):
        self.requested = False
        self.signum: int | None = None
        self.after_steps = after_steps
        self.steps = 0

    def set(self, signum: int | None = None) -> None:
        self.requested = True
        self.signum = signum

    def tick(self) -> bool:
        """Count a finished step; True when training should stop now."""
        self.steps += 1
        if self.after_steps is not None and self.steps >= self.after_steps:
            self.requested = True
        return self.requested

    @contextlib.contextmanager
    def handle_signals(self):
        """The first SIGINT/SIGTERM sets the flag (the loop stops after its step and checkpoints);
        a second one interrupts at once (the last complete checkpoint stays)."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return

        def handler(signum, frame):
            if self.requested:
                raise KeyboardInterrupt
            self.set(signum)
            name = signal.Signals(signum).name
            log.warning(f"train: {name}: stopping after this step and writing a checkpoint "
                        f"(send it again to stop at once)")

        old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        for s in old:
            signal.signal(s, handler)
        try:
            yield self
        finally:
            for s, h in old.items():
                signal.signal(s, h)


def step_seed(*parts: int) -> int:
    """A 63-bit seed from integers (``seed, epoch, step, rank``), well mixed by NumPy's SeedSequence."""
    return int(np.random.SeedSequence([int(p) & 0xFFFFFFFF for p in parts]).generate_state(1, np.uint64)[0]
               >> np.uint64(1))


def make_optimizer(cfg: EngineConfig, params):
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=True, weight_decay=cfg.weight_decay)


def make_scheduler(cfg: EngineConfig, opt, steps_per_epoch: int):
    """``(scheduler or None, per_step)``."""
    s = torch.optim.lr_scheduler
    if cfg.scheduler == "plateau":
        return s.ReduceLROnPlateau(opt, mode="min", factor=cfg.lr_factor, patience=cfg.lr_patience,
                                   min_lr=cfg.min_lr), False
    if cfg.scheduler == "cosine":
        return s.CosineAnnealingLR(opt, T_max=cfg.epochs, eta_min=cfg.min_lr), False
    if cfg.scheduler == "onecycle":
        return s.OneCycleLR(opt, max_lr=cfg.lr, total_steps=max(1, cfg.epochs * steps_per_epoch)), True
    return None, False


def rank_share(n: int, dist: Dist) -> int:
    """Items each rank sees per epoch (``DistributedSampler`` pads to equal shares)."""
    return math.ceil(n / dist.world) if dist.enabled else n


def fit(net, bank: FeatureBank, train_rows: Sequence[int], val_rows: Sequence[int] | None, cfg: EngineConfig, *,
        n_classes: int, device: torch.device, dist: Dist | None = None, checkpoint: str | None = None,
        resume: dict | None = None, stop: StopFlag | None = None, label: str = "", meta: dict | None = None,
        on_epoch: Callable[[dict], None] | None = None) -> FitResult:
    """Train ``net`` in place and return its history; the kept weights are loaded into ``net``.

    Parameters
    ----------
    net : AudioNet
        The network, its frontend statistics already set.
    bank : FeatureBank
        All items; ``train_rows`` / ``val_rows`` index it.
    cfg : EngineConfig
    n_classes : int
    device : torch.device
    dist : Dist, optional
        The torchrun job (default: one process).
    checkpoint : str, optional
        Written (by rank 0) after every epoch and when stopped by ``stop``.
    resume : dict, optional
        A checkpoint from :func:`audiokit.training.checkpoint.load_checkpoint` of this same run.
    stop : StopFlag, optional
        Checked after every step.
    label : str
        Prefix of the per-epoch log line (``fold 2/5``).
    meta : dict
        Extra JSON saved in the checkpoint (the caller's settings and progress).
    on_epoch : callable
        Called with each history row (rank 0), e.g. to rewrite the history file.

    Raises
    ------
    Interrupted
        ``stop`` was set; the checkpoint (if any) holds the state after the last step.
    AudiokitError
        The loss became NaN or infinite (divergence).
    """
    from audiokit.models.deep import amp_dtype
    from audiokit.training.checkpoint import save_checkpoint

    dist = dist or Dist()
    stop = stop or StopFlag()
    cfg.check()
    train_rows = np.asarray(train_rows, dtype=np.int64)
    val_rows = None if val_rows is None or len(val_rows) == 0 else np.asarray(val_rows, dtype=np.int64)
    n_train = len(train_rows)
    if cfg.batch_size % dist.world:
        raise ParameterError("batch_size", f"{cfg.batch_size} is the global batch; it must divide evenly among the "
                         f"{dist.world} processes")
    bs = cfg.batch_size // dist.world
    if bs < 2:
        raise ParameterError("batch_size", f"{cfg.batch_size} leaves fewer than 2 items per process for "
                         f"{dist.world} processes")
    share = rank_share(n_train, dist)
    if n_train < cfg.batch_size:
        raise ParameterError("batch_size", f"{cfg.batch_size} is more than the {n_train} training items; use a smaller "
                         f"batch_size (or more data)")
    bounds = batch_bounds(share, bs, drop_below=2)
    steps = len(bounds)

    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True
    model = net.to(device)
    if cfg.channels_last:  # NHWC convolutions: cuDNN's fast path, and oneDNN's on the CPU (docs/benchmarks.md)
        model.to(memory_format=torch.channels_last)
        model.channels_last = True
    dtype = amp_dtype(device) if cfg.amp else None
    # Masked / uncovered cells get the training mean (0 after standardising), or each item's own mean
    # when the frontend normalises every item by itself.
    fill = None if model.frontend.mode == "item" else float(model.frontend.mean)
    if dist.enabled:
        from torch.nn.parallel import DistributedDataParallel as DDP

        train_model = DDP(model, device_ids=[device.index] if cuda else None)
    else:
        train_model = model
    if cfg.compile:
        train_model = torch.compile(train_model)
    opt = make_optimizer(cfg, model.parameters())
    sched, sched_per_step = make_scheduler(cfg, opt, steps)
    scaler = torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)
    cw = None if cfg.class_weights is None else torch.tensor(cfg.class_weights, dtype=torch.float32, device=device)
    sampler = None
    if dist.enabled:
        from torch.utils.data.distributed import DistributedSampler

        sampler = DistributedSampler(range(n_train), num_replicas=dist.world, rank=dist.rank, shuffle=True,
                                     seed=cfg.seed, drop_last=False)

    # -- state (fresh or resumed) -------------------------------------------------------------------------
    history: list[dict] = []
    best_loss, best_epoch, best_state, bad = math.inf, None, None, 0
    start_epoch, start_step = 0, 0
    part = {"loss_sum": 0.0, "seen": 0, "seconds": 0.0}
    if resume is not None:
        m = resume["meta"]["engine"]
        try:
            model.load_state_dict(resume["model"])
            opt.load_state_dict(resume["optimizer"])
            if sched is not None and resume.get("scheduler"):
                sched.load_state_dict(resume["scheduler"])
            if resume.get("scaler"):
                scaler.load_state_dict(resume["scaler"])
        except (RuntimeError, KeyError, ValueError) as exc:
            raise AudiokitError(f"checkpoint does not fit this model ({type(exc).__name__}: "
                                f"{str(exc).splitlines()[0][:200]})") from None
        history = list(m["history"])
        best_loss = math.inf if m["best_loss"] is None else float(m["best_loss"])
        best_epoch, bad = m["best_epoch"], int(m["bad_epochs"])
        if resume.get("best_state") is not None:
            best_state = {k: v.to(device) for k, v in resume["best_state"].items()}
        start_epoch, start_step = int(m["epoch"]), int(m["step"])
        part = dict(m["partial"])
        if m.get("finished"):  # early-stopped before the checkpoint was taken: nothing left to train
            start_epoch = cfg.epochs

    def engine_meta(epoch: int, step: int, partial: dict) -> dict:
        return {"epoch": epoch, "step": step, "steps_per_epoch": steps, "history": history,
                "finished": stopped_early,
                "best_loss": None if math.isinf(best_loss) else best_loss, "best_epoch": best_epoch,
                "bad_epochs": bad, "partial": partial, "config": cfg.to_dict()}

    def write_checkpoint(epoch: int, step: int, partial: dict) -> None:
        if checkpoint is None or not dist.main:
            return
        tensors = {"model": model.state_dict(), "optimizer": opt.state_dict(),
                   "scheduler": sched.state_dict() if sched is not None else None,
                   "scaler": scaler.state_dict() if scaler.is_enabled() else None,
                   "best_state": best_state}
        save_checkpoint(checkpoint, tensors, {**(meta or {}), "engine": engine_meta(epoch, step, partial)})

    stopped_early = bool(resume is not None and resume["meta"]["engine"].get("finished"))
    for epoch in range(start_epoch, cfg.epochs):
        # -- the epoch's order: seeded by (seed, epoch), so a resumed run draws the same ------------------
        if sampler is not None:
            sampler.set_epoch(epoch)
            pos = np.fromiter(iter(sampler), dtype=np.int64, count=share)
        else:
            g = torch.Generator().manual_seed(step_seed(cfg.seed, epoch))
            pos = torch.randperm(n_train, generator=g).numpy()
        order = bank.to_device(train_rows[pos])
        model.train()
        loss_sum = torch.tensor(float(part["loss_sum"]), device=device)
        seen, spent = int(part["seen"]), float(part["seconds"])
        spent_before = spent
        gen = torch.Generator(device=device)
        t0 = time.perf_counter()
        first = start_step if epoch == start_epoch else 0
        for step, (xb, yb) in enumerate(bank.iterate(order, bounds[first:]), start=first):
            gen.manual_seed(step_seed(cfg.seed, epoch, step, dist.rank))
            xb = cfg.augment(xb, gen, fill=fill)
            target = yb
            if cfg.augment.mixup > 0:
                lam = float(np.random.default_rng(step_seed(cfg.seed, epoch, step, dist.rank, 1))
                            .beta(cfg.augment.mixup, cfg.augment.mixup))
                xb, target = cfg.augment.mix(xb, yb, n_classes, gen, lam)
            with torch.autocast(device_type=device.type, dtype=dtype, enabled=dtype is not None):
                logits = train_model(xb)
            loss = F.cross_entropy(logits.float(), target, weight=cw, label_smoothing=cfg.label_smoothing)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            if sched_per_step:
                sched.step()
            loss_sum += loss.detach() * yb.shape[0]
            seen += int(yb.shape[0])
            want = stop.tick()
            if dist.enabled and ((step + 1) % STOP_SYNC_EVERY == 0 or step + 1 == steps):
                want = dist.any_flag(want, device)
                stop.requested = want
            elif dist.enabled:
                want = False
            if want:
                spent += time.perf_counter() - t0
                write_checkpoint(epoch, step + 1, {"loss_sum": float(loss_sum), "seen": seen, "seconds": spent})
                raise Interrupted(checkpoint if dist.main else None, epoch, step + 1)
        start_step = 0
        part = {"loss_sum": 0.0, "seen": 0, "seconds": 0.0}
        if cfg.precise_bn and (val_rows is not None or epoch + 1 == cfg.epochs):  # when the statistics are used
            recalibrate_bn(model, bank, order[:cfg.precise_bn], bs, dtype=dtype, device=device)
        tot = dist.sum_(torch.stack([loss_sum.float(), torch.tensor(float(seen), device=device)]))
        train_loss, n_seen = float(tot[0] / tot[1].clamp(min=1)), float(tot[1])  # the epoch's one sync
        spent += time.perf_counter() - t0
        if not math.isfinite(train_loss):
            raise AudiokitError(f"training diverged: the training loss became {train_loss} in epoch {epoch + 1}; "
                                f"try a lower lr")
        # -- validation (rank 0; the others receive its figures) ----------------------------------------
        val_loss = val_acc = None
        if val_rows is not None:
            figures = torch.zeros(2, dtype=torch.float64, device=device)
            if dist.main:
                figures[0], figures[1] = evaluate(model, bank, val_rows, device=device, dtype=dtype)
            dist.broadcast_(figures)
            val_loss, val_acc = float(figures[0]), float(figures[1])
        lr = float(opt.param_groups[0]["lr"])
        monitor = val_loss if val_loss is not None else train_loss
        if sched is not None and not sched_per_step:
            sched.step(monitor) if cfg.scheduler == "plateau" else sched.step()
        improved = False
        if val_loss is not None:
            if val_loss < best_loss:
                best_loss, best_epoch, bad, improved = val_loss, epoch + 1, 0, True
                if cfg.patience:  # only early stopping goes back to the best epoch
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                bad += 1
        row = {"epoch": epoch + 1, "train_loss": train_loss, "val_loss": val_loss, "val_acc": val_acc, "lr": lr,
               "samples_per_s": n_seen / max(spent, 1e-9), "seconds": time.perf_counter() - t0 + spent_before}
        history.append(row)
        if dist.main:
            log.info(epoch_line(row, cfg.epochs, label=label, best=improved))
            if on_epoch is not None:
                on_epoch(row)
        stopped_early = bool(val_loss is not None and cfg.patience and bad >= cfg.patience)
        write_checkpoint(epoch + 1, 0, part)
        if stopped_early:
            if dist.main:
                log.info(f"train: {label + ': ' if label else ''}early stop after epoch {epoch + 1}: no lower "
                         f"validation loss for {cfg.patience} epochs; keeping epoch {best_epoch}")
            break
        if dist.any_flag(stop.requested, device):
            raise Interrupted(checkpoint if dist.main else None, epoch + 1, 0)
    if best_state is not None:
        model.load_state_dict(best_state)
    elif history:  # no early stopping: the last epoch is kept
        best_epoch, best_loss = len(history), history[-1]["val_loss"]
    return FitResult(history=history, best_epoch=best_epoch,
                     best_val_loss=None if best_loss is None or math.isinf(best_loss) else best_loss,
                     epochs_run=len(history), stopped_early=stopped_early)


def recalibrate_bn(model, bank: FeatureBank, order, batch_size: int, *, dtype=None, device=None) -> bool:
    """Recompute every BatchNorm layer's running mean and variance with the current weights, as the
    average over the batches of ``order`` (clean training items, no augmentation): "precise BN"
    (Wu & Johnson, *Rethinking "Batch" in BatchNorm*, 2021), through ``torch.optim.swa_utils.update_bn``.

    Why: with the few steps per epoch of small audio sets, the running averages trail the weights,
    so validation and early stopping would judge stale statistics (docs/deep-training.md). Costs
    one forward pass (without autograd) over at most ``EngineConfig.precise_bn`` items per epoch.
    Returns False when the model has no BatchNorm.
    """
    from torch.optim.swa_utils import update_bn

    if not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        return False
    bounds = batch_bounds(len(order), batch_size, drop_below=2)
    if not bounds:
        return False
    with torch.no_grad(), torch.autocast(device_type=device.type if device is not None else "cpu", dtype=dtype,
                                         enabled=dtype is not None):
        update_bn((xb for xb, _ in bank.iterate(order, bounds)), model)
    return True


def evaluate(model, bank: FeatureBank, rows: Sequence[int], *, device: torch.device, dtype=None,
             batch_size: int = 256) -> tuple[float, float]:
    """Mean cross-entropy (no smoothing, no weights) and accuracy of ``model`` on ``rows``."""
    rows = np.asarray(rows, dtype=np.int64)
    model.eval()
    total = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    with torch.inference_mode(), torch.autocast(device_type=device.type, dtype=dtype, enabled=dtype is not None):
        for xb, yb in bank.iterate(rows, batch_bounds(len(rows), batch_size)):
            logits = model(xb).float()
            total += F.cross_entropy(logits, yb, reduction="sum").double()
            correct += (logits.argmax(dim=1) == yb).sum()
    n = max(len(rows), 1)
    return float(total) / n, float(correct) / n


def predict_rows(model, bank: FeatureBank, rows: Sequence[int], *, device: torch.device, dtype=None,
                 batch_size: int = 256) -> np.ndarray:
    """Logits ``(len(rows), n_classes)`` float32 of ``model`` for bank ``rows``."""
    rows = np.asarray(rows, dtype=np.int64)
    model.eval()
    out = []
    with torch.inference_mode(), torch.autocast(device_type=device.type, dtype=dtype, enabled=dtype is not None):
        for xb, _ in bank.iterate(rows, batch_bounds(len(rows), batch_size)):
            out.append(model(xb).float())
    if not out:
        return np.zeros((0, 0), np.float32)
    return torch.cat(out).cpu().numpy()


def epoch_line(row: dict, epochs: int, *, label: str = "", best: bool = False) -> str:
    """The per-epoch stderr line, e.g.
    ``epoch  3/50  train loss 0.8123  val loss 0.7021  val acc 81.2 %  lr 1.0e-03  1234 samples/s  5.2 s *``."""
    w = len(str(epochs))
    s = f"{label + '  ' if label else ''}epoch {row['epoch']:{w}d}/{epochs}  train loss {row['train_loss']:.4f}"
    if row.get("val_loss") is not None:
        s += f"  val loss {row['val_loss']:.4f}  val acc {100 * row['val_acc']:5.1f} %"
    s += f"  lr {row['lr']:.1e}  {row['samples_per_s']:.0f} samples/s  {row['seconds']:.1f} s"
    return s + ("  *" if best else "")
