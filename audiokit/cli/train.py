"""``audiokit train``: a feature store → a model file (+ its report JSON beside it).

The flags are generated from the settings dataclasses of the registered kinds
(:mod:`audiokit.training.settings`, :mod:`audiokit.models.kinds`): each field is one flag
with its help, default and allowed values stated once there. Flags given (and a
``--recipe``) become the kind's settings; one library call trains; the summary printed
is built here from the returned report.
"""

import inspect
import logging
import sys
from typing import Annotated, Optional

import typer

from audiokit.cli._common import (Threads, Json, Quiet, Verbose, check_device, check_device_for_kind,
                                  check_output_path, complete_model_kinds, guarded, log, refuse_binary_to_terminal,
                                  write_json)

EPILOG = """\
Examples:

  audiokit train logmel.h5 -o cnn.h5       # the default for log-mels: specresnet, augmented, plateau
                                           # schedule, 30 epochs on every item
  audiokit train mfcc.h5 -o lr.h5          # the default for vectors: logistic regression
  audiokit train mfcc.h5 -o knn.h5 --model knn              # KNN, k=8, 20 % group-aware validation
  audiokit train voices.h5 -o voice-knn.h5 --k 1..40 --plot k.png   # pick k by cross-validation
  audiokit train mfcc.h5 -o svm.h5 --model svm --C 10 --folds 5     # 5-fold CV, then refit on all
  audiokit train mfcc.h5 -o mlp.h5 --model mlp --hidden 256,128 --seed 1
  audiokit train logmel.h5 -o cnn.h5 --model specresnet --folds 5
  audiokit featurize data/ -f mfcc-stats -o - | audiokit train - -o model.h5 --json

Deep models (PyTorch; on logmel stores; a GPU when present; see docs/deep-training.md):

  audiokit train logmel.h5 -o spec.h5 --recipe specresnet-paper       # the Spec-ResNet paper's settings
  audiokit train logmel.h5 -o r18.h5 --recipe resnet-paper --epochs 20   # the ResNet paper's, 20 epochs
  audiokit train logmel.h5 -o again.h5 --recipe spec.report.json        # repeat a run's settings

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



_TYPES = {"bool": bool, "float": float, "int": int, "str": str}


def _fields() -> dict:
    """Every settings field of every kind, once: ``name -> (field, [(kind, settings class), ...])``,
    the run settings first, then each kind's in registry order."""
    import dataclasses

    from audiokit.models import registry
    from audiokit.training.settings import RunSettings, fields_of

    out: dict = {f.name: (f, []) for f in fields_of(RunSettings)}
    for spec in registry():
        for f in fields_of(spec.settings):
            out.setdefault(f.name, (f, []))[1].append((spec.name, spec.settings))
    assert all(isinstance(f, dataclasses.Field) for f, _ in out.values())
    return out


def _flag(name: str, f) -> str:
    return f.metadata.get("flag") or "--" + name.replace("_", "-")


def _default_text(name: str, f, owners) -> str:
    if "when_augment" in f.metadata:
        on = f.metadata["when_augment"]
        return ("on with --augment, else off" if isinstance(on, bool) else f"{on:g} with --augment, else 0")
    values: dict[str, list[str]] = {}  # the default as help shows it -> the kinds that have it
    unset = False
    for kind, cls in owners:
        v = cls.default(name)
        if v is None:
            unset = True
        else:
            values.setdefault(_shown(v), []).append(kind)
    if len(values) == 1 and not unset:
        return next(iter(values))
    return "; ".join(f"{', '.join(kinds)} {text}" for text, kinds in values.items())


def _shown(v) -> str:
    """A default as help shows it: on/off for a switch, a number without trailing zeros."""
    if isinstance(v, bool):
        return "on" if v else "off"
    return f"{v:g}" if isinstance(v, float) else str(v)


