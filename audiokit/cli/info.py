"""``audiokit info``: what a store or a model file holds."""


from typing import Annotated

import typer

from audiokit.cli._common import Json, Quiet, Verbose, guarded, stdout_console, write_json

EPILOG = """\
Examples:

  audiokit info store.h5
  audiokit info model.h5 --json
  audiokit featurize data/ -o - | audiokit info -

Exit status: 0 done; 1 the file is missing, not HDF5, corrupt or not an audiokit file.
"""


def register(app: typer.Typer) -> None:
    app.command("info", epilog=EPILOG, no_args_is_help=True)(info)


@guarded
def info(
    file: Annotated[str, typer.Argument(help="A feature store or a model file; '-' reads one from stdin.",
                                        show_default=False, metavar="FILE")],
    json_out: Json = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Summarise a feature store (items, shape, classes with counts, groups, settings)
    or a model file (kind, classes, features, training settings, metrics)."""
    from audiokit import modelfile, store
    from audiokit.errors import StoreError
    from audiokit.io import h5_text, open_h5

    h5, name = open_h5(file, what="store or model file")
    fmt = h5_text(h5.attrs.get("format"))
    if fmt == modelfile.FORMAT:
        from audiokit.models import check_kind

        summary = model_summary(check_kind(modelfile.from_h5(h5, name)))
    elif fmt == store.FORMAT:
        try:
            s = store.Store(h5, name)
        except StoreError:
            h5.close()
            raise
        with s:
            summary = store_summary(s)
    else:
        h5.close()
        raise StoreError("not an audiokit store or model file", path=name)
    if json_out:
        write_json(summary)
    else:
        _print(summary)


#: Groups listed by ``info STORE`` (all of them, and per class, in ``--json``).
GROUPS_SHOWN = 40


def store_summary(s) -> dict:
    groups = None
    if s.groups is not None:
        groups = len({g for g in s.groups if g})
    return {
        "file": s.name,
        "type": "store",
        "format_version": s.version,
        "audiokit_version": s.audiokit_version,
        "created": s.created,
        "items": len(s),
        "feature_shape": list(s.item_shape),
        "dtype": str(s.features.dtype),
        "labelled": int(s.labelled.sum()),
        "classes": s.class_counts(),
        "groups": groups,
        "group_items": s.group_counts() if groups else None,
        "class_group_items": _class_group_items(s) if groups else None,
        "folds": sorted({int(f) for f in s.folds if f >= 0}) if s.folds is not None else None,
        "skipped": len(s.skipped),
        "features": s.config.to_dict(),
        "skipped_files": s.skipped,
        "provenance": s.provenance,
    }


def _class_group_items(s) -> dict[str, dict[str, int]]:
    """Items per class and group (``info --json``): ``{class: {group: n}}``, labelled items with a group."""
    from collections import Counter

    pairs = Counter((s.class_names[c], g) for c, g in zip(s.labels, s.groups) if c >= 0 and g)
    out: dict[str, dict[str, int]] = {}
    for (c, g), n in sorted(pairs.items()):
        out.setdefault(c, {})[g] = n
    return out


def model_summary(mf) -> dict:
    return {
        "file": mf.path,
        "type": "model",
        "format_version": mf.version,
        "audiokit_version": mf.audiokit_version,
        "created": mf.created,
        "kind": mf.kind,
        "classes": list(mf.class_names),
        "params": mf.params,
        "training": mf.training,
        "metrics": mf.metrics,
        "features": mf.feature_config.to_dict(),
        "arrays": {k: list(v.shape) for k, v in mf.arrays.items()} if len(mf.arrays) <= 40 else len(mf.arrays),
    }


def _print(summary: dict) -> None:
    from rich.table import Table

    con = stdout_console()
    t = Table(show_header=False, box=None, pad_edge=False)
    t.add_column(style="bold")
    t.add_column()
    skip = {"classes", "features", "params", "training", "metrics", "arrays", "skipped_files", "provenance",
            "group_items", "class_group_items"}
    for k, v in summary.items():
        if k in skip or v is None:
            continue
        t.add_row(k, " × ".join(map(str, v)) if k == "feature_shape" else str(v))
    from audiokit.features import FeatureConfig

    t.add_row("features", FeatureConfig.from_dict(summary["features"]).describe())
    if summary.get("provenance"):
        runs = summary["provenance"]
        t.add_row("history", f"{len(runs)} run(s); last {runs[-1].get('time', '?')}: "
                             f"{runs[-1].get('added', '?')} items added")
    if summary["type"] == "model":
        t.add_row("params", _compact(summary["params"]))
        for k, v in model_score_rows(summary.get("metrics") or {}, summary.get("training") or {}):
            t.add_row(k, v)
    con.print(t)
    classes = summary["classes"]
    if summary["type"] == "model":  # the training items per class, when the model file records them
        counts = (summary.get("training") or {}).get("class_counts")
        if isinstance(counts, list) and len(counts) == len(classes):
            counts = dict(zip(classes, counts))
        if isinstance(counts, dict) and set(map(str, counts)) == set(classes):
            classes = {c: counts[c] for c in classes}
    if classes:
        ct = Table(title=None, box=None)
        ct.add_column("class")
        if isinstance(classes, dict):
            ct.add_column("items", justify="right")
            for c, n in classes.items():
                ct.add_row(c, str(n))
        else:
            for c in classes:
                ct.add_row(c)
        con.print(ct)
    groups = summary.get("group_items")
    if groups:
        gt = Table(title=None, box=None)
        gt.add_column("group")
        gt.add_column("items", justify="right")
        shown = list(groups.items())
        for g, n in shown[:GROUPS_SHOWN]:
            gt.add_row(g, str(n))
        if len(shown) > GROUPS_SHOWN:
            gt.add_row(f"… {len(shown) - GROUPS_SHOWN} more (info --json lists them all)", "")
        con.print(gt)


def _pct(x) -> str:
    return f"{100 * float(x):.1f} %"


def _pm(d: dict) -> str:
    return f"{_pct(d['mean'])} ± {_pct(d['std'])}"


def model_score_rows(metrics: dict, training: dict) -> list[tuple[str, str]]:
    """The run's scores as a person reads them: percentages rounded to 0.1, each with the protocol
    it was measured on (validation split, cross-validation, test set), the k sweep, the epochs."""
    rows: list[tuple[str, str]] = []
    val, cv, test, sweep = (metrics.get(k) for k in ("validation", "cv", "test", "k_sweep"))
    if isinstance(val, dict) and "accuracy" in val:
        text = f"accuracy {_pct(val['accuracy'])}"
        if val.get("macro_f1") is not None:
            text += f", macro-F1 {_pct(val['macro_f1'])}"
        if val.get("best_epoch") is not None and val.get("epochs_run") is not None:
            text += f" at epoch {val['best_epoch']} of {val['epochs_run']}"
        rows.append(("validation", text))
        proto = (val.get("protocol") or {}).get("text")
        if proto:
            rows.append(("  protocol", proto))
    if isinstance(cv, dict) and isinstance(cv.get("accuracy"), dict):
        n = len(cv.get("folds") or [])
        text = f"accuracy {_pm(cv['accuracy'])}"
        if isinstance(cv.get("macro_f1"), dict):
            text += f", macro-F1 {_pm(cv['macro_f1'])}"
        rows.append((f"{n}-fold CV" if n else "cross-validation", text + " (mean ± std over folds)"))
        folds = cv.get("folds") or []
        proto = (folds[0].get("protocol") or {}).get("text") if folds and isinstance(folds[0], dict) else None
        if proto:
            rows.append(("  protocol", f"fold 1 {proto}"))
        elif cv.get("grouped") is not None:
            rows.append(("  protocol", "group k-fold: each fold scored on groups unseen in its training"
                         if cv["grouped"] else "stratified k-fold over items"))
    if isinstance(test, dict) and "accuracy" in test:
        text = f"accuracy {_pct(test['accuracy'])}"
        if test.get("macro_f1") is not None:
            text += f", macro-F1 {_pct(test['macro_f1'])}"
        extra = [f"{test['n']} items" if test.get("n") is not None else None,
                 f"--test-split {test['spec']}" if test.get("spec") is not None else None]
        extra = [e for e in extra if e]
        rows.append(("test", text + (f" ({', '.join(extra)})" if extra else "")))
    if isinstance(sweep, dict) and sweep.get("chosen_k") is not None:
        table = sweep.get("table") or []
        ks = [r["k"] for r in table if isinstance(r, dict) and "k" in r]
        span = f" of k = {ks[0]}..{ks[-1]}" if len(ks) > 1 else ""
        rows.append(("k sweep", f"k = {sweep['chosen_k']} chosen{span} by {sweep.get('folds', '?')}-fold CV accuracy"))
    if not rows:
        rows.append(("scores", "none recorded (trained without validation, e.g. --val-split 0)"))
    hist = metrics.get("history")
    if isinstance(hist, dict) and hist.get("epochs_run") is not None:  # a deep run
        text = f"{hist['epochs_run']} run"
        if hist.get("stopped_early"):
            text += ", stopped early"
        rows.append(("epochs", text))
    if training.get("items") is not None:
        text = f"{training['items']} items"
        if training.get("store"):
            text += f" of {training['store']}"
        if training.get("trained_on") is not None and training["trained_on"] != training["items"]:
            text += f"; the saved model trained on {training['trained_on']}"
        if training.get("refit"):
            text += " (refit on all training items after " + ("cross-validation)" if cv else "validation)")
        rows.append(("trained on", text))
    return rows


def _compact(d: dict, limit: int = 12) -> str:
    items = [f"{k}={v}" for k, v in d.items() if not isinstance(v, (dict, list))][:limit]
    return ", ".join(items)
