"""``audiokit train``: a feature store → a model file (+ its report JSON beside it).

The flags every kind shares are collected into a :class:`audiokit.training.TrainRun`; each
kind's own flags into a plain dict handed to its trainer (``audiokit.training.classic`` for
knn/svm/mlp/logreg, ``audiokit.training.deep`` for the PyTorch kinds). To add flags for a
kind: add the parameters below in that kind's block and put them in its options dict.
"""


import sys
from typing import Annotated, Optional

import typer

from audiokit.cli._common import Device, Json, Quiet, Seed, Verbose, complete_model_kinds, guarded, log, write_json

EPILOG = """\
Examples:

  audiokit train mfcc.h5 -o knn.h5                          # KNN, k=8, 20 % group-aware validation
  audiokit train voices.h5 -o voice-knn.h5 --k 1..40 --plot k.png   # pick k by cross-validation
  audiokit train mfcc.h5 -o svm.h5 --model svm --C 10 --folds 5     # 5-fold CV, then refit on all
  audiokit train mfcc.h5 -o mlp.h5 --model mlp --hidden 256,128 --seed 1
  audiokit train logmel.h5 -o cnn.h5 --model specresnet --folds 5
  audiokit featurize data/ -f mfcc-stats -o - | audiokit train - -o model.h5 --json

Deep models (PyTorch; on logmel stores; a GPU when present; see docs/deep-training.md):

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
                                         show_default=False)],
    output: Annotated[str, typer.Option("--output", "-o", help="Model file to write; '-' writes it to stdout.")],
    model: Annotated[str, typer.Option("--model", "-m", help="knn | svm | mlp | logreg (scikit-learn, CPU) or "
                                                             "resnet18 | resnet34 | resnet50 | specresnet "
                                                             "(PyTorch).",
                                            autocompletion=complete_model_kinds)] = "knn",
    val_split: Annotated[Optional[float], typer.Option(
        "--val-split", help="Fraction held out for validation (stratified, group-aware); 0 = none. "
                            "Default 0.2 unless --folds is given.")] = None,
    folds: Annotated[Optional[int], typer.Option(
        "--folds", help="K-fold cross-validation (group K-fold with groups): per-fold and mean ± std "
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
    optimizer: Annotated[Optional[str], typer.Option(
        "--optimizer", help="deep: adamw | adam | sgd (default adam for specresnet, adamw for the ResNets).")] = None,
    lr: Annotated[Optional[float], typer.Option("--lr", help="deep: learning rate (default 1e-3).")] = None,
    weight_decay: Annotated[Optional[float], typer.Option(
        "--weight-decay", help="deep: weight decay (default 0 for adam, 1e-2 for adamw).")] = None,
    batch_size: Annotated[Optional[int], typer.Option(
        "--batch-size", help="deep: global batch size, split over torchrun processes (default 64 specresnet, "
                             "32 ResNets).")] = None,
    epochs: Annotated[Optional[int], typer.Option(
        "--epochs", help="deep: maximum epochs (default 50 specresnet, 10 ResNets).")] = None,
    scheduler: Annotated[Optional[str], typer.Option(
        "--scheduler", help="deep: plateau (x0.2 after 2 epochs without a lower validation loss; default) | "
                            "cosine | onecycle | none.")] = None,
    patience: Annotated[Optional[int], typer.Option(
        "--patience", help="deep: early stopping after this many epochs without a lower validation loss, "
                           "keeping the best epoch (default 5; 0 = off).")] = None,
    label_smoothing: Annotated[Optional[float], typer.Option(
        "--label-smoothing", help="deep: cross-entropy label smoothing (default 0).")] = None,
    class_weights: Annotated[Optional[str], typer.Option(
        "--class-weights", help="deep: loss weights: none (default) | balanced | one number per class.")] = None,
    specaugment: Annotated[Optional[bool], typer.Option(
        "--specaugment/--no-specaugment", help="deep: SpecAugment time and frequency masking.")] = None,
    mixup: Annotated[Optional[float], typer.Option(
        "--mixup", help="deep: mixup with lambda ~ Beta(ALPHA, ALPHA), e.g. 0.2 (default 0 = off).")] = None,
    time_shift: Annotated[Optional[float], typer.Option(
        "--time-shift", help="deep: random circular time shift by up to this fraction of the frames.")] = None,
    flip: Annotated[Optional[float], typer.Option(
        "--flip", help="deep: probability of a horizontal (time) flip (the ResNet paper: 0.5).")] = None,
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

    if model not in KINDS:
        raise UsageError(f"--model must be one of {', '.join(KINDS)}, got {model!r}")
    if json_out and output == "-":
        raise UsageError("--json and -o - would both write to stdout; write the model to a file")
    if val_split is not None and folds is not None:
        raise UsageError("give either --val-split or --folds, not both")
    if val_split is not None and not 0 <= val_split < 1:
        raise UsageError(f"--val-split must be in [0, 1), got {val_split}")
    run = TrainRun(store=store, output=output, model=model,
                   val_split=None if folds is not None or val_split == 0 else (0.2 if val_split is None else val_split),
                   folds=folds, group_by=group_by, test_split=test_split, seed=seed, device=device, plot=plot,
                   quiet=quiet, verbose=verbose, argv=sys.argv[1:])

    classic_opts = {name: value for name, value in dict(
        k=k, metric=metric, weights=weights, kernel=kernel, C=c, gamma=gamma, hidden=hidden, alpha=alpha,
        max_iter=max_iter).items() if value is not None}

    deep_opts = {name: value for name, value in dict(
        optimizer=optimizer, lr=lr, weight_decay=weight_decay, batch_size=batch_size, epochs=epochs,
        scheduler=scheduler, patience=patience, label_smoothing=label_smoothing, class_weights=class_weights,
        specaugment=specaugment, mixup=mixup, time_shift=time_shift, flip=flip, rotate=rotate,
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

    report = trainer.train(run, options)
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
        sys.stdout.write("".join(f"{line}\n" for line in lines))
        sys.stdout.flush()
