"""``audiokit pitch``: f0 and note of one file; f0 range and voice type of a low/high pair."""


import math
import sys
from typing import Annotated, List, Optional

import typer

from audiokit.cli._common import (Threads, Json, Quiet, Verbose, choice, complete_pitch_methods, guarded, log,
                                  stdout_console, write_json)

EPILOG = """\
Examples:

  audiokit pitch note.wav                          # f0, note name and cents
  audiokit pitch low.wav high.wav                  # range and voice type (soprano ... bass)
  audiokit pitch takes/*.wav --csv > f0s.csv       # one row per file (no voice type)
  audiokit pitch low.wav high.wav --voice male     # only tenor, baritone, bass
  audiokit pitch low.wav high.wav --json | jq .pair.voice_type
  audiokit pitch note.wav --frames > track.tsv     # time, f0, confidence per 10 ms hop
  audiokit pitch low.wav high.wav --method hps     # the KNN paper's Harmonic Product Spectrum
  audiokit pitch low.wav high.wav --model voices-knn.h5
      # a KNN from: audiokit featurize singers/ --features f0-range -o v.h5
      #             audiokit train v.h5 --model knn --k 1..40 -o voices-knn.h5

Record the lowest and the highest note you can sing on the vowel "a", a few seconds
each. Without --model the voice type comes from the embedded reference model: the 8
nearest of 150 reference singers spread around published ranges (docs/pitch.md).

A pitch the band does not hold (a 2640 Hz tone with --fmax 2000, a piano's A0 with
--fmin 50) comes out as a harmonic or sub-harmonic inside it: a warning names --fmin or
--fmax when the spectrum says so (docs/pitch.md), as it does for a pair far outside every
voice type's range.

Exit status: 0 done (a silent or noisy file prints "unvoiced" and still exits 0, except in
a low/high pair); 1 a file is missing, unreadable, empty, shorter than one analysis frame,
or (in a pair) unvoiced, or the model is not an f0-range model; 2 bad flags (--harmonics
beyond the band, --voice/--model without exactly two files).
"""


def _complete_voices() -> list[str]:
    return ["female", "male"]


#: How the band's warnings name the parameters here: as flags.
FLAGS = {"fmin": "--fmin", "fmax": "--fmax"}


def register(app: typer.Typer) -> None:
    app.command("pitch", epilog=EPILOG, no_args_is_help=True)(pitch)


