"""``audiokit train``: a feature store → a model file (+ its report JSON beside it).

The flags every kind shares are collected into a :class:`audiokit.training.TrainRun`; each
kind's own flags into a plain dict handed to its trainer (``audiokit.training.classic`` for
knn/svm/mlp/logreg, ``audiokit.training.deep`` for the PyTorch kinds). To add flags for a
kind: add the parameters below in that kind's block and put them in its options dict.
"""


import logging
import sys
from typing import Annotated, Optional

import typer

from audiokit.cli._common import (Threads, Device, Json, Quiet, Seed, Verbose, check_device, check_device_for_kind,
                                  check_output_path, complete_model_kinds, guarded, log, refuse_binary_to_terminal,
                                  write_json)


def _complete_optimizers() -> list[str]:
    return ["adamw", "adam", "sgd"]  # audiokit.training.engine.OPTIMIZERS (which imports torch; a test checks)


def _complete_schedulers() -> list[str]:
    return ["onecycle", "plateau", "cosine", "none"]  # audiokit.training.engine.SCHEDULERS

EPILOG = """\
Examples:

  audiokit train logmel.h5 -o cnn.h5       # the default for log-mels: specresnet, augmented, one-cycle,
                                           # validated on unseen groups, then refit on all of them
  audiokit train mfcc.h5 -o lr.h5          # the default for vectors: logistic regression
  audiokit train mfcc.h5 -o knn.h5 --model knn              # KNN, k=8, 20 % group-aware validation
  audiokit train voices.h5 -o voice-knn.h5 --k 1..40 --plot k.png   # pick k by cross-validation
  audiokit train mfcc.h5 -o svm.h5 --model svm --C 10 --folds 5     # 5-fold CV, then refit on all
  audiokit train mfcc.h5 -o mlp.h5 --model mlp --hidden 256,128 --seed 1
  audiokit train logmel.h5 -o cnn.h5 --model specresnet --folds 5
  audiokit featurize data/ -f mfcc-stats -o - | audiokit train - -o model.h5 --json

Deep models (PyTorch; on logmel stores; a GPU when present; see docs/deep-training.md):

  audiokit train logmel.h5 -o spec.h5 --model specresnet --no-augment --normalize dataset \
      --optimizer adam --batch-size 64 --epochs 50 --scheduler plateau --patience 5 --no-refit
                                                           # the Spec-ResNet paper's recipe

  audiokit train logmel.h5 -o spec.h5 --model specresnet --plot curves.png
  audiokit train logmel.h5 -o r18.h5 --model resnet18 --pretrained imagenet --stem repeat \\
      --input-size 256/224 --flip 0.5 --rotate 10          # the ResNet paper's recipe
  audiokit train logmel.h5 -o r18.h5 --model resnet18 --resume r18.ckpt   # after Ctrl-C / a crash
  torchrun --nproc_per_node 4 -m audiokit train logmel.h5 -o r50.h5 --model resnet50

A deep run writes, beside the model, its checkpoint (model.ckpt, after every epoch) and
its per-epoch history (model.history.csv); one line per epoch goes to stderr. Ctrl-C or
SIGTERM stops after the current step with a valid checkpoint and no model file.

The report of the run (settings, validation or per-fold scores with mean ± std, the k
sweep) is written as JSON beside the model: model.h5 → model.report.json. A summary goes
to stdout (to stderr when the model itself goes to stdout with -o -); --json prints the
report instead. Validation and CV are stratified, and group-aware when the store has
groups (one speaker never on both sides); see docs/training.md.

Exit status: 0 done; 1 the store cannot be used (empty, unlabelled, one class, NaN
features, wrong feature kind) or the model cannot be written; 2 bad flags (also too few
items per class for --folds or k).
"""


def register(app: typer.Typer) -> None:
    app.command("train", epilog=EPILOG, no_args_is_help=True)(train)


