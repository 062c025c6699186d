"""``audiokit eval``: score a model on a labelled store."""


from typing import Annotated, Optional

import typer

from audiokit.cli._common import Device, Json, Quiet, Verbose, guarded, log, stdout_console, write_json

EPILOG = """\
Examples:

  audiokit eval model.h5 test.h5
  audiokit eval model.h5 test.h5 --plot cm.png --top-k 3
  audiokit eval model.h5 test.h5 --json | jq .macro.f1
  audiokit featurize test/ -f mfcc-stats -o - | audiokit eval model.h5 -

Prints accuracy, top-k accuracy, macro and weighted precision/recall/F1, the per-class
report and the confusion matrix (rows: true class, columns: predicted). Every figure is
scikit-learn's (sklearn.metrics). Classes in the store that the model does not know are
listed, kept as rows, and count as errors; the JSON schema is in docs/model-format.md.

Exit status: 0 done; 1 the model or store cannot be used (missing, corrupt, not
matching the model's feature settings, no labels); 2 bad flags.
"""


def register(app: typer.Typer) -> None:
    app.command("eval", epilog=EPILOG, no_args_is_help=True)(eval_cmd)


@guarded
def eval_cmd(
    model: Annotated[str, typer.Argument(help="Model file ('-': from stdin).", show_default=False)],
    store: Annotated[str, typer.Argument(help="Labelled feature store of the model's feature settings "
                                              "('-': from stdin).", show_default=False)],
    plot: Annotated[Optional[str], typer.Option(
        "--plot", help="Write the confusion matrix as a labelled PNG heatmap.")] = None,
    top_k: Annotated[int, typer.Option("--top-k", min=1, help="Also report top-k accuracy for this k.")] = 3,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Items per model call.")] = 256,
    device: Device = "auto",
    json_out: Json = False,
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
    clf = models.load(model, device=device)
    with open_store(store) as s:
        report = evaluate(clf, s, top_k=top_k, batch_size=batch_size)
    report = {"model": "<stdin>" if model == "-" else model, "kind": clf.kind, **report}
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
