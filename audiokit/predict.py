"""``predict``: batch inference of any model over audio files or a store.

Raw audio is featurized with the model's own :class:`~audiokit.features.FeatureConfig`
(so no feature flags are needed), in parallel worker processes, in input order. A file
becomes ``W`` items (:func:`audiokit.features.windows.file_windows`): one for
``mfcc-stats`` and the whole-file kinds, and for a fixed-duration ``logmel``/``mfcc``
model a file no longer than its items; a longer file is featurized whole and cut into
windows of the model's frames with 50 % overlap (at most 64). A store whose items are of
another duration than the model's is windowed (or padded) by the same rule
(:func:`store_fit`, :func:`audiokit.features.windows.item_windows`). The item's
probabilities are the softmax of the windows' mean log-probability
(:func:`average_windows`) — the normalised geometric mean, which equals averaging the
windows' logits. Windows of many files go to the model together, ``batch_size`` items
per ``predict_proba`` call.

Output rows (docs/model-format.md, "predict output"): ``path, label, confidence`` and,
with ``top_k`` > 1, ``label_2, confidence_2, ...``; a file that cannot be used gets a row
with its ``error``.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

from audiokit.errors import AudiokitError, ParameterError, UsageError


@dataclass
class Row:
    """One prediction: a file (or store item) with its class probabilities, or its error."""

    path: str
    proba: np.ndarray | None = None
    windows: int = 0
    error: str | None = None
    #: For store items: the stored label (None: unlabelled).
    true_label: str | None = None


def average_windows(p: np.ndarray) -> np.ndarray:
    """Combine the ``(W, C)`` probabilities of a file's windows into one ``(C,)`` distribution:
    ``softmax(mean_w log p_w)``. One window is returned unchanged.

    >>> average_windows(np.array([[0.9, 0.1], [0.5, 0.5]])).round(3).tolist()
    [0.75, 0.25]
    """
    p = np.asarray(p, dtype=np.float64)
    if len(p) == 1:
        return p[0]
    logp = np.log(np.clip(p, 1e-12, 1.0)).mean(axis=0)
    e = np.exp(logp - logp.max())
    return e / e.sum()


def _check_model_input(model) -> None:
    if model.feature_config.kind == "f0-range":
        raise UsageError("this model classifies pairs of files (f0-range: lowest and highest note), not "
                         "single files; give it an f0-range store")


@dataclass
class StoreFit:
    """How a store's items become the model's items (:func:`store_fit`).

    ``mode``: ``"same"`` (the store's items are the model's), ``"windows"`` (longer items cut
    into ``windows`` windows each) or ``"pad"`` (shorter items padded), by
    :func:`audiokit.features.windows.item_windows`.
    """

    mode: str
    store_duration: float | None = None
    model_duration: float | None = None
    store_frames: int | None = None
    model_frames: int | None = None
    windows: int = 1

    def summary(self) -> str:
        """E.g. ``items of 2 s scored over windows of the model's 0.5 s (7 windows each)``."""
        if self.mode == "windows":
            return (f"items of {self.store_duration:g} s scored over windows of the model's "
                    f"{self.model_duration:g} s ({self.windows} window{'s' if self.windows != 1 else ''} each)")
        if self.mode == "pad":
            return f"items of {self.store_duration:g} s padded to the model's {self.model_duration:g} s"
        return ""

    def report(self, n_items: int) -> dict | None:
        """The ``windowing`` block of ``eval --json`` (None when the durations are the same)."""
        if self.mode == "same":
            return None
        return {"mode": self.mode, "items": int(n_items), "store_duration": self.store_duration,
                "model_duration": self.model_duration, "store_frames": self.store_frames,
                "model_frames": self.model_frames, "windows_per_item": self.windows, "summary": self.summary()}