@guarded
def train(
    store: Annotated[str, typer.Argument(help="Feature store to train on; '-' reads it from stdin.",
                                         show_default=False, metavar="STORE")],
    output: Annotated[str, typer.Option("--output", "-o", help="Model file to write; '-' writes it to stdout.",
                                        metavar="MODEL")],
    model: Annotated[Optional[str], typer.Option(
        "--model", "-m", help="knn | svm | mlp | logreg (scikit-learn, CPU) or resnet18 | resnet34 | resnet50 | "
                              "specresnet (PyTorch). Default: specresnet for log-mel/MFCC frames, logreg for "
                              "vectors (mfcc-stats), knn for f0-range.",
        show_default=False, autocompletion=complete_model_kinds, metavar="KIND")] = None,
    val_split: Annotated[Optional[float], typer.Option(
        "--val-split", help="Fraction held out for validation (stratified, group-aware); 0 = none. "
                            "Default 0.2 unless --folds is given.")] = None,
    folds: Annotated[Optional[str], typer.Option(
        "--folds", metavar="K", help="K-fold cross-validation (group K-fold with groups), or 'store': the "
                        "folds of the featurize manifest's fold column (ESC-50, UrbanSound8K); per-fold and mean ± std "
                        "scores; the saved model is then refit on all items.")] = None,
    group_by: Annotated[str, typer.Option(
        "--group-by", help="Groups kept on one side of every split: auto (the store's groups, if any) | "
                           "none | a regex whose first capture group on the file name is the group.")] = "auto",
    test_split: Annotated[Optional[str], typer.Option(
        "--test-split", help="Hold out a test set first: store fold number(s) like 3 or 3,4 (from a manifest's "
                             "fold column), or a fraction like 0.2; scored once at the end.")] = None,
    seed: Seed = 0,
    device: Device = "auto",
    plot: Annotated[Optional[str], typer.Option(
        "--plot", help="Write a PNG: KNN with a k range, accuracy vs k; deep kinds, loss/accuracy curves.")] = None,
    # -- classic kinds (knn, svm, mlp, logreg); None = the kind's default -------------------------
    k: Annotated[Optional[str], typer.Option(
        "--k", help="knn: neighbours, a number (default 8) or a range/list swept by CV accuracy: "
                    "'1..40', '1..40:2', '1,3,5' (ties go to the smaller k).")] = None,
    metric: Annotated[Optional[str], typer.Option(
        "--metric", help="knn: distance, euclidean (default) | manhattan | chebyshev | cosine.")] = None,
    weights: Annotated[Optional[str], typer.Option(
        "--weights", help="knn: neighbour votes, uniform (default) | distance.")] = None,
    kernel: Annotated[Optional[str], typer.Option("--kernel", help="svm: rbf (default) | linear.")] = None,
    c: Annotated[Optional[float], typer.Option(
        "--C", help="svm, logreg: inverse regularisation strength (default 1.0).")] = None,
    gamma: Annotated[Optional[str], typer.Option(
        "--gamma", help="svm rbf: kernel width, scale (default) | auto | a number.")] = None,
    hidden: Annotated[Optional[str], typer.Option(
        "--hidden", help="mlp: hidden layer sizes, e.g. 256,128 (default 128).")] = None,
    alpha: Annotated[Optional[float], typer.Option("--alpha", help="mlp: L2 penalty (default 1e-4).")] = None,
    max_iter: Annotated[Optional[int], typer.Option(
        "--max-iter", help="mlp, logreg: iteration limit (default 500 / 2000).")] = None,
    # -- deep kinds (resnet18/34/50, specresnet); None = the kind's default (audiokit.training.deep) -------
    augment: Annotated[Optional[bool], typer.Option(
        "--augment/--no-augment", help="deep: the default augmentation, SpecAugment and a ±10 % time shift "
                                       "(default on; flags given explicitly still apply).")] = None,
    normalize: Annotated[Optional[str], typer.Option(
        "--normalize", help="deep: input normalisation: dataset (the training items' mean and std; "
                            "default) | item (each item's own mean and std).")] = None,
    refit: Annotated[Optional[bool], typer.Option(
        "--refit/--no-refit", help="After validation or CV, train the saved model again on all training "
                                   "items (deep: for the validated runs' epochs), so it knows every group "
                                   "(default on); --no-refit saves the validated model, or with --folds the "
                                   "fold models as an ensemble (probabilities averaged).")] = None,
    optimizer: Annotated[Optional[str], typer.Option(
        "--optimizer", help="deep: adamw (default) | adam | sgd.", autocompletion=_complete_optimizers)] = None,
    lr: Annotated[Optional[float], typer.Option("--lr", help="deep: learning rate (default 1e-3).")] = None,
    weight_decay: Annotated[Optional[float], typer.Option(
        "--weight-decay", help="deep: weight decay (default 1e-2).")] = None,
    batch_size: Annotated[Optional[int], typer.Option(
        "--batch-size", help="deep: global batch size, split over torchrun processes (default 32, fewer "
                             "when a model trains on fewer items).")] = None,
    epochs: Annotated[Optional[int], typer.Option(
        "--epochs", help="deep: epochs (default 30; a maximum under early stopping).")] = None,
    scheduler: Annotated[Optional[str], typer.Option(
        "--scheduler", help="deep: onecycle (per step, peak --lr; default) | plateau (x0.2 after 2 epochs "
                            "without a lower validation loss) | cosine | none.",
        autocompletion=_complete_schedulers)] = None,
    patience: Annotated[Optional[int], typer.Option(
        "--patience", help="deep: early stopping after this many epochs without a lower validation loss, "
                           "keeping the best epoch (default 0 = off: every epoch runs, the last is kept).")] = None,
    label_smoothing: Annotated[Optional[float], typer.Option(
        "--label-smoothing", help="deep: cross-entropy label smoothing (default 0).")] = None,
    class_weights: Annotated[Optional[str], typer.Option(
        "--class-weights", help="deep: loss weights: none (default) | balanced | one number per class.")] = None,
    specaugment: Annotated[Optional[bool], typer.Option(
        "--specaugment/--no-specaugment", help="deep: SpecAugment time and frequency masking (default on "
                                               "with --augment).")] = None,
    mixup: Annotated[Optional[float], typer.Option(
        "--mixup", help="deep: mixup with lambda ~ Beta(ALPHA, ALPHA), e.g. 0.2 (default 0 = off).")] = None,
    time_shift: Annotated[Optional[float], typer.Option(
        "--time-shift", help="deep: random circular time shift by up to this fraction of the frames (default "
                             "0.1 with --augment, else 0).")] = None,
    flip: Annotated[Optional[float], typer.Option(
        "--flip", help="deep: probability of a horizontal (time) flip (the ResNet paper: 0.5).")] = None,
    freq_warp: Annotated[Optional[float], typer.Option(
        "--freq-warp", help="deep: stretch or squeeze the frequency axis by up to this fraction, anchored at "
                            "the lowest band (vocal tract length perturbation), e.g. 0.1 (default 0 = off).")] = None,
    rotate: Annotated[Optional[float], typer.Option(
        "--rotate", help="deep: random rotation within +-DEGREES (the ResNet paper: 10).")] = None,
    pretrained: Annotated[Optional[str], typer.Option(
        "--pretrained", help="ResNets: imagenet (torchvision weights, downloaded once; default) | none | PATH "
                             "of a torchvision-layout state dict.")] = None,
    stem: Annotated[Optional[str], typer.Option(
        "--stem", help="ResNets: one channel into the RGB stem: sum (pretrained kernels summed; default) | "
                       "repeat (channel repeated, ImageNet mean/std).")] = None,
    input_size: Annotated[Optional[str], typer.Option(
        "--input-size", help="deep: resize items: auto (default: ResNets scale sides under 128 up to "
                             "128; specresnet native) | none | N | HxW | N/M (resize to N, centre-crop M, e.g. 256/224).")] = None,
    amp: Annotated[Optional[bool], typer.Option(
        "--amp/--no-amp", help="deep: mixed precision on CUDA, bf16 where supported else fp16 (default on).")] = None,
    compile_model: Annotated[Optional[bool], typer.Option(
        "--compile/--no-compile", help="deep: torch.compile the model (default off).")] = None,
    resume: Annotated[Optional[str], typer.Option(
        "--resume", help="deep: continue the run saved in this checkpoint, with its settings.")] = None,
    checkpoint: Annotated[Optional[str], typer.Option(
        "--checkpoint", help="deep: checkpoint written every epoch (default: beside the model, model.ckpt; "
                             "'none' = off).")] = None,
    history: Annotated[Optional[str], typer.Option(
        "--history", help="deep: per-epoch CSV (default: beside the model, model.history.csv; 'none' = off).")] = None,
    loader_workers: Annotated[Optional[int], typer.Option(
        "--loader-workers", min=0, help="deep: DataLoader workers when the store does not fit in GPU memory "
                                        "(default min(4, cores/2)).")] = None,
    # -- end of the deep kinds' flags ----------------------------------------------------------------------------
    json_out: Json = False,
    threads: Threads = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Train a classifier on a feature store and write it as a model file.

    KNN, SVM (RBF), MLP and logistic regression (scikit-learn) standardise features inside
    the model and train on any store whose items flatten to a vector (mfcc-stats, f0-range,
    or flattened logmel). The model file carries the store's feature settings, so eval and
    predict need no feature flags.
    """
    from audiokit.errors import UsageError
    from audiokit.models import CLASSIC_KINDS, DEEP_KINDS, KINDS
    from audiokit.training import TrainRun

    refuse_binary_to_terminal(output, "model", "-o - | audiokit info -")
    device = check_device(device)
    check_output_path(output)
    check_output_path(plot, "--plot")
    stdin_copy, why = None, ""
    if model is None:  # the kind that won for this store's features
        from audiokit.store import open_store, spool_stdin
        from audiokit.training import default_kind

        stdin_copy = spool_stdin() if store == "-" else None
        with open_store(store, stdin=stdin_copy) as s:
            model, why = default_kind(s.item_shape, s.config.kind)
        if stdin_copy is not None:
            stdin_copy.seek(0)
        only = {"knn": (k, metric, weights), "mlp": (hidden, alpha)}
        model, why = next(((kind, f"{kind} settings given") for kind, values in only.items()
                           if any(v is not None for v in values)), (model, why))
    model = model.strip().lower()
    if model not in KINDS:
        raise UsageError(f"--model must be one of {', '.join(KINDS)}, got {model!r}")
    check_device_for_kind(device, model)
    if normalize is not None and normalize not in ("item", "dataset"):
        raise UsageError(f"--normalize must be item or dataset, got {normalize!r}")
    if json_out and output == "-":
        raise UsageError("--json and -o - would both write to stdout; write the model to a file")
    if folds is not None and folds != "store":
        try:
            folds = int(folds)
        except ValueError:
            raise UsageError(f"--folds must be a number of folds or 'store' (the store's fold column), got "
                             f"{folds!r}") from None
    if val_split is not None and folds is not None:
        raise UsageError("give either --val-split or --folds, not both")
    if val_split is not None and not 0 <= val_split < 1:
        raise UsageError(f"--val-split must be in [0, 1), got {val_split}")
    run = TrainRun(store=store, output=output, model=model, model_reason=why,
                   val_split=None if folds is not None or val_split == 0 else (0.2 if val_split is None else val_split),
                   folds=folds, group_by=group_by, test_split=test_split, seed=seed, device=device, plot=plot,
                   quiet=quiet, verbose=verbose, argv=sys.argv[1:], stdin=stdin_copy, refit=refit)

    classic_opts = {name: value for name, value in dict(
        k=k, metric=metric, weights=weights, kernel=kernel, C=c, gamma=gamma, hidden=hidden, alpha=alpha,
        max_iter=max_iter).items() if value is not None}

    deep_opts = {name: value for name, value in dict(
        optimizer=optimizer, lr=lr, weight_decay=weight_decay, batch_size=batch_size, epochs=epochs,
        scheduler=scheduler, patience=patience, label_smoothing=label_smoothing, class_weights=class_weights,
        augment=augment, normalize=normalize, specaugment=specaugment, mixup=mixup, time_shift=time_shift, flip=flip, rotate=rotate, freq_warp=freq_warp,
        pretrained=pretrained, stem=stem, input_size=input_size, amp=amp, compile=compile_model, resume=resume,
        checkpoint=checkpoint, history=history, workers=loader_workers).items() if value is not None}

    if model in CLASSIC_KINDS:
        from audiokit.training import classic as trainer

        if deep_opts:
            flags = ", ".join("--" + {"workers": "loader-workers"}.get(n, n).replace("_", "-") for n in deep_opts)
            raise UsageError(f"{flags}: only for the deep kinds ({', '.join(DEEP_KINDS)}), not {model}")
        options = classic_opts
    else:
        if classic_opts:
            flags = ", ".join("--" + n.replace("_", "-") for n in classic_opts)
            raise UsageError(f"{flags}: only for the classic kinds ({', '.join(CLASSIC_KINDS)}), not {model}")
        import importlib

        try:
            trainer = importlib.import_module("audiokit.training.deep")
        except ModuleNotFoundError as exc:
            if exc.name not in ("audiokit.training.deep", "torch", "torchvision"):
                raise
            raise UsageError(f"--model {model}: the deep trainer is not available in this installation "
                             f"({exc.name} missing); choose one of {', '.join(CLASSIC_KINDS)}") from None
        options = deep_opts
        assert model in DEEP_KINDS

    logged = _LoggedLines()
    log.addHandler(logged)
    try:
        report = trainer.train(run, options)
    finally:
        log.removeHandler(logged)
    if report.get("rank", 0):  # torchrun: only rank 0 prints
        return

    if json_out:
        write_json(report)
        return
    lines = report.get("summary", [])
    if output == "-":  # stdout carries the model: the summary goes to the log
        for line in lines:
            log.info(line)
    else:
        if _same_stream():  # lines the trainer already logged (a deep run's header) are there already
            lines = [line for line in lines if f"train: {line}" not in logged.lines]
        sys.stdout.write("".join(f"{line}\n" for line in lines))
        sys.stdout.flush()


class _LoggedLines(logging.Handler):
    """The messages logged while training (what stderr showed, unless --quiet)."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.lines: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.add(record.getMessage())


def _same_stream() -> bool:
    """stdout and stderr are one terminal, pipe or file (``2>&1``): what was logged on stderr is
    already there."""
    import os

    try:
        a, b = os.fstat(sys.stdout.fileno()), os.fstat(sys.stderr.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return (a.st_dev, a.st_ino, a.st_rdev) == (b.st_dev, b.st_ino, b.st_rdev)
