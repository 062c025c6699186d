"""``audiokit featurize``: audio files → an HDF5 feature store."""


import contextlib
import os
import sys
from typing import Annotated, List, Optional

import typer

from audiokit import elapsed
from audiokit.cli._common import (Threads, Quiet, SkipErrors, Verbose, Workers, choice, complete_crops,
                                  complete_feature_kinds, complete_pad_modes, complete_stats,
                                  complete_pitch_methods, default_workers, guarded, log, progress)

EPILOG = """\
Examples:

  audiokit featurize data/ -o store.h5          # labels: data/violin/**/*.wav → violin
  audiokit featurize data/ --features mfcc-stats -o mfcc.h5          # 106 numbers a file
  audiokit featurize data/ -f mfcc-stats --stats mfcc -o mfcc40.h5   # 20 means, 20 stds
  audiokit featurize data/ --sr 16000 --win-ms 64 --hop-ms 16 -o lm.h5
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
  audiokit featurize test/ --like train.h5 -o test.h5         # every feature setting of train.h5
  audiokit featurize test/ --like model.h5 -o test.h5         # ... or of the model's training store
  audiokit featurize data/ -o - | audiokit info -

Frames (logmel, mfcc, mfcc-stats) follow --sr unless given: n_fft = the smallest power
of two >= 25 ms, hop 10 ms, 64 mel bands; 8 kHz: 256/80, 16 kHz: 512/160, 22.05 kHz:
1024/220, 44.1 kHz: 2048/441, 48 kHz: 2048/480. The store records the values; with
--append, settings not given take the store's.

Labels from folders (the default) follow torchvision's ImageFolder: the first folder below
each input directory, however deep the file (data/violin/s1/a.ogg → violin); a file directly
in an input directory gets that directory's name (featurize data/violin → violin); a file
named by itself or read from '-' gets its parent directory's name. A warning says when every
item lands in one class.

Exit status: 0 done; 1 an input could not be used (nothing written; --max-errors N reports
up to N of them first, --skip-errors leaves them out instead), the store could not be
written, or --append/--merge met another feature configuration or other label/group
options than the store's; 2 bad flags or unsound feature settings. Ctrl-C leaves no file
under the output name.
"""


def register(app: typer.Typer) -> None:
    app.command("featurize", epilog=EPILOG, no_args_is_help=True)(featurize)