def _option(name: str, f, owners):
    """The typer parameter of one settings field: default None (= not given), help with its default."""
    from audiokit.training.settings import RunSettings, group_of, owner_of

    typ = _TYPES[str(f.type).split("|")[0].strip()]
    flag = _flag(name, f)
    decl = f"{flag}/--no-{flag[2:]}" if typ is bool else flag
    kinds = [k for k, _ in owners]
    if owners and name not in RunSettings.__dataclass_fields__:
        label = owner_of(owners[0][1], name).LABEL
        scope = label if len(kinds) > 1 and label.startswith("the ") else ", ".join(kinds)
        panel = group_of(owners[0][1], name) if scope == label or len(kinds) == 1 else scope  # "svm, logreg"
    else:
        scope, panel = "", group_of(RunSettings, name)
    help_ = f.metadata["help"]
    if "choices" in f.metadata:
        help_ += " One of: " + ", ".join(map(str, f.metadata["choices"])) + "."
    default = "" if f.metadata.get("shared") else _default_text(name, f, owners or [("", RunSettings)])
    if panel == scope or (scope == "the deep kinds" and panel.startswith("Deep:")):
        scope = ""  # the section title says it
    help_ = (f"{scope.removeprefix('the ')}: " if scope else "") + help_ + (f" Default: {default}." if default else "")
    complete = None
    if name == "device":
        from audiokit.cli._common import complete_device as complete
    elif "choices" in f.metadata:
        complete = _completer(tuple(map(str, f.metadata["choices"])))
    opt = typer.Option(decl, help=help_, rich_help_panel=panel, show_default=False,
                       metavar=f.metadata.get("metavar"), autocompletion=complete)
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None,
                             annotation=Annotated[Optional[typ], opt])


def _completer(choices: tuple):
    def complete() -> list[str]:
        return list(choices)
    return complete


def _kinds_help() -> str:
    from audiokit.models import registry

    from audiokit import recipes

    families: dict = {}
    for k in registry():
        families.setdefault(k.family, []).append(f"{k.name} ({k.help})")
    kinds = " ".join(f"{family}: {'; '.join(ks)}." for family, ks in families.items())
    return (f"The model kind. {kinds} Default: specresnet for log-mel/MFCC frames, logreg for vectors "
            "(mfcc-stats), knn for f0-range."), \
        "Defaults from a recipe (flags given still apply): a TOML file, a model's report.json (its run's " \
        "settings), or one of: " + "; ".join(f"{n} ({recipes.describe(n)})" for n in recipes.names()) + "."


def _signature() -> inspect.Signature:
    kinds_help, recipe_help = _kinds_help()
    P = inspect.Parameter
    head = [
        P("store", P.POSITIONAL_OR_KEYWORD, annotation=Annotated[str, typer.Argument(
            help="Feature store to train on; '-' reads it from stdin.", show_default=False, metavar="STORE")]),
        P("output", P.KEYWORD_ONLY, annotation=Annotated[str, typer.Option(
            "--output", "-o", help="Model file to write; '-' writes it to stdout.", metavar="MODEL")]),
        P("model", P.KEYWORD_ONLY, default=None, annotation=Annotated[Optional[str], typer.Option(
            "--model", "-m", help=kinds_help, show_default=False, autocompletion=complete_model_kinds,
            metavar="KIND")]),
        P("recipe", P.KEYWORD_ONLY, default=None, annotation=Annotated[Optional[str], typer.Option(
            "--recipe", help=recipe_help, show_default=False, metavar="NAME|FILE")]),
    ]
    settings = [_option(name, f, owners) for name, (f, owners) in _fields().items()]
    tail = [P("json_out", P.KEYWORD_ONLY, default=False, annotation=Json),
            P("threads", P.KEYWORD_ONLY, default=None, annotation=Threads),
            P("quiet", P.KEYWORD_ONLY, default=False, annotation=Quiet),
            P("verbose", P.KEYWORD_ONLY, default=False, annotation=Verbose)]
    return inspect.Signature(head + settings + tail)


def register(app: typer.Typer) -> None:
    app.command("train", epilog=EPILOG, no_args_is_help=True)(train)


