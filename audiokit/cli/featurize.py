"""``audiokit featurize``: audio files → an HDF5 feature store."""


import contextlib
import sys
from typing import Annotated, List, Optional

import typer

from audiokit.cli._common import (Quiet, SkipErrors, Verbose, Workers, complete_feature_kinds, complete_pitch_methods,
                                  default_workers, guarded, log, progress)

EPILOG = """\
Examples:

  audiokit featurize data/ -o store.h5                       # labels = parent directory names
  audiokit featurize data/ --features mfcc-stats -o mfcc.h5
  audiokit featurize fsdd/ --label-regex '^(\\d)_' --group-regex '^\\d_([a-z]+)_' -o digits.h5
  audiokit featurize ravdess/ --label-regex '^\\d+-\\d+-(\\d+)-' \\
      --label-map 01=neutral,03=happy,04=sad,05=angry,06=fearful,07=disgust \\
      --group-regex '-(\\d+)\\.wav$' -o emo.h5
  audiokit featurize --manifest list.csv -o store.h5          # path,label[,group][,fold]
  find data -name '*.wav' | audiokit featurize - -o store.h5
  audiokit featurize more/ -o store.h5 --append               # same settings, new files
  audiokit featurize singers/ --features f0-range -o voices.h5   # *low*/*high* pairs
  audiokit featurize data/ --shard 0/4 -o part0.h5               # shards are numbered from 0
  audiokit featurize --merge part*.h5 -o all.h5
  audiokit featurize data/ -o - | audiokit info -

Exit status: 0 done; 1 an input could not be used (nothing written; --skip-errors leaves
it out instead), the store could not be written, or --append/--merge met another
configuration; 2 bad flags. Ctrl-C leaves no file under the output name.
"""


def register(app: typer.Typer) -> None:
    app.command("featurize", epilog=EPILOG, no_args_is_help=True)(featurize)


