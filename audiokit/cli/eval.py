"""``audiokit eval``: score a model on a labelled store."""


from typing import Annotated, Optional

import typer

from audiokit.cli._common import (Threads, Device, Json, Quiet, Verbose, check_device, check_device_for_kind,
                                  check_output_path, guarded, log, stdout_console, write_json)

EPILOG = """\
Examples:

  audiokit eval model.h5 test.h5
  audiokit eval model.h5 test.h5 --plot cm.png --top-k 3
  audiokit eval model.h5 test.h5 --json | jq .macro.f1
  audiokit featurize test/ -f mfcc-stats -o - | audiokit eval model.h5 -
  audiokit featurize test/ --like model.h5 -o - | audiokit eval model.h5 -

Prints accuracy, top-k accuracy, macro and weighted precision/recall/F1, the per-class
report and the confusion matrix (rows: true class, columns: predicted). Every figure is
defined as scikit-learn's sklearn.metrics defines it. Classes in the store that the model
does not know are listed, kept as rows, and count as errors; the JSON schema is in
docs/model-format.md.

The store needs the model's feature settings, except the duration of logmel/mfcc items
(e.g. both featurized with --duration auto, resolved to other lengths): longer items are
scored over windows of the model's duration (50 % overlap, probabilities combined as
predict combines a long file's windows), shorter ones are padded as featurize pads; the
report says so ("windowing"). Make a test store like the training one with
'audiokit featurize test/ --like train.h5 -o test.h5' (or --like model.h5).

Top-k accuracy is reported for 1 < k < the number of classes (top-k of all classes is
always 100 %): a --top-k beyond that is lowered to it, with a warning.

Exit status: 0 done; 1 the model or store cannot be used (missing, corrupt, other
feature settings than the model's, no labels), or the plot cannot be written (its
directory is missing); 2 bad flags (also --device cuda with a scikit-learn model).
"""


def register(app: typer.Typer) -> None:
    app.command("eval", epilog=EPILOG, no_args_is_help=True)(eval_cmd)


@guarded
def eval_cmd(
    model: Annotated[str, typer.Argument(help="Model file ('-': from stdin).", show_default=False, metavar="MODEL")],
    store: Annotated[str, typer.Argument(help="Labelled feature store of the model's feature settings "
                                              "(logmel/mfcc: any duration) ('-': from stdin).",
                                         show_default=False, metavar="STORE")],
    plot: Annotated[Optional[str], typer.Option(
        "--plot", help="Write the confusion matrix as a labelled PNG heatmap.", metavar="PNG")] = None,
    top_k: Annotated[Optional[int], typer.Option(
        "--top-k", min=1, metavar="K", show_default=False,
        help="Also report top-k accuracy for this k [default: 3; at most the number of classes - 1].")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Items per model call.")] = 256,
    device: Device = "auto",
    json_out: Json = False,
    threads: Threads = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Evaluate a trained model (any kind) on a labelled feature store."""
    from audiokit import models
    from audiokit.errors import UsageError
    from audiokit.evaluate import evaluate, plot_confusion, render
    from audiokit.store import open_store

    if model == "-" and store == "-":
        raise UsageError("MODEL and STORE cannot both come from stdin")
    device = check_device(device)
    check_output_path(plot, "--plot")
    clf = models.load(model, device=device)
    check_device_for_kind(device, clf.kind)
    n_classes = len(clf.class_names)
    if top_k is None:
        top_k = 3  # reported when the model has more than 3 classes
    elif top_k >= n_classes:
        most = max(1, n_classes - 1)
        log.warning(f"eval: warning: --top-k {top_k}: top-k accuracy over all of the model's {n_classes} classes is "
                    "always 100 %; " + (f"reporting top-{most}" if most > 1 else "not reported for 2 classes"))
        top_k = most
    with open_store(store) as s:
        report = evaluate(clf, s, top_k=top_k, batch_size=batch_size)
    report = {"model": "<stdin>" if model == "-" else model, "kind": clf.kind, **report}
    if report.get("windowing"):
        w = report["windowing"]
        log.info(f"eval: {w['items']} {w['summary']}")
    if report["unknown_classes"]:
        log.warning("eval: classes unknown to the model (counted as errors): "
                    + ", ".join(f"{c} ({n} items)" for c, n in report["unknown_classes"].items()))
    if plot:
        import os

        plot_confusion(plot, report, title=f"{os.path.basename(report['model'])} ({clf.kind}) on "
                                           f"{os.path.basename(report['store'])}: accuracy "
                                           f"{100 * report['accuracy']:.1f} %")
        report["plot"] = plot
    if json_out:
        write_json(report)
    else:
        render(report, stdout_console())
    from audiokit import elapsed

    log.info(f"eval: {report['items']} items in {elapsed():.1f} s")