def store_fit(model, store) -> StoreFit:
    """Check that ``store`` can be scored by ``model`` and say how its items are fitted.

    The feature settings must be the model's, except ``duration`` for the fixed-duration
    ``logmel``/``mfcc`` kinds: items of another duration are cut into windows of the model's
    frames (longer) or padded to them (shorter), as ``predict`` does with audio files.

    Raises
    ------
    ModelFileError
        Any other difference (exit 1), naming the settings: ``store does not match the
        model's features: sr (model 22050, store 16000)``.
    """
    from audiokit.errors import ModelFileError
    from audiokit.features import SEQUENCE_KINDS
    from audiokit.features.windows import frames_for, n_windows

    mc, sc = model.feature_config, store.config
    diff = mc.differences(sc)
    flexible = (mc.kind in SEQUENCE_KINDS and mc.duration is not None and sc.duration is not None
                and len(store.item_shape) == 2)
    blocking = [k for k in diff if not (flexible and k == "duration")]
    if blocking:
        a, b = mc.to_dict(), sc.to_dict()
        detail = ", ".join(f"{k} (model {a.get(k)!r}, store {b.get(k)!r})" for k in blocking)
        raise ModelFileError(f"store does not match the model's features: {detail}", path=store.name)
    if not diff:
        return StoreFit("same")
    win, have = frames_for(mc), int(store.item_shape[-1])
    mode = "same" if have == win else "windows" if have > win else "pad"
    return StoreFit(mode, sc.duration, mc.duration, have, win, n_windows(have, win))