def _train(store: str, output: str, model=None, recipe=None, json_out=False, threads=None, quiet=False,
           verbose=False, **flags) -> None:
    """Train a classifier on a feature store and write it as a model file.

    KNN, SVM (RBF), MLP and logistic regression (scikit-learn) standardise features inside
    the model and train on any store whose items flatten to a vector (mfcc-stats, f0-range,
    or flattened logmel). The model file carries the store's feature settings, so eval and
    predict need no feature flags.
    """
    from audiokit import recipes
    from audiokit.errors import UsageError
    from audiokit.models import get
    from audiokit.training.run import TrainingInterrupted
    from audiokit.training.run import train as run_train
    from audiokit.training.settings import resolve

    refuse_binary_to_terminal(output, "model", "-o - | audiokit info -")
    given = {k: v for k, v in flags.items() if v is not None}
    if "device" in given:
        given["device"] = check_device(given["device"])
    check_output_path(output)
    check_output_path(given.get("plot"), "--plot")
    if json_out and output == "-":
        raise UsageError("--json and -o - would both write to stdout; write the model to a file")
    rec = recipes.load(recipe) if recipe else recipes.Recipe("")
    fields = _fields()
    for key in rec.values:
        if key not in fields:
            raise UsageError(f"unknown recipe key {key!r}", path=rec.source)
    chosen = {**rec.values, **given}
    if "val_split" in chosen and "folds" in chosen and chosen.get("folds") is not None:
        if "val_split" in given and "folds" in given or rec.values.keys() >= {"val_split", "folds"}:
            raise UsageError("give either --val-split or --folds, not both")
        chosen.pop("val_split" if "folds" in given else "folds")  # the flag given wins over the recipe

    stdin_copy, why = None, ""
    model = model or rec.model
    if model is None:  # the kind that won for this store's features, or the one kind whose settings are given
        from audiokit.io import spool_stdin
        from audiokit.training.run import default_kind_for

        stdin_copy = spool_stdin() if store == "-" else None
        model, why = default_kind_for(store, stdin_copy)
        if stdin_copy is not None:
            stdin_copy.seek(0)
        own = [{k for k, _ in fields[n][1]} for n in given if fields[n][1] and n not in _run_names()]
        only = set.intersection(*own) if own else set()
        if len(only) == 1 and model not in only:
            model = only.pop()
            why = f"{model} settings given"
    model = model.strip().lower()
    spec = get(model)
    check_device_for_kind(chosen.get("device", "auto"), model)
    for name, source in [(n, rec.source) for n in rec.values] + [(n, None) for n in given]:
        if name in fields and name not in spec.settings.__dataclass_fields__:
            owners = fields[name][1]
            from audiokit.training.settings import owner_of

            label = owner_of(owners[0][1], name).LABEL
            scope = label if label.startswith("the ") else ", ".join(k for k, _ in owners)
            where = f"recipe key {name!r}" if source else _flag(name, fields[name][0])
            raise UsageError(f"{where}: only for {scope} ({', '.join(k for k, _ in owners)}), not {model}",
                             path=source)
    recipe_values = {k: v for k, v in rec.values.items() if k in chosen}
    settings = resolve(spec.settings, [(recipe_values, rec.source or None),
                                       ({k: v for k, v in given.items() if k in chosen}, None)],
                       given=[k for k in given if k in chosen])  # a recipe's values are defaults

    logged = _LoggedLines()
    log.addHandler(logged)
    try:
        report = run_train(store, output, settings, kind=model, stdin=stdin_copy, kind_reason=why,
                           record={"argv": sys.argv[1:]}, summarize=summary_lines, on_setup=_log_header)
    except TrainingInterrupted as exc:
        if exc.main and exc.checkpoint:
            log.warning(f"train: {exc}; checkpoint {exc.checkpoint}; continue with: audiokit train {store} -o {output} "
                        f"--model {model} --resume {exc.checkpoint}")
        elif exc.main:
            log.warning("train: stopped; no checkpoint written (the model goes to stdout: give --checkpoint PATH "
                        "to be able to resume)")
        raise KeyboardInterrupt from None
    finally:
        log.removeHandler(logged)
    if report.get("rank", 0):  # torchrun: only rank 0 prints
        return
    if json_out:
        write_json(report)
        return
    lines = list(report["summary"])
    if output == "-":  # stdout carries the model: the summary goes to the log
        for line in lines:
            log.info(line)
    else:
        if _same_stream():  # lines the trainer already logged (a deep run's header) are there already
            lines = [line for line in lines if f"train: {line}" not in logged.lines]
        sys.stdout.write("".join(f"{line}\n" for line in lines))
        sys.stdout.flush()


def _run_names() -> set:
    from audiokit.training.settings import RunSettings

    return set(RunSettings.__dataclass_fields__)


train = guarded(_train)
train.__signature__ = _signature()


def _log_header(report: dict) -> None:
    """A deep run's first lines on stderr, before its epochs."""
    if report.get("family") == "PyTorch":
        for line in header_lines(report):
            log.info(f"train: {line}")