@guarded
def featurize(
    output: Annotated[str, typer.Option("--output", "-o", help="The store to write; '-' writes it to stdout.")],
    inputs: Annotated[Optional[List[str]], typer.Argument(
        help="Audio files, directories (walked recursively, sorted; hidden files left out), or '-' for "
             "newline-separated paths on stdin. With --merge: stores to join. Not needed with --manifest.",
        show_default=False, metavar="INPUT...")] = None,
    features: Annotated[str, typer.Option("--features", "-f", help="logmel | mfcc | mfcc-stats | f0-range.",
                                                       autocompletion=complete_feature_kinds)] = "logmel",
    sr: Annotated[int, typer.Option("--sr", help="Sample rate the audio is resampled to (Hz).")] = 22050,
    n_fft: Annotated[int, typer.Option("--n-fft", help="FFT window length in samples.")] = 2048,
    hop_length: Annotated[int, typer.Option("--hop-length", help="Hop between frames in samples.")] = 512,
    n_mels: Annotated[int, typer.Option("--n-mels", help="Mel bands.")] = 128,
    fmin: Annotated[float, typer.Option("--fmin", help="Lowest mel frequency (Hz).")] = 0.0,
    fmax: Annotated[Optional[float], typer.Option("--fmax", help="Highest mel frequency (Hz; default sr/2).")] = None,
    n_mfcc: Annotated[int, typer.Option("--n-mfcc", help="MFCC coefficients (mfcc, mfcc-stats).")] = 20,
    duration: Annotated[Optional[str], typer.Option(
        "--duration", help="Fixed item length: seconds, or 'auto' (median file length). "
                           "Default: auto for logmel/mfcc, whole file for mfcc-stats.")] = None,
    pad_mode: Annotated[str, typer.Option("--pad-mode", help="Padding of short clips: constant (zeros) | edge.")] = "constant",
    crop: Annotated[str, typer.Option("--crop", help="Which part of a long clip to keep: center | start.")] = "center",
    normalize: Annotated[bool, typer.Option("--normalize/--no-normalize",
                                            help="Peak-normalise each clip (x / max|x|) first.")] = True,
    top_db: Annotated[float, typer.Option("--top-db", help="logmel: dynamic range kept below the peak (dB).")] = 80.0,
    label_source: Annotated[Optional[str], typer.Option(
        "--label-source", help="dir | regex | manifest | none (default: inferred from the other flags, else dir).")] = None,
    label_regex: Annotated[Optional[str], typer.Option(
        "--label-regex", help="Label = first capture group (or (?P<label>…)) of this regex on the file name.")] = None,
    label_map: Annotated[Optional[str], typer.Option(
        "--label-map", help="Rename captured labels: '01=neutral,03=happy' or a file of CODE=NAME lines.")] = None,
    group_regex: Annotated[Optional[str], typer.Option(
        "--group-regex", help="Group (speaker, actor) = first capture group of this regex on the file name.")] = None,
    manifest: Annotated[Optional[str], typer.Option(
        "--manifest", help="CSV of path,label[,group][,fold] (f0-range: low,high,label[,group]); "
                           "replaces INPUTS.")] = None,
    no_labels: Annotated[bool, typer.Option("--no-labels", help="Write an unlabelled store.")] = False,
    f0_method: Annotated[str, typer.Option("--f0-method", help="f0-range: pitch estimator (see 'audiokit pitch').",
                                               autocompletion=complete_pitch_methods)] = "hps",
    f0_fmin: Annotated[float, typer.Option("--f0-fmin", help="f0-range: lowest f0 searched (Hz).")] = 50.0,
    f0_fmax: Annotated[float, typer.Option("--f0-fmax", help="f0-range: highest f0 searched (Hz).")] = 2000.0,
    harmonics: Annotated[int, typer.Option("--harmonics", min=1, help="f0-range with hps: harmonics multiplied.")] = 5,
    shard: Annotated[Optional[str], typer.Option(
        "--shard", help="i/n: featurize only every n-th input starting at i (0-based), for one job of n.")] = None,
    append: Annotated[bool, typer.Option("--append", help="Add to an existing store of the same settings.")] = False,
    merge: Annotated[bool, typer.Option("--merge", help="INPUTS are stores (shards) of one configuration: join them.")] = False,
    workers: Workers = None,
    skip_errors: SkipErrors = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Turn audio into an HDF5 feature store (logmel, mfcc, mfcc-stats or f0-range).

    Labels come from the parent directory name, a regex on the file name, or a CSV
    manifest; groups (speakers) from a regex or the manifest. Results are identical for
    any --workers. The store is written atomically: an interrupted run leaves no file
    under the target name.
    """
    from audiokit import store as store_mod
    from audiokit.errors import AudiokitError, StoreError, UsageError

    inputs = list(inputs or [])
    if output == "-" and sys.stdout.isatty():
        raise UsageError("refusing to write a binary HDF5 store to a terminal; redirect or pipe it "
                         "(-o - | audiokit info -)")
    if append and output == "-":
        raise UsageError("--append needs a store file, not '-'")
    if merge:
        if append or manifest or shard:
            raise UsageError("--merge joins stores as they are; it takes no --append, --manifest or --shard")
        if not inputs:
            raise UsageError("--merge needs the stores to join, e.g. --merge part*.h5 -o all.h5")
        n = store_mod.merge(inputs, output)
        log.info(f"featurize: merged {len(inputs)} stores, {n} items → {'stdout' if output == '-' else output}")
        return
    if not inputs and not manifest:
        raise UsageError("give audio files, directories, '-' (paths on stdin) or --manifest FILE")

    from audiokit import audio, labels
    from audiokit.features import SEQUENCE_KINDS, FeatureConfig
    from audiokit.features.batch import auto_duration, featurize_items, parse_shard

    shard_spec = parse_shard(shard)
    source = label_source or ("none" if no_labels else "manifest" if manifest else "regex" if label_regex else "dir")
    if source not in labels.LABEL_SOURCES:
        raise UsageError(f"--label-source must be one of {', '.join(labels.LABEL_SOURCES)}")
    if source == "manifest" and not manifest:
        raise UsageError("--label-source manifest needs --manifest FILE")
    mapping = labels.parse_label_map(label_map)
    pairs = features == "f0-range"
    provenance = {"argv": sys.argv[1:], "label_source": source}

    # -- items: paths with labels and groups -------------------------------------------------
    bad: list[tuple[str, str]] = []
    if manifest:
        if inputs:
            log.warning("featurize: --manifest given; ignoring INPUTS")
        items = labels.read_manifest(manifest, pairs=pairs, label_map=mapping)
        all_paths = [it.path for it in items]
        items = _shard(items, shard_spec)
        if source == "none":
            for it in items:
                it.label = None
        if group_regex:
            items, bad = _regex_groups(labels, items, group_regex)
    else:
        paths = audio.collect_paths(inputs)
        if pairs:
            items, bad = labels.find_pairs(paths, source=source, label_map=mapping, label_regex=label_regex)
            all_paths = []  # pairs have no --duration
            items = _shard(items, shard_spec)  # pairs stay whole: shard the pairs, not the files
            bad = _shard(bad, shard_spec)
            if group_regex:
                items, more_bad = _regex_groups(labels, items, group_regex)
                bad += more_bad
        else:
            all_paths = paths  # --duration auto looks at every input, so all shards agree
            paths = _shard(paths, shard_spec)
            lrx = labels.compile_regex(label_regex, "--label-regex")
            grx = labels.compile_regex(group_regex, "--group-regex")
            items = []
            for p in paths:
                try:
                    items.append(labels.label_item(p, source=source, lrx=lrx, label_map=mapping, grx=grx))
                except UsageError:
                    raise
                except AudiokitError as exc:
                    bad.append((p, exc.reason))
    if not items and not bad:
        if shard_spec is not None:
            raise AudiokitError(f"shard {shard} is empty (fewer inputs than shards)", path=output)
        raise AudiokitError("no audio files found (directories are searched for "
                            + ", ".join(sorted(audio.AUDIO_EXTENSIONS)) + ")", path=" ".join(inputs) or "-")

    # -- configuration -------------------------------------------------------------------------
    dur: float | None
    if duration is None:
        dur_spec = "auto" if features in SEQUENCE_KINDS else None
    else:
        dur_spec = duration
    if append and output != "-" and dur_spec == "auto":
        import os

        if os.path.exists(output):
            with store_mod.open_store(output) as old:
                dur_spec = None if old.config.duration is None else str(old.config.duration)
    if dur_spec is None or features == "f0-range":
        dur = None
    elif dur_spec == "auto":
        dur = auto_duration(all_paths)  # over all inputs, before sharding, so every shard agrees
        log.debug(f"featurize: --duration auto → {dur:g} s (the median length; recorded in the store)")
    else:
        try:
            dur = float(dur_spec)
        except ValueError:
            raise UsageError(f"--duration must be seconds or 'auto', got {dur_spec!r}") from None
    cfg = FeatureConfig(kind=features, sr=sr, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, fmin=fmin,
                        fmax=fmax, n_mfcc=n_mfcc, duration=dur, pad_mode=pad_mode, crop=crop,
                        normalize=normalize, top_db=top_db, f0_method=f0_method, f0_fmin=f0_fmin,
                        f0_fmax=f0_fmax, harmonics=harmonics)
    if pairs:
        from audiokit.pitch import METHODS

        if f0_method not in METHODS:
            raise UsageError(f"--f0-method must be one of {', '.join(METHODS)}")

    if shard_spec is not None:
        provenance["shard"] = f"{shard_spec[0]}/{shard_spec[1]}"

    for p, reason in bad:
        if not skip_errors:
            raise AudiokitError(reason, path=p)
    n_workers = workers or default_workers()
    total = len(items) + len(bad)
    with store_mod.StoreWriter(output, cfg, append=append, provenance=provenance) as w:
        for p, reason in bad:
            log.warning(f"skipped {p}: {reason}")
            w.skip(p, reason)
        results = featurize_items(cfg, items, workers=n_workers)
        with contextlib.closing(results):  # an error or Ctrl-C ends the worker pool at once
            for r in progress(results, total=len(items), desc="featurize", quiet=quiet):
                if r.error is not None:
                    if not skip_errors:
                        raise AudiokitError(r.error, path=r.error_path)
                    log.warning(f"skipped {r.error_path}: {r.error}")
                    w.skip(r.error_path, r.error)
                    continue
                it = r.item
                try:
                    w.add(r.features, label=it.label, path=it.path, group=it.group, fold=it.fold,
                          duration=r.duration, path2=it.path2)
                except StoreError as exc:  # e.g. an input already in the store
                    if not skip_errors:
                        raise
                    log.warning(f"skipped {exc.path}: {exc.reason}")
                    w.skip(exc.path or it.path, exc.reason)
        written = w.added
        skipped = len(w.skipped)
        if written == 0:
            raise AudiokitError(f"none of {total} inputs could be featurized; no store written", path=output)
    target = "stdout" if output == "-" else output
    log.info(f"featurize: done {written} of {total} ({skipped} skipped) → {target} [{cfg.describe()}]")


def _shard(seq: list, spec: tuple[int, int] | None) -> list:
    """Every n-th element starting at i (0-based), for ``--shard i/n``."""
    return list(seq) if spec is None else list(seq)[spec[0]::spec[1]]


def _regex_groups(labels, items: list, pattern: str) -> tuple[list, list[tuple[str, str]]]:
    """Set each item's group from ``--group-regex``; items whose name does not match are returned as bad."""
    from audiokit.errors import AudiokitError

    grx = labels.compile_regex(pattern, "--group-regex")
    good, bad = [], []
    for it in items:
        try:
            it.group = labels.regex_field(grx, it.path, "group")
            good.append(it)
        except AudiokitError as exc:
            bad.append((it.path, exc.reason))
    return good, bad