def store_proba(model, store, index: Sequence[int] | None = None, *, batch_size: int = 256,
                fit: StoreFit | None = None) -> np.ndarray:
    """``model.predict_proba`` over store items (all, or ``index``), about ``batch_size`` model
    items per call. Items of another duration (``fit``, default :func:`store_fit`) are windowed
    or padded, and an item's windows combined by :func:`average_windows`."""
    from audiokit.features.windows import MAX_WINDOWS, item_windows

    fit = fit or store_fit(model, store)
    idx = np.arange(len(store)) if index is None else np.asarray(index)
    out = np.empty((len(idx), len(model.class_names)), dtype=np.float64)
    step = max(1, batch_size // fit.windows)
    for start in range(0, len(idx), step):
        part = idx[start:start + step]
        X = store.load_features(part)
        if not np.isfinite(X).all():
            bad = part[~np.isfinite(X.reshape(len(X), -1)).all(axis=1)][0]
            raise AudiokitError(f"features of item {bad} ({store.paths[bad]}) contain NaN or infinite values",
                                path=store.name)
        if fit.mode == "same":
            out[start:start + len(part)] = model.predict_proba(X)
            continue
        w = fit.windows
        items = np.concatenate([item_windows(x, store.config, fit.model_frames, max_windows=MAX_WINDOWS)
                                for x in X])
        p = model.predict_proba(items)
        for j in range(len(part)):
            out[start + j] = average_windows(p[j * w:(j + 1) * w])
    return out


def predict_store(model, store, *, batch_size: int = 256) -> Iterator[Row]:
    """A :class:`Row` per store item, in store order. The store must have the model's feature
    settings, but for the duration of ``logmel``/``mfcc`` items (:func:`store_fit`)."""
    fit = store_fit(model, store)
    if len(store) == 0:
        raise AudiokitError("the store is empty; nothing to predict", path=store.name)
    chunk = max(batch_size, fit.windows)
    for start in range(0, len(store), chunk):
        idx = np.arange(start, min(start + chunk, len(store)))
        proba = store_proba(model, store, idx, batch_size=batch_size, fit=fit)
        for i, p in zip(idx, proba):
            lb = store.labels[i]
            yield Row(store.paths[i], p, fit.windows, None, None if lb < 0 else store.class_names[lb])


def predict_files(model, paths: Sequence[str], *, workers: int = 1, batch_size: int = 256) -> Iterator[Row]:
    """A :class:`Row` per audio file, in input order; unusable files give rows with ``error`` set.

    Files are featurized by ``workers`` processes (:func:`audiokit.features.batch.featurize_items`
    with ``windows=True``) while the model predicts batches of at least ``batch_size`` windows.
    """
    from audiokit.features.batch import featurize_items
    from audiokit.labels import Item

    _check_model_input(model)
    pending: list = []  # featurize results waiting for a batch, in input order
    n_windows = 0

    def flush() -> Iterator[Row]:
        nonlocal pending, n_windows
        feats = [r.features for r in pending if r.error is None]
        proba = model.predict_proba(np.concatenate(feats)) if feats else None
        at = 0
        for r in pending:
            if r.error is not None:
                yield Row(r.item.path, None, 0, r.error)
                continue
            w = len(r.features)
            yield Row(r.item.path, average_windows(proba[at:at + w]), w)
            at += w
        pending, n_windows = [], 0

    for r in featurize_items(model.feature_config, [Item(p) for p in paths], workers=workers, windows=True):
        pending.append(r)
        n_windows += 0 if r.error is not None else len(r.features)
        if n_windows >= batch_size:
            yield from flush()
    if pending:
        yield from flush()


def top(proba: np.ndarray, class_names: Sequence[str], k: int) -> list[tuple[str, float]]:
    """The ``k`` most probable classes with their probabilities, best first (ties: class order)."""
    order = np.argsort(-proba, kind="stable")[:k]
    return [(class_names[i], float(proba[i])) for i in order]


# -- output formats --------------------------------------------------------------------------------

def csv_header(top_k: int) -> list[str]:
    cols = ["path", "label", "confidence"]
    for j in range(2, top_k + 1):
        cols += [f"label_{j}", f"confidence_{j}"]
    return cols + ["error"]


class Writer:
    """Streams rows as CSV, JSONL or a rich table (the table is printed at the end)."""

    def __init__(self, stream, fmt: str, class_names: Sequence[str], *, top_k: int = 1,
                 with_truth: bool = False, console=None):
        if fmt not in ("csv", "jsonl", "table"):
            raise ParameterError("fmt", f"must be csv, jsonl or table, got {fmt!r}")
        self.stream, self.fmt, self.names, self.k = stream, fmt, list(class_names), max(1, top_k)
        self.with_truth = with_truth
        #: Where a table goes (a rich Console or the CLI's plain one for pipes); default: rich on ``stream``.
        self.console = console
        self._rows: list = []
        if fmt == "csv":
            self._csv = csv.writer(stream, lineterminator="\n")
            self._csv.writerow(csv_header(self.k) + (["true_label"] if with_truth else []))

    def write(self, row: Row) -> None:
        tops = [] if row.proba is None else top(row.proba, self.names, self.k)
        if self.fmt == "csv":
            cells = [row.path]
            for j in range(self.k):
                cells += [tops[j][0], f"{tops[j][1]:.6f}"] if j < len(tops) else ["", ""]
            cells.append(row.error or "")
            if self.with_truth:
                cells.append(row.true_label or "")
            self._csv.writerow(cells)
        elif self.fmt == "jsonl":
            obj: dict = {"path": row.path}
            if row.error is not None:
                obj["error"] = row.error
            else:
                obj.update(label=tops[0][0], confidence=round(tops[0][1], 6), windows=row.windows)
                if self.k > 1:
                    obj["top_k"] = [{"label": c, "confidence": round(p, 6)} for c, p in tops]
            if self.with_truth:
                obj["true_label"] = row.true_label
            self.stream.write(json.dumps(obj, ensure_ascii=False) + "\n")
        else:
            self._rows.append((row, tops))
            return
        self.stream.flush()

    def close(self) -> None:
        if self.fmt != "table":
            return
        from rich.console import Console
        from rich.table import Table

        t = Table()
        t.add_column("path", overflow="fold")
        t.add_column("label")
        t.add_column("confidence", justify="right")
        for j in range(2, self.k + 1):
            t.add_column(f"#{j}")
        if self.with_truth:
            t.add_column("true label")
        for row, tops in self._rows:
            if row.error is not None:
                cells = [row.path, "[red]error[/red]", "", *[""] * (self.k - 1)]
                cells[2] = row.error
            else:
                cells = [row.path, tops[0][0], f"{100 * tops[0][1]:.1f} %",
                         *[f"{c} {100 * p:.1f} %" for c, p in tops[1:]], *[""] * (self.k - len(tops))]
            if self.with_truth:
                cells.append(row.true_label or "")
            t.add_row(*cells)
        (self.console or Console(file=self.stream, soft_wrap=True)).print(t)


def sniff_hdf5(path: str) -> bool:
    """Whether ``path`` starts with the HDF5 signature (a store given to predict)."""
    try:
        with open(path, "rb") as f:
            return f.read(8) == b"\x89HDF\r\n\x1a\n"
    except OSError:
        return False


def read_stdin_input(stdin=None) -> tuple[str, object]:
    """``-`` on predict's command line: a store (HDF5 bytes) or a newline-separated path list.

    Returns ``("store", BytesIO)`` or ``("paths", [paths])``.
    """
    from audiokit.audio import read_path_list

    stream = stdin if stdin is not None else sys.stdin
    if hasattr(stream, "isatty") and stream.isatty():
        raise UsageError("'-' reads paths (or a store) from stdin, but stdin is a terminal; pipe them in")
    raw = (stream.buffer if hasattr(stream, "buffer") else stream).read()
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogateescape")
    if raw[:8] == b"\x89HDF\r\n\x1a\n":
        return "store", io.BytesIO(raw)
    text = raw.decode("utf-8", "surrogateescape")
    return "paths", read_path_list(io.StringIO(text))