@guarded
def featurize(
    ctx: typer.Context,
    output: Annotated[str, typer.Option("--output", "-o", help="The store to write; '-' writes it to stdout.")],
    inputs: Annotated[Optional[List[str]], typer.Argument(
        help="Audio files, directories (walked recursively, sorted; hidden files left out), or '-' for "
             "newline-separated paths on stdin. With --merge: stores to join. Not needed with --manifest.",
        show_default=False, metavar="INPUT...")] = None,
    features: Annotated[str, typer.Option("--features", "-f", help="logmel | mfcc | mfcc-stats | f0-range.",
                                                       autocompletion=complete_feature_kinds)] = "logmel",
    sr: Annotated[int, typer.Option("--sr", help="Sample rate the audio is resampled to (Hz).")] = 22050,
    n_fft: Annotated[Optional[int], typer.Option(
        "--n-fft", show_default=False,
        help="FFT window length in samples. Default: the smallest power of two >= 25 ms (256 at 8 kHz, "
             "512 at 16 kHz, 1024 at 22.05 kHz, 2048 at 44.1 and 48 kHz).")] = None,
    win_ms: Annotated[Optional[float], typer.Option(
        "--win-ms", show_default=False,
        help="The window in milliseconds instead of --n-fft: n_fft = the smallest power of two >= MS.")] = None,
    hop_length: Annotated[Optional[int], typer.Option(
        "--hop-length", show_default=False,
        help="Hop between frames in samples. Default: 10 ms (80 at 8 kHz, 160 at 16 kHz, 220 at 22.05 kHz, "
             "441 at 44.1 kHz, 480 at 48 kHz).")] = None,
    hop_ms: Annotated[Optional[float], typer.Option(
        "--hop-ms", show_default=False,
        help="The hop in milliseconds (rounded to samples), instead of --hop-length.")] = None,
    n_mels: Annotated[Optional[int], typer.Option("--n-mels", show_default=False,
                                                  help="Mel bands. Default: 64.")] = None,
    fmin: Annotated[float, typer.Option("--fmin", help="Lowest mel frequency (Hz).")] = 0.0,
    fmax: Annotated[Optional[float], typer.Option("--fmax", help="Highest mel frequency (Hz; default sr/2).")] = None,
    n_mfcc: Annotated[int, typer.Option("--n-mfcc", help="MFCC coefficients (mfcc, mfcc-stats).")] = 20,
    stats: Annotated[Optional[str], typer.Option(
        "--stats", show_default=False, autocompletion=complete_stats,
        help="mfcc-stats: full (default; mean and std of the MFCCs, their deltas, spectral centroid, bandwidth, "
             "rolloff, flatness, 7 contrast bands, zero-crossing rate and RMS: 4*n_mfcc+26 numbers) | mfcc "
             "(mean and std of the MFCCs only: 2*n_mfcc).")] = None,
    duration: Annotated[Optional[str], typer.Option(
        "--duration", help="Fixed item length: seconds, or 'auto' (the 90th percentile of the file "
                           "lengths, rounded up to 0.1 s). "
                           "Default: auto for logmel/mfcc, whole file for mfcc-stats.")] = None,
    pad_mode: Annotated[str, typer.Option("--pad-mode", help="Padding of short clips: constant (zeros) | edge.",
                                          autocompletion=complete_pad_modes)] = "constant",
    crop: Annotated[str, typer.Option("--crop", help="Which part of a long clip to keep: center | start.",
                                      autocompletion=complete_crops)] = "center",
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
        "--manifest", help="CSV or tab-separated file of path,label[,group][,fold] (f0-range: "
                           "low,high,label[,group]); a header row may name the columns (file/filename, "
                           "class/category, speaker/actor/player, ...); replaces INPUTS.")] = None,
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
    like: Annotated[Optional[str], typer.Option(
        "--like", metavar="STORE|MODEL", show_default=False,
        help="Featurize exactly like this store or model file: copy every feature setting it records "
             "(kind, sr, frames, mels, MFCCs, the duration as it was resolved, crop, padding, "
             "normalisation, ...). No feature flag may be given with it; labels, groups and the other "
             "options are not feature settings and are not copied.")] = None,
    workers: Workers = None,
    skip_errors: SkipErrors = False,
    max_errors: Annotated[int, typer.Option(
        "--max-errors", min=0, metavar="N",
        help="Without --skip-errors: go on past unusable inputs and report up to N of them, each on its own "
             "line, before stopping (exit 1, nothing written); 0: report all. Default 1: stop at the first.")] = 1,
    threads: Threads = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Turn audio into an HDF5 feature store (logmel, mfcc, mfcc-stats or f0-range).

    Labels come from folder names (the first folder below each input directory), a regex
    on the file name, or a CSV manifest; groups (speakers) from a regex or the manifest. Results are identical for
    any --workers. The store is written atomically: an interrupted run leaves no file
    under the target name.
    """
    from audiokit import store as store_mod
    from audiokit.errors import AudiokitError, StoreError, UsageError

    inputs = list(inputs or [])
    like_cfg = None
    if like is not None:  # every feature setting from that file (its kind and duration steer what follows)
        like_cfg = _like_config(ctx, like, merge=merge)
        features, sr = like_cfg.kind, like_cfg.sr
        duration = None if like_cfg.duration is None else repr(like_cfg.duration)
    if output == "-" and sys.stdout.isatty():
        raise UsageError("refusing to write a binary HDF5 store to a terminal; redirect or pipe it "
                         "(-o - | audiokit info -)")
    if append and output == "-":
        raise UsageError("--append needs a store file, not '-'")
    if n_fft is not None and win_ms is not None:
        raise UsageError("give the window as --n-fft or --win-ms, not both")
    if hop_length is not None and hop_ms is not None:
        raise UsageError("give the hop as --hop-length or --hop-ms, not both")
    for flag, ms in (("--win-ms", win_ms), ("--hop-ms", hop_ms)):
        if ms is not None and not 0 < ms < float("inf"):
            raise UsageError(f"{flag} must be a positive number of milliseconds (got {ms:g})")
    if stats is not None:
        from audiokit.features import STATS

        if stats not in STATS:
            raise UsageError(f"--stats must be {' or '.join(STATS)} (got {stats!r})")
    from audiokit.features import CROP_MODES, PAD_MODES

    pad_mode, crop = choice(pad_mode, "--pad-mode", PAD_MODES), choice(crop, "--crop", CROP_MODES)
    if no_labels and (label_regex or label_map or label_source not in (None, "none")):
        raise UsageError("--no-labels writes an unlabelled store; it takes no --label-regex, --label-map or "
                         "--label-source")
    if merge:
        if append or manifest or shard:
            raise UsageError("--merge joins stores as they are; it takes no --append, --manifest or --shard")
        given = _feature_flags_given(ctx)
        if given:
            raise UsageError(f"--merge joins stores with the settings they have; it takes no {', '.join(given)}")
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

    # -- configuration, checked before any file is read (auto duration: resolved below) -------
    old_cfg = None  # --append: settings left to their automatic value take the store's
    old_classes: dict[str, int] = {}
    if append and output != "-":
        if os.path.exists(output):
            with store_mod.open_store(output) as old:
                old_cfg = old.config
                old_classes = {c: k for c, k in old.class_counts().items() if k}
    if duration is None:
        dur_spec = "auto" if features in SEQUENCE_KINDS else None
    else:
        dur_spec = duration
    if old_cfg is not None and dur_spec == "auto":
        dur_spec = None if old_cfg.duration is None else str(old_cfg.duration)
    dur: float | None = None
    if dur_spec is not None and dur_spec != "auto" and features != "f0-range":
        try:
            dur = float(dur_spec)
        except ValueError:
            raise UsageError(f"--duration must be seconds or 'auto', got {dur_spec!r}") from None
    from audiokit.features import hop_for, n_fft_for

    if win_ms is not None:
        n_fft = n_fft_for(sr, win_ms)
    if hop_ms is not None:
        hop_length = hop_for(sr, hop_ms)
        if hop_length < 1:
            raise UsageError(f"--hop-ms {hop_ms:g} is less than half a sample at {sr} Hz")
    frames = {"n_fft": n_fft, "hop_length": hop_length, "n_mels": n_mels, "stats": stats}
    if old_cfg is not None and (old_cfg.kind, old_cfg.sr) == (features, sr):
        frames = {k: getattr(old_cfg, k) if v is None else v for k, v in frames.items()}
    if like_cfg is not None:
        cfg = like_cfg  # the whole configuration object of the --like file, every field as it is there
    else:  # FeatureConfig refuses unsound settings (empty mel bands, n_mfcc > n_mels, ...): exit 2
        cfg = FeatureConfig(kind=features, sr=sr, **frames, fmin=fmin, fmax=fmax, n_mfcc=n_mfcc, duration=dur,
                            pad_mode=pad_mode, crop=crop, normalize=normalize, top_db=top_db,
                            f0_method=f0_method, f0_fmin=f0_fmin, f0_fmax=f0_fmax, harmonics=harmonics)
    if pairs:
        from audiokit.pitch import METHODS

        if f0_method not in METHODS:
            raise UsageError(f"--f0-method must be one of {', '.join(METHODS)}")

    # -- items: paths with labels and groups -------------------------------------------------
    # Each item keeps its index in the full input list (before --shard), so --merge can put
    # shards back in the order one run gives.
    bad: list[tuple[str, str]] = []
    group_source = "regex" if group_regex else "pairs" if pairs and not manifest else "none"
    if manifest:
        if inputs:
            log.warning("featurize: --manifest given; ignoring INPUTS")
        items = labels.read_manifest(manifest, pairs=pairs, label_map=mapping)
        for k, it in enumerate(items):
            it.index = k
        if not group_regex and any(it.group for it in items):
            group_source = "manifest"
        unlabelled = sum(it.label is None for it in items)
        if unlabelled and source != "none":
            log.warning(f"featurize: {manifest}: {unlabelled} of {len(items)} rows have no label; they are "
                        "stored unlabelled (label -1)")
        all_paths = [it.path for it in items]
        items = _shard(items, shard_spec)
        if source == "none":
            for it in items:
                it.label = None
        if group_regex:
            items, bad = _regex_groups(labels, items, group_regex)
    else:
        paths: list[str] = []
        roots: dict[str, str] = {}  # a file found in an input directory → that directory (dir labels)
        for inp in inputs:
            found = audio.collect_paths([inp])
            if inp != "-" and os.path.isdir(inp):
                for p in found:
                    roots.setdefault(p, inp)
            paths.extend(found)
        if pairs:
            items, bad = labels.find_pairs(paths, source=source, label_map=mapping, label_regex=label_regex,
                                           roots=roots)
            for k, it in enumerate(items):
                it.index = k
            all_paths = []  # pairs have no --duration
            items = _shard(items, shard_spec)  # pairs stay whole: shard the pairs, not the files
            bad = _shard(bad, shard_spec)
            if group_regex:
                items, more_bad = _regex_groups(labels, items, group_regex)
                bad += more_bad
        else:
            all_paths = paths  # --duration auto looks at every input, so all shards agree
            lrx = labels.compile_regex(label_regex, "label_regex")
            grx = labels.compile_regex(group_regex, "group_regex")
            items = []
            for k, p in _shard(list(enumerate(paths)), shard_spec):
                try:
                    it = labels.label_item(p, source=source, lrx=lrx, label_map=mapping, grx=grx, root=roots.get(p))
                except UsageError:
                    raise
                except AudiokitError as exc:
                    bad.append((p, exc.reason))
                    continue
                it.index = k
                items.append(it)
    if not items and not bad:
        if shard_spec is not None:
            raise AudiokitError(f"shard {shard} is empty (fewer inputs than shards)", path=output)
        raise AudiokitError("no audio files found (directories are searched for "
                            + ", ".join(sorted(audio.AUDIO_EXTENSIONS)) + ")", path=" ".join(inputs) or "-")
    record = store_mod.labelling("manifest" if source == "manifest" or (manifest and source != "none") else source,
                                 label_regex=label_regex, label_map=mapping, group_source=group_source,
                                 group_regex=group_regex)

    if dur_spec == "auto" and features != "f0-range" and like_cfg is None:
        dur = auto_duration(all_paths)  # over all inputs, before sharding, so every shard agrees
        log.debug(f"featurize: --duration auto → {dur:g} s (the 90th percentile of the lengths; recorded in the store)")
        cfg = cfg.replace(duration=dur)

    if not pairs:
        log.debug(f"featurize: n_fft {cfg.n_fft} ({1000 * cfg.n_fft / sr:.3g} ms), hop_length {cfg.hop_length} "
                  f"({1000 * cfg.hop_length / sr:.3g} ms), n_mels {cfg.n_mels} at {sr} Hz (recorded in the store)")
    if shard_spec is not None:
        provenance["shard"] = f"{shard_spec[0]}/{shard_spec[1]}"

    # -- featurize: bad inputs stop the run (after --max-errors of them) or are skipped ----------
    errors: list[AudiokitError] = []

    def unusable(path: str | None, reason: str) -> None:
        """Without --skip-errors: the first bad input stops the run (--max-errors 1), or each is
        reported on its own line until --max-errors of them have been seen."""
        err = AudiokitError(reason, path=path)
        if max_errors == 1:
            raise err
        errors.append(err)
        log.error(f"error: {err}")
        if len(errors) == max_errors:
            raise AudiokitError(f"stopped at {max_errors} inputs that could not be used (--max-errors "
                                f"{max_errors}); no store written", path=output)

    if not skip_errors:
        for p, reason in bad:
            unusable(p, reason)
    n_workers = workers or default_workers()
    total = len(items) + len(bad)
    with store_mod.StoreWriter(output, cfg, append=append, provenance=provenance, labelling=record,
                               shards=shard_spec[1] if shard_spec is not None else None) as w:
        if skip_errors:
            for p, reason in bad:
                log.warning(f"skipped {p}: {reason}")
                w.skip(p, reason)
        results = featurize_items(cfg, items, workers=n_workers)
        added: list = []  # the items written (for the one-class warning)
        with contextlib.closing(results):  # an error or Ctrl-C ends the worker pool at once
            for r in progress(results, total=len(items), desc="featurize", quiet=quiet):
                if r.error is not None:
                    if not skip_errors:
                        unusable(r.error_path, r.error)
                        continue
                    log.warning(f"skipped {r.error_path}: {r.error}")
                    w.skip(r.error_path, r.error)
                    continue
                it = r.item
                try:
                    w.add(r.features, label=it.label, path=it.path, group=it.group, fold=it.fold,
                          duration=r.duration, path2=it.path2, index=it.index)
                    added.append(it)
                except StoreError as exc:  # e.g. an input already in the store
                    if store_mod.HDF5_WRITE_FAILED:
                        raise
                    if not skip_errors:
                        unusable(exc.path or it.path, exc.reason)
                        continue
                    log.warning(f"skipped {exc.path}: {exc.reason}")
                    w.skip(exc.path or it.path, exc.reason)
        if errors:
            n = len(errors)
            raise AudiokitError(f"{n} of {total} input{'s' if total != 1 else ''} could not be used (listed above); "
                                "no store written (--skip-errors leaves them out)", path=output)
        written = w.added
        skipped = len(w.skipped)
        if written == 0:
            raise AudiokitError(f"none of {total} inputs could be featurized; no store written", path=output)
        _warn_one_class(added, old_classes, record)
    target = "stdout" if output == "-" else output
    log.info(f"featurize: done {written} of {total} ({skipped} skipped) in {elapsed():.1f} s → {target} "
             f"[{cfg.describe()}]")


#: featurize's options that are not feature settings: the only ones that may go with --like.
#: Any other option given with --like is refused (a new feature flag is then refused too,
#: rather than silently ignored).
_NOT_FEATURE_SETTINGS = frozenset({"output", "inputs", "like", "label_source", "label_regex", "label_map",
                                   "group_regex", "manifest", "no_labels", "shard", "append", "merge", "workers",
                                   "skip_errors", "max_errors", "quiet", "verbose"})


def _feature_flags_given(ctx: typer.Context) -> list[str]:
    """The feature-setting flags given on the command line (not left to their defaults)."""
    return [max(p.opts, key=len) for p in ctx.command.params
            if p.name not in _NOT_FEATURE_SETTINGS and p.opts
            and getattr(ctx.get_parameter_source(p.name), "name", "DEFAULT") not in ("DEFAULT", "DEFAULT_MAP")]


def _like_config(ctx: typer.Context, path: str, *, merge: bool):
    """``--like FILE``: the feature configuration of a store or model file (the whole object).

    A feature flag given with it is a usage error (exit 2); a file that cannot be read as a
    store or model is a failure naming it (exit 1, as a missing input)."""
    from audiokit.errors import UsageError
    from audiokit.features.like import feature_config_of

    if merge:
        raise UsageError("--merge joins stores as they are; it takes no --like")
    given = _feature_flags_given(ctx)
    if given:
        raise UsageError(f"--like copies every feature setting from {path}; leave out {', '.join(given)} "
                         "(or --like)")
    if path == "-":
        raise UsageError("--like needs a store or model file, not '-'")
    return feature_config_of(path)


def _warn_one_class(items: list, old_classes: dict[str, int], record: dict) -> None:
    """One warning when every labelled item (with --append: of the whole store) has the same label:
    a store that train cannot use, most often a directory given one level too deep."""
    counts = dict(old_classes)
    for it in items:
        if it.label is not None:
            counts[it.label] = counts.get(it.label, 0) + 1
    if len(counts) != 1:
        return
    (name, n), = counts.items()
    why = {"dir": "labels are the first folder below each input directory (its own name for files directly in "
                  "it): give the directory that holds one folder per class",
           "regex": f"labels come from --label-regex '{record['label_regex']}'",
           "manifest": "labels come from the manifest's label column"}.get(record["label_source"], "")
    every = f"all {n} items are" if n > 1 else "the only item is"
    log.warning(f"featurize: {every} labelled '{name}': {why}; train needs at least two classes")


def _shard(seq: list, spec: tuple[int, int] | None) -> list:
    """Every n-th element starting at i (0-based), for ``--shard i/n``."""
    return list(seq) if spec is None else list(seq)[spec[0]::spec[1]]


def _regex_groups(labels, items: list, pattern: str) -> tuple[list, list[tuple[str, str]]]:
    """Set each item's group from ``--group-regex``; items whose name does not match are returned as bad."""
    from audiokit.errors import AudiokitError

    grx = labels.compile_regex(pattern, "group_regex")
    good, bad = [], []
    for it in items:
        try:
            it.group = labels.regex_field(grx, it.path, "group")
            good.append(it)
        except AudiokitError as exc:
            bad.append((it.path, exc.reason))
    return good, bad
