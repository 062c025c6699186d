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
                                        show_default=False)],
    json_out: Json = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Summarise a feature store (items, shape, classes with counts, groups, settings)
    or a model file (kind, classes, features, training settings, metrics)."""
    from audiokit import modelfile, store
    from audiokit.errors import StoreError

    h5, name = store.open_h5(file, what="store or model file")
    fmt = store.h5_text(h5.attrs.get("format"))
    if fmt == modelfile.FORMAT:
        summary = model_summary(modelfile.from_h5(h5, name))
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
        "folds": sorted({int(f) for f in s.folds if f >= 0}) if s.folds is not None else None,
        "skipped": len(s.skipped),
        "features": s.config.to_dict(),
        "skipped_files": s.skipped,
        "provenance": s.provenance,
    }


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
    skip = {"classes", "features", "params", "training", "metrics", "arrays", "skipped_files", "provenance"}
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
        if summary["metrics"]:
            t.add_row("metrics", _compact(summary["metrics"]))
    con.print(t)
    classes = summary["classes"]
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


def _compact(d: dict, limit: int = 12) -> str:
    items = [f"{k}={v}" for k, v in d.items() if not isinstance(v, (dict, list))][:limit]
    return ", ".join(items)