@guarded
def pitch(
    files: Annotated[List[str], typer.Argument(
        help="Audio files: one row each. Two files are your lowest and your highest note (either order): "
             "their range and voice type too. '-' reads one file's audio from stdin.", show_default=False,
        metavar="FILE")],
    method: Annotated[Optional[str], typer.Option(
        "--method", "-m", help="f0 estimator: yin (default; most accurate in bench/pitch.py) | hps "
                               "(the KNN paper's Harmonic Product Spectrum). With --model: the model's.",
        show_default=False, autocompletion=complete_pitch_methods, metavar="METHOD")] = None,
    fmin: Annotated[Optional[float], typer.Option(
        "--fmin", help="Lowest f0 searched, Hz [default: 50; with --model: the model's].", show_default=False,
        metavar="HZ")] = None,
    fmax: Annotated[Optional[float], typer.Option(
        "--fmax", help="Highest f0 searched, Hz [default: 2000; with --model: the model's].",
        show_default=False, metavar="HZ")] = None,
    harmonics: Annotated[Optional[int], typer.Option(
        "--harmonics", min=1, help="hps: spectra multiplied [default: 5; at most 24000 / --fmax, so that "
                                   "every harmonic lies below 24 kHz].", show_default=False, metavar="N")] = None,
    frames: Annotated[bool, typer.Option(
        "--frames", help="Print a tab-separated track instead: time, f0 (nan when unvoiced), confidence, note "
                         "(a leading file column for several files; no voice type). With --json: frames inside "
                         "each file.")] = False,
    voice: Annotated[Optional[str], typer.Option(
        "--voice", help="female | male: choose among soprano/mezzo-soprano/alto or tenor/baritone/bass only.",
        show_default=False, autocompletion=_complete_voices, metavar="VOICE")] = None,
    model: Annotated[Optional[str], typer.Option(
        "--model", help="A KNN (or other classic model) trained by 'audiokit train' on an f0-range store, "
                        "instead of the embedded reference model.", show_default=False, metavar="MODEL")] = None,
    flats: Annotated[bool, typer.Option("--flats", help="Spell notes with flats (Db5) instead of sharps (C#5).")] = False,
    csv_out: Annotated[bool, typer.Option(
        "--csv", help="Write CSV to stdout instead of a table: one row per file (columns in docs/pitch.md).")] = False,
    json_out: Json = False,
    threads: Threads = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Estimate the fundamental frequency (f0) of recordings, and the range and voice type
    of a pair (your lowest and highest note).

    Each file: its f0 in Hz from the voiced part (silence and noise are "unvoiced"), the
    nearest note (A4 = 440 Hz) and the deviation in cents, one row per file. Exactly two
    files: also the low and high f0 and notes, the range in semitones, and the voice type
    (soprano, mezzo-soprano, alto, tenor, baritone, bass) with the votes and distances of its
    k nearest neighbours. Files given high first are swapped, with a warning. Stereo is
    folded to mono by channel mean.
    """
    from audiokit.errors import UsageError

    if files.count("-") > 1:
        raise UsageError("only one of the files can be '-' (stdin)")
    voice = choice(voice, "--voice", ("female", "male"))
    if (voice or model) and len(files) != 2:
        raise UsageError("--voice and --model classify a pair: give exactly two files (lowest and highest note)")
    if csv_out and json_out:
        raise UsageError("give --csv or --json, not both")
    if csv_out and frames:
        raise UsageError("--frames writes its own tab-separated track; leave --csv out")

    from audiokit.pitch import DEFAULT_METHOD, METHODS
    from audiokit.pitch import report

    method = choice(method, "--method", METHODS)
    clf = None
    if model is not None:
        clf, settings = _load_voice_model(model, method=method, fmin=fmin, fmax=fmax, harmonics=harmonics)
        method, fmin, fmax, harmonics = settings
    method = method or DEFAULT_METHOD
    fmin = 50.0 if fmin is None else fmin
    fmax = 2000.0 if fmax is None else fmax
    harmonics = 5 if harmonics is None else harmonics
    _check_band(fmin, fmax)
    if method == "hps" and clf is None:  # a model's own settings were checked when it was trained
        _check_harmonics(harmonics, fmax)

    from audiokit.errors import AudiokitError

    analyses = []
    with _stdin_as_file(files) as paths:
        for p, name in zip(paths, files):
            try:
                a = report.analyze_file(p, method=method, fmin=fmin, fmax=fmax, harmonics=harmonics, frames=frames,
                                        names=FLAGS)
            except AudiokitError as exc:
                if exc.path == p:
                    exc.path = name  # '-', not the temporary file stdin went to
                raise
            a.path = name
            analyses.append(a)
    for a in analyses:  # before the results: a reader sees why a number is doubtful first
        for w in a.warnings:
            log.warning(f"pitch: warning: {a.path}: {w}")
    if frames and not json_out:  # the tracks only, in the order given: nothing to classify
        sys.stdout.write(report.frames_tsv(analyses, flats=flats))
        sys.stdout.flush()
        return
    pair = None
    roles = ["single"] * len(analyses)
    if len(analyses) == 2:
        low, high, swapped = report.order_pair(*analyses)
        if swapped:
            log.warning(f"pitch: warning: the first file, {files[0]} ({high.f0:.1f} Hz), is higher than the second, "
                        f"{files[1]} ({low.f0:.1f} Hz); swapped them (low = {files[1]})")
        roles = ["high", "low"] if swapped else ["low", "high"]
        vr = _classify(low.f0, high.f0, voice=voice, clf=clf, model_path=model)
        pair = report.pair_dict(low, high, vr, swapped=swapped, voice_filter=voice or "any", flats=flats)

    doc = report.document([report.file_dict(a, role=r, flats=flats, frames=frames) for a, r in zip(analyses, roles)],
                          pair, method=method, fmin=fmin, fmax=fmax, harmonics=harmonics)
    for w in (pair or {}).get("warnings", []):
        log.warning(f"pitch: warning: {w}")
    if json_out:
        write_json(doc)
    elif csv_out:
        sys.stdout.write(report.csv_text(doc))
        sys.stdout.flush()
    else:
        report.render(doc, stdout_console())
    for a in analyses:
        if a.f0 is None:
            log.info(f"pitch: {a.path}: no pitch found (unvoiced: silent, noise, or outside "
                     f"{fmin:g}-{fmax:g} Hz)")


def _load_voice_model(path: str, *, method, fmin, fmax, harmonics):
    """A classifier trained on f0-range features, and the f0 settings its features used.

    Flags that contradict the model's feature configuration are refused: the model's
    neighbours were measured that way, and f0s measured differently are not comparable.
    """
    from audiokit import models
    from audiokit.errors import ModelFileError, UsageError

    clf = models.load(path, device="cpu")
    cfg = clf.feature_config
    if cfg.kind != "f0-range":
        raise ModelFileError(f"a {clf.kind} model on {cfg.kind} features; pitch --model needs a model trained on "
                             "an f0-range store (featurize --features f0-range, then train --model knn)", path=path)
    given = {"--method": (method, cfg.f0_method), "--fmin": (fmin, cfg.f0_fmin), "--fmax": (fmax, cfg.f0_fmax),
             "--harmonics": (harmonics, cfg.harmonics)}
    for flag, (mine, theirs) in given.items():
        if mine is not None and mine != theirs:
            raise UsageError(f"{flag} {mine} differs from the model's f0 setting ({theirs}); "
                             f"leave {flag} out to use the model's", path=path)
    return clf, (cfg.f0_method, float(cfg.f0_fmin), float(cfg.f0_fmax), int(cfg.harmonics))


def _classify(f0_low: float, f0_high: float, *, voice, clf, model_path):
    from audiokit.pitch.voice import classify_trained, classify_voice

    if clf is None:
        return classify_voice(f0_low, f0_high, voice=voice)
    import numpy as np

    # The store's f0-range item is (f0 of the low file, f0 of the high file), in Hz.
    return classify_trained(clf, np.array([f0_low, f0_high], dtype=np.float32), voice=voice, name=model_path)


class _stdin_as_file:
    """Context manager: the paths to read, with '-' replaced by a temporary file of stdin's bytes."""

    def __init__(self, files: list[str]):
        self.files = files
        self.tmp: str | None = None

    def __enter__(self) -> list[str]:
        if "-" not in self.files:
            return list(self.files)
        import os
        import tempfile

        from audiokit.errors import UsageError

        if sys.stdin.isatty():
            raise UsageError("'-' reads audio from stdin, but stdin is a terminal; pipe a file in")
        data = sys.stdin.buffer.read()
        fd, self.tmp = tempfile.mkstemp(prefix="audiokit-pitch-", suffix=".audio")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return [self.tmp if p == "-" else p for p in self.files]

    def __exit__(self, *exc) -> None:
        if self.tmp:
            import os

            try:
                os.unlink(self.tmp)
            except OSError:
                pass


def _check_band(fmin: float, fmax: float) -> None:
    """Refuse a bad band before any file is read (exit 2)."""
    from audiokit.errors import UsageError

    if not (math.isfinite(fmin) and math.isfinite(fmax)) or fmin <= 0:
        raise UsageError(f"--fmin must be a positive number of Hz (got {fmin:g})")
    if fmin >= fmax:
        raise UsageError(f"--fmin must be below --fmax (got {fmin:g} Hz >= {fmax:g} Hz)")


def _check_harmonics(harmonics: int, fmax: float) -> None:
    """Refuse (exit 2) more HPS harmonics than the band allows: the ``harmonics``-th harmonic of
    ``fmax`` must lie below 24 kHz. Beyond that every f0 near the top of the band has missing
    factors in its product, and the product's peak slides to low frequencies (``--harmonics 100``
    put A4 at 53 Hz)."""
    from audiokit.errors import UsageError
    from audiokit.pitch.report import HPS_TOP_HZ

    most = int(HPS_TOP_HZ // fmax)
    if harmonics > most:
        raise UsageError(f"--harmonics {harmonics} is more than the band allows: with --fmax {fmax:g} Hz at most "
                         f"{most} (the {harmonics}th harmonic of {fmax:g} Hz is above {HPS_TOP_HZ / 1000:g} kHz); "
                         f"lower --harmonics or --fmax")
