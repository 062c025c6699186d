"""``audiokit predict``: classify audio files (or a store's items) with a trained model."""


import contextlib
import sys
import time
from typing import Annotated, List, Optional

import typer

from audiokit import elapsed
from audiokit.cli._common import (Device, Quiet, SkipErrors, Threads, Verbose, Workers, check_device,
                                  check_device_for_kind,
                                  check_output_path, choice, console_for, default_workers, guarded, log, progress)

EPILOG = """\
Examples:

  audiokit predict model.h5 clips/ > predictions.csv          # directories: recursive, sorted
  audiokit predict model.h5 a.wav b.flac --top-k 3 --format table
  find clips -name '*.ogg' | audiokit predict model.h5 - --format jsonl
  audiokit predict model.h5 store.h5 -o predictions.csv       # the items of a feature store
  audiokit predict model.h5 big/ --workers 8 --skip-errors -o out.csv

Audio is featurized with the model's own feature settings, so no feature flags are needed.
CSV columns: path,label,confidence[,label_2,confidence_2,...],error (see
docs/model-format.md); a file that cannot be read gets a row with its error and a message
on stderr, the others are still predicted. --top-k larger than the model's classes is
lowered to their number, with a warning. Long files for fixed-duration models are
featurized whole and cut into windows of the training duration (50 % overlap, at most 64)
whose log-probabilities are averaged; a store of another duration is windowed (or padded)
the same way. Progress goes to stderr.

Exit status: 0 done; 1 some input could not be used (0 with --skip-errors, which leaves
its row out), no audio file was found in the inputs, the model/store cannot be used, or
the output cannot be written (its directory is missing); 2 bad flags (also --device
cuda with a scikit-learn model). A failure before the first row leaves the output empty.
"""


FORMATS = ("csv", "jsonl", "table")


def register(app: typer.Typer) -> None:
    app.command("predict", epilog=EPILOG, no_args_is_help=True)(predict)


@guarded
def predict(
    model: Annotated[str, typer.Argument(help="Model file.", show_default=False, metavar="MODEL")],
    inputs: Annotated[List[str], typer.Argument(
        help="Audio files, directories (recursive, sorted), '-' for newline-separated paths (or a store) "
             "on stdin, or one feature store.", show_default=False, metavar="INPUT")],
    output: Annotated[Optional[str], typer.Option(
        "--output", "-o", help="Write to this file (atomically) instead of stdout.", metavar="FILE")] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv | jsonl | table.",
                                     autocompletion=lambda: list(FORMATS), metavar="FORMAT")] = "csv",
    top_k: Annotated[int, typer.Option("--top-k", min=1, metavar="K",
                                       help="Report the k most probable classes (at most the model's "
                                            "number of classes).")] = 1,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1,
                                            help="Items (windows) per model call.")] = 256,
    workers: Workers = None,
    device: Device = "auto",
    skip_errors: SkipErrors = False,
    threads: Threads = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Predict the class of audio files, or of every item of a feature store."""
    from audiokit import models
    from audiokit.errors import UsageError
    from audiokit.predict import Writer, predict_files, predict_store, read_stdin_input, sniff_hdf5
    from audiokit.io import atomic_output
    from audiokit.store import open_store

    fmt = choice(fmt, "--format", FORMATS)
    device = check_device(device)
    if model == "-":
        raise UsageError("MODEL must be a file (stdin is for the inputs)")
    check_output_path(output)
    clf = models.load(model, device=device)
    check_device_for_kind(device, clf.kind)
    n_classes = len(clf.class_names)
    if top_k > n_classes:
        log.warning(f"predict: warning: --top-k {top_k} is more than the model's {n_classes} classes; "
                    f"writing all {n_classes}")
        top_k = n_classes

    # -- inputs: a store, or audio paths ------------------------------------------------------------
    store = None
    paths: list[str] = []
    if inputs == ["-"]:
        what, value = read_stdin_input()
        if what == "store":
            store = open_store("-", stdin=value)
        else:
            paths = value
    elif len(inputs) == 1 and sniff_hdf5(inputs[0]):
        store = open_store(inputs[0])
    else:
        from audiokit.audio import collect_paths

        stores = [p for p in inputs if p != "-" and sniff_hdf5(p)]
        if stores:
            raise UsageError("give one store alone, not mixed with audio inputs", path=stores[0])
        paths = collect_paths(inputs)
    if store is None and not paths:
        from audiokit.audio import AUDIO_EXTENSIONS
        from audiokit.errors import AudiokitError

        raise AudiokitError("no audio files found (directories are searched for "
                            + ", ".join(sorted(AUDIO_EXTENSIONS)) + ")", path=" ".join(inputs))

    if store is not None:
        from audiokit.predict import store_fit

        fit = store_fit(clf, store)
        if fit.summary():
            log.info(f"predict: {fit.summary()}")
        rows = predict_store(clf, store, batch_size=batch_size)
        total, unit = len(store), "items"
    else:
        if clf.feature_config.kind == "f0-range":  # the command for one singer's pair of files
            raise UsageError("this model classifies a singer's lowest and highest note, not single files: use "
                             "'audiokit pitch LOW HIGH --model MODEL', or predict on an f0-range store", path=model)
        rows = predict_files(clf, paths, workers=workers or default_workers(), batch_size=batch_size)
        total, unit = len(paths), "files"

    # -- output ---------------------------------------------------------------------------------------
    to_file = output not in (None, "-")
    errors = 0
    t0 = time.perf_counter()
    try:
        with atomic_output(output) if to_file else contextlib.nullcontext() as target:
            # The first row before the header: what fails at the start (the model does not fit the
            # inputs) fails with nothing written.
            rows = progress(rows, total=total, desc="predict", unit=unit, quiet=quiet)
            first = next(rows, None)
            stream = open(target.file, "w", encoding="utf-8", newline="") if to_file else sys.stdout
            try:
                writer = Writer(stream, fmt, clf.class_names, top_k=top_k, with_truth=store is not None,
                                console=console_for(stream) if fmt == "table" else None)
                for row in _chain(first, rows):
                    if row.error is not None:
                        errors += 1
                        if skip_errors:
                            log.warning(f"skipped {row.path}: {row.error}")
                            continue
                        log.error(f"error: {row.path}: {row.error}")
                    writer.write(row)
                writer.close()
            finally:
                if to_file:
                    stream.close()
    finally:
        if store is not None:
            store.close()
    dt = time.perf_counter() - t0
    wall = elapsed()
    done = total - errors
    log.info(f"predict: {done} of {total} {unit} in {wall:.1f} s ({done / wall if wall > 0 else 0:.0f} {unit}/s; "
             f"{wall - dt:.1f} s of it to start and load the model)"
             + (f", {errors} could not be used" if errors else "")
             + (f" → {output}" if to_file else ""))
    if errors and not skip_errors:
        raise typer.Exit(1)


def _chain(first, rest):
    """``first`` (None: nothing) and then the rows of ``rest``."""
    if first is not None:
        yield first
        yield from rest