def header_lines(report: dict) -> list[str]:
    """What a run trains on and how: the kind (and why it was chosen), items, features, the setup."""
    from audiokit.features import FeatureConfig

    why = f" ({report['kind_reason']}; --model chooses another)" if report.get("kind_reason") else ""
    shape = report["item_shape"]
    items = f"items {shape[0]}×{shape[1]}" if report.get("family") == "PyTorch" else f"{report['feature_dim']} features"
    groups = report["items"].get("train_groups")
    lines = [f"{report['model']}{why} on {report['items']['train']} items, {len(report['classes'])} classes, {items} "
             f"[{FeatureConfig.from_dict(report['feature_config']).describe()}]"
             + (f", {groups} groups" if groups is not None else "")]
    lines += report.get("setup", [])
    params = report.get("params") or {}
    if "stem" in params:  # the ResNets: how the items become images
        size = params["input_size"]
        shown = "native" if size is None else "×".join(map(str, size["resize"])) + (
            f" cropped to {'×'.join(map(str, size['crop']))}" if size.get("crop") else "")
        lines.append(f"stem {params['stem']}, input {shape[0]}×{shape[1]} → {shown} (--input-size "
                     f"{report['settings']['input_size']}), pretrained {params['pretrained']}")
    return lines


def summary_lines(report: dict) -> list[str]:
    """The human summary of a run, from its report."""
    from audiokit.training import report as rep

    lines = header_lines(report)
    if "k_sweep" in report:
        ks = report["k_sweep"]
        lines += [f"k sweep ({ks['folds']}-fold{' group' if ks['grouped'] else ''} CV accuracy):", "    k  accuracy"]
        for row in ks["table"]:
            mark = "  ← chosen" if row["k"] == ks["chosen_k"] else ""
            lines.append(f"  {row['k']:3d}  {100 * row['accuracy']:5.1f} % ± {100 * row['std']:.1f} %{mark}")
        lines.append(f"chosen k = {ks['chosen_k']}")
    refit = report.get("refit")
    deep = report.get("family") == "PyTorch"
    if "cv" in report:
        cv = report["cv"]
        lines += rep.cv_lines(cv)
        if "k_sweep" in report:
            lines.append("  (k was chosen on these same folds, so this estimate is optimistic; "
                         "--test-split gives an unbiased one)")
        lines.append(f"  protocol: fold 1 {cv['protocols'][0]}")  # the other folds alike
        if refit and refit.get("epochs"):
            lines.append(f"refit on all {refit['items']} training items for {refit['epochs']} epochs (median kept "
                         "epoch of the folds): the saved model")
        elif refit:
            lines.append(f"refit on all {refit['items']} training items after cross-validation (--no-refit keeps "
                         "the fold models as an ensemble)")
        else:
            lines.append(f"the saved model: the {report['ensemble']['members']} fold models as an ensemble "
                         "(probabilities averaged; --refit trains one model on all items instead)")
    elif "validation" in report:
        val = report["validation"]
        line = (f"{val['protocol']['text']}: accuracy {100 * val['accuracy']:.1f} %, macro-F1 "
                f"{100 * val['macro_f1']:.1f} %")
        if deep:
            line += (f" at epoch {val['best_epoch']} of {val['epochs_run']}"
                     + (" (early stop)" if val["stopped_early"] else ""))
        lines.append(line)
        groups = report["items"].get("train_groups")
        if refit and refit.get("epochs"):
            lines.append(f"refit on all {refit['items']} training items"
                         + (f" of {groups} groups" if groups is not None else "")
                         + f" for {refit['epochs']} epochs: the saved model (--no-refit keeps the validated one)")
        elif refit:
            lines.append(f"refit on all {refit['items']} training items after validation (--no-refit keeps the "
                         "validated model)")
        elif deep:
            lines.append(f"the saved model is the validated one, trained on {val['train']} items")
    else:
        epochs = f" for {report['history']['epochs_run']} epochs" if deep else ""
        groups = report["items"].get("train_groups")
        lines.append(f"no validation split: trained on all {report['items']['train']} items"
                     + (f" of {groups} groups" if groups is not None else "") + epochs
                     + " (--val-split 0.2 scores held-out groups first, then trains again on all; eval scores a "
                       "held-out store)")
    ens = report.get("ensemble")
    if ens and ens.get("of") == "seeds":
        lines.append(f"the saved model: {ens['members']} networks, seeds {report['seed']}.."
                     f"{report['seed'] + ens['members'] - 1}, their probabilities averaged (--ensemble)")
    if "test" in report:
        ts = report["test"]
        lines.append(f"{ts['protocol']['text']} (--test-split {ts['spec']}): accuracy {100 * ts['accuracy']:.1f} %, "
                     f"macro-F1 {100 * ts['macro_f1']:.1f} %")
    where = "stdout" if report["output"] == "-" else report["output"]
    extra = ""
    if report.get("report"):
        hist = (report.get("history") or {}).get("file")
        extra = f" (report: {report['report']}" + (f", history: {hist}" if hist else "") + ")"
    from audiokit import elapsed

    lines.append(f"model → {where}{extra} in {elapsed():.1f} s")
    return lines


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
