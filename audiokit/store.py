"""The HDF5 feature store: schema, atomic writer, validating reader, merge.

The schema is documented in ``docs/store-format.md``; :data:`FORMAT_VERSION` is
bumped whenever it changes. A store is written to a temporary file in the target's
directory and renamed over the target at the very end, so an interrupted run never
leaves a half store under the target name. ``-`` as target builds the file in a
:func:`audiokit.io.spool` (memory, then $TMPDIR) and writes its bytes to stdout; ``-`` as source spools
stdin the same way.

Examples
--------
>>> import numpy as np, tempfile, os
>>> from audiokit.features import FeatureConfig
>>> p = os.path.join(tempfile.mkdtemp(), "s.h5")
>>> cfg = FeatureConfig(kind="mfcc-stats")
>>> with StoreWriter(p, cfg) as w:
...     w.add(np.zeros(40, np.float32), label="a", path="x.wav")
>>> with open_store(p) as s:
...     (len(s), s.class_names, s.item_shape)
(1, ['a'], (40,))
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
from typing import Iterator, Sequence

import numpy as np

from audiokit import __version__
from audiokit.errors import ParameterError, StoreError, UsageError, os_reason
from audiokit.features import FeatureConfig
from audiokit.io import atomic_output, h5_text, open_h5

FORMAT = "audiokit-store"
FORMAT_VERSION = 2
#: Target size of a chunk of small feature vectors (bigger items get one chunk each).
CHUNK_BYTES = 1 << 16
#: Refuse stores whose features claim more elements than this (a hostile or broken header).
MAX_ELEMENTS = 2**34
#: Set once an HDF5 write failed in this process (a full disk, a quota). libhdf5 then crashes
#: (SIGSEGV) when that file is closed, even by the interpreter's teardown, so such a file is set
#: aside unclosed (:func:`hdf5_write_error`) and the CLI ends without the teardown
#: (:func:`audiokit.cli.main`); the temporary file is removed as for any other failure.
HDF5_WRITE_FAILED = False
_SET_ASIDE: list = []


def _h5():
    import h5py

    return h5py


def write_failure(exc: BaseException) -> OSError | None:
    """The system error behind a failed HDF5 write (h5py raises OSError, or RuntimeError with
    the errno in its text), or None when ``exc`` is something else."""
    if isinstance(exc, OSError) and exc.errno is not None:
        return exc
    if isinstance(exc, (OSError, RuntimeError)):
        import re

        m = re.search(r"errno = (\d+), error message = '([^']*)'", str(exc))
        if m:
            return OSError(int(m.group(1)), m.group(2))
    return None


def hdf5_write_error(exc: OSError, h5, path: str, what: str, error=StoreError):
    """The one-line error for an HDF5 write that failed (see :data:`HDF5_WRITE_FAILED`).

    Call it inside the ``except`` block, while the traceback still holds the frames that hold
    h5py objects: every object of the file still open is pinned (an extra HDF5 reference kept
    for the life of the process), so none is closed, and libhdf5 does not crash, when those
    frames are let go.
    """
    global HDF5_WRITE_FAILED
    HDF5_WRITE_FAILED = True
    if h5 is not None:
        _SET_ASIDE.append(h5)
        try:
            h5py = _h5()
            _SET_ASIDE.extend(h5py.h5f.get_obj_ids(h5.id, h5py.h5f.OBJ_ALL))
        except Exception:
            pass
    where = f" (buffered in {tempfile.gettempdir()} for the pipe; set TMPDIR to a larger disk)" if path == "-" else ""
    return error(f"cannot write the {what}: {os_reason(exc)}{where}", path=path)


def _str_dtype():
    return _h5().string_dtype("utf-8")


def _to_text(p: str) -> str:
    """A path as storable UTF-8 text; undecodable bytes become backslash escapes."""
    return os.fsencode(p).decode("utf-8", "backslashreplace") if isinstance(p, str) else str(p)


@contextlib.contextmanager
def _lock(target: str) -> Iterator[None]:
    """An exclusive advisory lock beside ``target`` (``.NAME.lock``), so that two ``--append``
    runs on one store take turns instead of both copying the old store and one winning."""
    import fcntl

    d, name = os.path.split(os.path.abspath(target))
    lock_path = os.path.join(d, f".{name}.lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


#: Oldest HDF5 file-format features a store uses: 1.8's, which allow attributes over 64 KiB
#: (long skip lists, long command lines in the provenance).
LIBVER = ("v108", "latest")


# -- how labels and groups were derived (attributes; docs/store-format.md) -------------------------
#: Where labels come from: the folders (``dir``), a regex on the file name, a manifest, or nowhere.
LABEL_SOURCES = ("dir", "regex", "manifest", "none")
#: Where groups come from: nowhere, a regex on the file name, a manifest's group column, or the
#: singer in the names of ``f0-range`` pairs.
GROUP_SOURCES = ("none", "regex", "manifest", "pairs")
LABELLING_KEYS = ("label_source", "label_regex", "label_map", "group_source", "group_regex")


def labelling(label_source: str, *, label_regex: str | None = None, label_map: dict | None = None,
              group_source: str = "none", group_regex: str | None = None) -> dict:
    """The record of how a store's labels and groups were derived (the attributes of
    :data:`LABELLING_KEYS`); a regex is kept only for its source, a map only for a labelled store."""
    if label_source not in LABEL_SOURCES:
        raise UsageError(f"unknown label source {label_source!r}")
    if group_source not in GROUP_SOURCES:
        raise UsageError(f"unknown group source {group_source!r}")
    return {"label_source": label_source,
            "label_regex": label_regex if label_source == "regex" else None,
            "label_map": dict(sorted(label_map.items())) if label_map and label_source != "none" else None,
            "group_source": group_source,
            "group_regex": group_regex if group_source == "regex" else None}


def _labelling_attr(key: str, value) -> str:
    if key == "label_map":
        return "" if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False)
    return "" if value is None else str(value)


def _read_labelling(attrs) -> dict | None:
    """The labelling attributes of a store, or ``None`` for a store written before them (or with
    values this version does not know: such a store, like an old one, takes any append)."""
    if "label_source" not in attrs:
        return None
    raw = {k: h5_text(attrs.get(k, "")) for k in LABELLING_KEYS}
    try:
        mapping = json.loads(raw["label_map"]) if raw["label_map"] else None
    except ValueError:
        return None
    if raw["label_source"] not in LABEL_SOURCES or raw["group_source"] not in GROUP_SOURCES \
            or not (mapping is None or isinstance(mapping, dict)):
        return None
    return {"label_source": raw["label_source"], "label_regex": raw["label_regex"] or None,
            "label_map": mapping, "group_source": raw["group_source"], "group_regex": raw["group_regex"] or None}


def _label_origin(lab: dict) -> str:
    return {"dir": "the folder names", "regex": f"the label regex '{lab['label_regex']}'",
            "manifest": "a manifest's label column", "none": "nowhere (unlabelled)"}[lab["label_source"]]


def _group_origin(lab: dict) -> str:
    return {"none": "nowhere (no groups)", "regex": f"the group regex '{lab['group_regex']}'",
            "manifest": "a manifest's group column",
            "pairs": "the singer's name of each low/high pair"}[lab["group_source"]]


def _map_text(m: dict | None) -> str:
    if not m:
        return "no label map"
    text = ",".join(f"{k}={v}" for k, v in m.items())
    return f"the label map {text if len(text) <= 60 else text[:57] + '...'}"


def labelling_difference(a: dict, b: dict, where_a: str, where_b: str) -> str | None:
    """One clause saying how two labelling records differ (labels first, then the label map, then
    groups), e.g. ``labels come from the label regex '^(\\d)_' in the store, from the folder names
    here; give the same label options``; ``None`` when they agree."""
    if (a["label_source"], a["label_regex"]) != (b["label_source"], b["label_regex"]):
        return (f"labels come from {_label_origin(a)} {where_a}, from {_label_origin(b)} {where_b}; "
                "give the same label options")
    if (a["label_map"] or None) != (b["label_map"] or None):
        return (f"labels are renamed by {_map_text(a['label_map'])} {where_a}, by {_map_text(b['label_map'])} "
                f"{where_b}; give the same label map")
    if (a["group_source"], a["group_regex"]) != (b["group_source"], b["group_regex"]):
        return (f"groups come from {_group_origin(a)} {where_a}, from {_group_origin(b)} {where_b}; "
                "give the same group options")
    return None


class StoreWriter:
    """Write a store item by item; use as a context manager.

    Parameters
    ----------
    target : str
        The store's path, or ``-`` for stdout.
    config : FeatureConfig
        The feature settings (stored as an attribute; appending needs an equal one).
    append : bool
        Add to an existing store at ``target`` (same configuration, else :class:`StoreError`).
    provenance : dict
        Extra JSON-able facts recorded in the ``provenance`` attribute (command line, label source).
    labelling : dict
        How labels and groups were derived (:func:`labelling`), recorded as attributes; appending
        needs the same as the store's (a store without them takes any).
    shards : int
        ``n`` of ``--shard i/n``: the items carry their ``index`` in the full input list, recorded
        with it so that :func:`merge` puts shards back in input order.
    """

    def __init__(self, target: str, config: FeatureConfig, *, append: bool = False,
                 provenance: dict | None = None, stdout=None, labelling: dict | None = None,
                 shards: int | None = None):
        if append and target == "-":
            raise UsageError("cannot append to '-' (stdout); give the store's file name")
        self.config = config
        self.append = append and os.path.exists(target)
        self.provenance = dict(provenance or {})
        self.labelling = labelling
        self.shards = shards
        self._index: list[int] = []
        self._labels: list[str | None] = []
        self._paths: list[str] = []
        self._paths2: list[str] = []
        self._groups: list[str | None] = []
        self._folds: list[int] = []
        self._durations: list[float] = []
        self.skipped: list[dict] = []
        self._seen: set[tuple[str, str]] = set()  # (path, path2) of every item, to refuse duplicates
        self._n = 0
        self._ds = None
        self._h5 = None
        with contextlib.ExitStack() as stack:
            if append:
                # Lock before looking: two appending runs on a store that does not exist yet would
                # otherwise both create it, and the later rename would drop the other's items.
                stack.enter_context(_lock(target))
                self.append = os.path.exists(target)
            # Unwound on leaving the writer, last in first out: the HDF5 file is closed, the
            # temporary file renamed over the target (or removed on any exception), the lock released.
            self._target = stack.enter_context(atomic_output(target, stdout=stdout, seekable=True))
            stack.callback(self._close_h5)
            if self.append:
                self._open_for_append(target)
            else:
                self._h5 = _h5().File(self._target.file, "w", libver=LIBVER)
            self._stack = stack.pop_all()

    # -- set-up ------------------------------------------------------------------
    def _open_for_append(self, target: str) -> None:
        import shutil

        with open_store(target) as old:
            diff = old.config.differences(self.config)
            if diff:
                detail = ", ".join(f"{k} (store {old.config.to_dict().get(k)!r}, new {self.config.to_dict().get(k)!r})"
                                   for k in diff)
                raise StoreError(f"cannot append: feature configuration differs in {detail}", path=target)
            if old.labelling is not None and self.labelling is not None:
                why = labelling_difference(old.labelling, self.labelling, "in the store", "here")
                if why:
                    raise StoreError(f"cannot append: {why}", path=target)
            self._old_classes = list(old.class_names)
            self._old_n = len(old)
            self._old_skipped = old.skipped
            self._has_paths2 = old.paths2 is not None
            self._seen = set(zip(old.paths, old.paths2 or [""] * len(old)))
        shutil.copyfile(target, self._target.file)
        self._h5 = _h5().File(self._target.file, "a")
        self._ds = self._h5["features"]
        self._n = self._old_n

    def _create_features(self, shape: tuple[int, ...], dtype) -> None:
        # One item per chunk, so reading any item (a training batch) decompresses only that item;
        # small items (feature vectors under 4 KiB) are grouped up to ~64 KiB per chunk instead,
        # since a chunk per 160-byte vector would cost more in chunk index than in data.
        item_bytes = max(1, int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize)
        rows = 1 if item_bytes >= 4096 else int(min(1024, CHUNK_BYTES // item_bytes))
        self._ds = self._h5.create_dataset(
            "features", shape=(0, *shape), maxshape=(None, *shape), dtype=dtype,
            chunks=(rows, *shape), compression="gzip", compression_opts=1, shuffle=True)

    # -- writing -------------------------------------------------------------------
    def add(self, features: np.ndarray, *, label: str | None, path: str, group: str | None = None,
            fold: int | None = None, duration: float = float("nan"), path2: str | None = None,
            index: int | None = None) -> None:
        """Append one item; ``index``: its position in the full input list (``shards``)."""
        x = np.asarray(features, dtype=np.float32)
        key = (_to_text(path), _to_text(path2) if path2 is not None else "")
        if key in self._seen:
            raise StoreError("is already in the store (the same input twice: check the store appended to, "
                             "the stores merged and overlapping inputs)", path=path)
        if not np.isfinite(x).all():
            raise StoreError("features contain NaN or infinite values", path=path)
        try:
            if self._ds is None:
                self._create_features(x.shape, np.float32)
            if x.shape != self._ds.shape[1:]:
                raise StoreError(f"features of shape {x.shape} do not match the store's {self._ds.shape[1:]}",
                                 path=path)
            if self._n >= self._ds.shape[0]:
                self._ds.resize(self._n + max(64, self._n // 4), axis=0)
            self._ds[self._n] = x
        except (OSError, RuntimeError) as exc:
            failure = write_failure(exc)
            if failure is None:
                raise
            raise self._write_failed(failure) from None
        self._seen.add(key)
        self._n += 1
        self._labels.append(label)
        self._paths.append(_to_text(path))
        self._paths2.append(_to_text(path2) if path2 is not None else "")
        self._groups.append(group)
        self._folds.append(-1 if fold is None else int(fold))
        self._durations.append(float(duration))
        self._index.append(-1 if index is None else int(index))

    def skip(self, path: str, reason: str) -> None:
        """Record an input left out (``--skip-errors``); kept in the ``skipped`` attribute."""
        self.skipped.append({"path": _to_text(path), "reason": reason})

    def __len__(self) -> int:
        return self._n

    @property
    def added(self) -> int:
        """Items added by this writer (not counting those of the store appended to)."""
        return self._n - (self._old_n if self.append else 0)

    def _extend(self, name: str, values: Sequence, dtype) -> None:
        values = np.asarray(values, dtype=dtype) if dtype is not _str_dtype else values
        if self.append and name in self._h5:
            ds = self._h5[name]
            old = ds.shape[0]
            ds.resize(old + len(values), axis=0)
            ds[old:] = values
        elif self.append:
            raise StoreError(f"store lacks the '{name}' dataset; cannot append", path=self._target.target)
        else:
            kw = dict(maxshape=(None,), chunks=True) if len(values) else dict(maxshape=(None,))
            self._h5.create_dataset(name, data=values, dtype=dtype, **kw)

    def _write_failed(self, exc: OSError) -> StoreError:
        h5, ds, self._h5, self._ds = self._h5, self._ds, None, None  # set aside, never closed
        _SET_ASIDE.append(ds)
        return hdf5_write_error(exc, h5, self._target.target, "store")

    def _finish(self) -> None:
        if self._ds is None:
            raise StoreError("no item could be featurized; no store written", path=self._target.target)
        try:
            self._write_all()
        except (OSError, RuntimeError) as exc:
            failure = write_failure(exc)
            if failure is None:
                raise
            raise self._write_failed(failure) from None
        self._h5 = None

    def _write_all(self) -> None:
        h5 = self._h5
        self._ds.resize(self._n, axis=0)
        old_classes = self._old_classes if self.append else []
        new = sorted({lb for lb in self._labels if lb is not None} - set(old_classes))
        classes = old_classes + new
        index = {c: i for i, c in enumerate(classes)}
        labels = [(-1 if lb is None else index[lb]) for lb in self._labels]
        sd = _str_dtype()
        if "class_names" in h5:
            del h5["class_names"]
        h5.create_dataset("class_names", data=np.array(classes, dtype=object), dtype=sd)
        self._extend("labels", labels, np.int64)
        self._extend("paths", np.array(self._paths, dtype=object), sd)
        self._extend("durations", self._durations, np.float64)
        self._extend("folds", self._folds, np.int64)
        if self.append:
            if "input_index" in h5:
                self._extend("input_index", self._index, np.int64)
        elif self.shards is not None:
            self._extend("input_index", self._index, np.int64)
            h5.attrs["shards"] = int(self.shards)
        have_groups = any(g is not None for g in self._groups)
        groups = np.array([g or "" for g in self._groups], dtype=object)
        if self.append:
            if "groups" in h5:
                self._extend("groups", groups, sd)
            elif have_groups:
                raise StoreError("the store has no groups; cannot append items with groups", path=self._target.target)
        elif have_groups:
            h5.create_dataset("groups", data=groups, dtype=sd, maxshape=(None,), chunks=True)
        if self.config.kind == "f0-range" and (not self.append or self._has_paths2):
            self._extend("paths2", np.array(self._paths2, dtype=object), sd)
        skipped = (self._old_skipped if self.append else []) + self.skipped
        a = h5.attrs
        a["format"] = FORMAT
        a["format_version"] = FORMAT_VERSION
        a["audiokit_version"] = __version__
        a["feature_config"] = self.config.to_json()
        a["feature_kind"] = self.config.kind
        if not self.append and self.labelling is not None:
            for k, v in self.labelling.items():
                a[k] = _labelling_attr(k, v)
        a["n_skipped"] = len(skipped)
        a["skipped"] = json.dumps(skipped)
        if not self.append:
            a["created"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        history = json.loads(a.get("provenance", "[]")) if self.append else []
        history.append({**self.provenance, "added": self._n - (self._old_n if self.append else 0),
                        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        a["provenance"] = json.dumps(history)
        h5.close()

    def _close_h5(self) -> None:
        if self._h5 is not None:
            with contextlib.suppress(Exception):
                self._h5.close()
            self._h5 = None

    def __enter__(self) -> "StoreWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        # The store is committed when the block and the final writes succeed; anything raised
        # in either (Ctrl-C included) reaches atomic_output, which removes the temporary file.
        if exc_type is None:
            try:
                self._finish()
            except BaseException:
                if not self._stack.__exit__(*sys.exc_info()):
                    raise
                return True
        return self._stack.__exit__(exc_type, exc, tb)


class Store:
    """A read-only view of a store. Small per-item arrays are loaded; features stay on disk
    until :meth:`load_features` (or :attr:`X`) reads them."""

    def __init__(self, h5, name: str, *, keep_open=None):
        try:
            self._read(h5, name, keep_open)
        except StoreError:
            raise
        except Exception as exc:  # a damaged file fails deep inside HDF5 (KeyError, RuntimeError, OSError)
            raise StoreError(f"corrupt store ({type(exc).__name__}: {exc})", path=name) from exc

    def _read(self, h5, name: str, keep_open) -> None:
        self._h5 = h5
        self._keep = keep_open
        self.name = name
        a = h5.attrs
        fmt = h5_text(a.get("format"))
        if fmt != FORMAT:
            raise StoreError("not an audiokit feature store" + (f" (format {fmt!r})" if fmt else ""), path=name)
        version = int(a.get("format_version", 0))
        if version > FORMAT_VERSION:
            raise StoreError(f"store format version {version} is newer than this audiokit reads "
                             f"({FORMAT_VERSION}); upgrade audiokit", path=name)
        _check_datasets(h5, name)
        try:
            self.config = FeatureConfig.from_json(h5_text(a["feature_config"]))
        except Exception as exc:
            raise StoreError(f"unreadable feature configuration ({exc})", path=name) from exc
        for need in ("features", "labels", "paths", "class_names"):
            if need not in h5 or not isinstance(h5[need], _h5().Dataset):
                raise StoreError(f"store lacks the '{need}' dataset", path=name)
        self.features = h5["features"]
        if self.features.ndim < 1 or int(np.prod(self.features.shape, dtype=np.float64)) > MAX_ELEMENTS:
            raise StoreError(f"implausible feature shape {self.features.shape}", path=name)
        n = self.features.shape[0]
        self.version = version
        self.audiokit_version = h5_text(a.get("audiokit_version", "?"))
        self.class_names = [h5_text(c) for c in h5["class_names"][:]]
        if len(set(self.class_names)) != len(self.class_names):
            raise StoreError("class_names has duplicates", path=name)
        self.labels = self._vector("labels", n).astype(np.int64)
        if self.labels.size and (self.labels.max(initial=-1) >= len(self.class_names) or self.labels.min() < -1):
            raise StoreError("labels out of range of class_names", path=name)
        self.paths = [h5_text(p) for p in self._vector("paths", n)]
        self.paths2 = [h5_text(p) for p in self._vector("paths2", n)] if "paths2" in h5 else None
        self.groups = (np.array([h5_text(g) for g in self._vector("groups", n)], dtype=object)
                       if "groups" in h5 else None)
        folds = self._vector("folds", n).astype(np.int64) if "folds" in h5 else None
        self.folds = folds if folds is not None and (folds >= 0).any() else None
        self.durations = self._vector("durations", n).astype(np.float64) if "durations" in h5 else np.full(n, np.nan)
        self.skipped = _records(a, "skipped", name)
        self.provenance = _records(a, "provenance", name)
        self.created = h5_text(a.get("created", ""))
        self.labelling = _read_labelling(a)
        try:  # shards of one --shard run: the items' indices in the full input list (merge's order)
            shards = int(a["shards"]) if "shards" in a and "input_index" in h5 else None
        except (TypeError, ValueError):
            shards = None
        self.shards = shards if shards is not None and shards >= 1 else None
        self.input_index = self._vector("input_index", n).astype(np.int64) if self.shards is not None else None

    def _vector(self, name: str, n: int) -> np.ndarray:
        ds = self._h5[name]
        if ds.ndim != 1 or ds.shape[0] != n:
            raise StoreError(f"dataset '{name}' has {ds.shape[0] if ds.ndim else 0} entries but there are "
                             f"{n} feature items", path=self.name)
        return ds[:]

    def __len__(self) -> int:
        return int(self.features.shape[0])

    @property
    def item_shape(self) -> tuple[int, ...]:
        return tuple(self.features.shape[1:])

    @property
    def labelled(self) -> np.ndarray:
        """Boolean mask of items that have a label."""
        return self.labels >= 0

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.labels[self.labels >= 0], minlength=len(self.class_names))
        return {c: int(k) for c, k in zip(self.class_names, counts)}

    def group_counts(self) -> dict[str, int]:
        """Items per group (speaker, actor, singer), groups sorted by name; ``{}`` without groups.
        Items without a group (``""``) are not counted."""
        if self.groups is None:
            return {}
        names, counts = np.unique(np.array([g for g in self.groups if g], dtype=str), return_counts=True)
        return {str(g): int(k) for g, k in zip(names, counts)}

    def load_features(self, index: np.ndarray | None = None) -> np.ndarray:
        """Features as a float32 array, all items or those in ``index`` (sorted reads)."""
        try:
            if index is None:
                return np.asarray(self.features[()], dtype=np.float32)
            index = np.asarray(index)
            if index.dtype == bool:
                index = np.flatnonzero(index)
            index = index.astype(np.int64).ravel()
            n = len(self)
            if index.size and (index.min() < -n or index.max() >= n):
                raise IndexError(f"index out of range for {n} items")
            index = np.where(index < 0, index + n, index)
            # h5py reads only increasing, distinct indices: read each needed item once, in order,
            # then put them where they were asked for (any order, repeats allowed).
            uniq, inverse = np.unique(index, return_inverse=True)
            if not uniq.size:
                return np.empty((0, *self.item_shape), dtype=np.float32)
            return np.asarray(self.features[uniq], dtype=np.float32)[inverse]
        except (OSError, ValueError) as exc:
            raise StoreError(f"cannot read features ({exc})", path=self.name) from exc

    @property
    def X(self) -> np.ndarray:
        """All features flattened to ``(N, D)`` float32, with non-finite values refused."""
        x = self.load_features().reshape(len(self), -1)
        if not np.isfinite(x).all():
            raise StoreError("features contain NaN or infinite values", path=self.name)
        return x

    def close(self) -> None:
        if self._h5 is not None:
            with contextlib.suppress(Exception):
                self._h5.close()
            self._h5 = None

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


#: The datasets a store may have; every one the reader uses is checked by :func:`_check_datasets`.
DATASETS = ("features", "labels", "paths", "paths2", "class_names", "groups", "folds", "durations", "input_index")
#: Largest total of dataset bytes a store may claim relative to its size (gzip stays far below).
MAX_EXPANSION = 1000


def _check_datasets(h5, name: str) -> None:
    """Refuse what a hostile or damaged store could use against the reader, before reading any
    data: links (to other files, or loops), datasets stored in other files (external raw
    storage, virtual datasets: reading them would read arbitrary local files), non-numeric
    features, and sizes the file cannot hold (a 20 KB file claiming 10^9 items would make the
    reader allocate tens of GB)."""
    h5py = _h5()
    budget = MAX_EXPANSION * max(_file_size(h5), 1 << 20)
    total = 0
    for key in DATASETS:
        link = h5.get(key, getlink=True)
        if link is None:
            continue
        if not isinstance(link, h5py.HardLink):
            raise StoreError(f"refusing '{key}': a link to {'another file' if isinstance(link, h5py.ExternalLink) else 'another object'}; "
                             "stores hold their own datasets", path=name)
        ds = h5[key]
        if not isinstance(ds, h5py.Dataset):
            raise StoreError(f"'{key}' is not a dataset", path=name)
        if ds.external or ds.is_virtual:
            raise StoreError(f"refusing '{key}': its data lives in other files", path=name)
        if key in ("features", "labels", "folds", "durations", "input_index") and ds.dtype.kind not in "biuf":
            raise StoreError(f"dataset '{key}' has non-numeric type {ds.dtype}", path=name)
        total += int(np.prod(ds.shape, dtype=np.float64)) * max(ds.dtype.itemsize, 1)
        if total > budget:
            raise StoreError(f"dataset '{key}' of shape {ds.shape} claims more data than a file of "
                             f"{_file_size(h5)} bytes can hold; refusing it", path=name)


def _file_size(h5) -> int:
    try:
        return int(h5.id.get_filesize())
    except Exception:
        return 0


def _records(attrs, key: str, name: str) -> list[dict]:
    """A JSON attribute that must be a list of objects (``skipped``, ``provenance``)."""
    try:
        v = json.loads(h5_text(attrs.get(key, "[]")))
    except ValueError:
        v = None
    if not isinstance(v, list) or not all(isinstance(r, dict) for r in v):
        raise StoreError(f"unreadable '{key}' attribute (not a JSON list of records)", path=name)
    return v


def open_store(path: str, *, stdin=None) -> Store:
    """Open and validate a store (``-``: read it from stdin)."""
    h5, name = open_h5(path, what="feature store", stdin=stdin)
    try:
        return Store(h5, name)
    except StoreError:
        h5.close()
        raise
    except Exception as exc:
        h5.close()
        raise StoreError(f"corrupt store ({type(exc).__name__}: {exc})", path=name) from exc


def merge(sources: Sequence[str], target: str, *, stdout=None, chunk: int = 256) -> int:
    """Join stores of one feature configuration (shards) into ``target``; returns the item count.

    Class names are unified (each label keeps its name); groups, folds and skipped lists carry over.
    Shards of one ``--shard i/n`` run (every source with ``input_index`` and the same ``shards``)
    are joined in input order, so the result holds the items in the order one unsharded run
    gives; other stores are joined one after the other. Stores that record different labelling
    (:func:`labelling`) are refused.
    """
    if len(sources) < 1:
        raise ParameterError("sources", "must name at least one store")
    stores = []
    try:
        for src in sources:
            stores.append(open_store(src))
        first = stores[0]
        for s in stores[1:]:
            diff = first.config.differences(s.config)
            if diff:
                raise StoreError(f"cannot merge: feature configuration differs from {first.name} in "
                                 f"{', '.join(diff)}", path=s.name)
            if s.item_shape != first.item_shape:
                raise StoreError(f"cannot merge: item shape {s.item_shape} differs from {first.item_shape}",
                                 path=s.name)
            if first.labelling is not None and s.labelling is not None:
                why = labelling_difference(first.labelling, s.labelling, f"in {first.name}", "in this store")
                if why:
                    raise StoreError(f"cannot merge: {why}", path=s.name)
        known = [s.labelling for s in stores]
        lab = known[0] if all(x is not None for x in known) else None
        shards = {s.shards for s in stores}
        in_order = len(shards) == 1 and None not in shards
        # (source, row) of every item, in the order they are written
        rows = [(k, i) for k, s in enumerate(stores) for i in range(len(s))]
        if in_order:
            rows.sort(key=lambda r: (int(stores[r[0]].input_index[r[1]]), r[0], r[1]))
        blocks: dict[int, tuple[int, np.ndarray]] = {}  # source → (first row, a block of its features)

        def feature(k: int, i: int) -> np.ndarray:
            start, block = blocks.get(k, (-1, None))
            if block is None or not start <= i < start + len(block):
                start = i
                block = stores[k].features[i:i + chunk]
                blocks[k] = (start, block)
            return block[i - start]

        with StoreWriter(target, first.config, provenance={"merged": [s.name for s in stores]},
                         stdout=stdout, labelling=lab, shards=shards.pop() if in_order else None) as w:
            for k, i in rows:
                s = stores[k]
                lb = s.labels[i]
                w.add(feature(k, i), label=None if lb < 0 else s.class_names[lb], path=s.paths[i],
                      group=(s.groups[i] or None) if s.groups is not None else None,
                      fold=int(s.folds[i]) if s.folds is not None and s.folds[i] >= 0 else None,
                      duration=float(s.durations[i]), path2=s.paths2[i] if s.paths2 else None,
                      index=int(s.input_index[i]) if in_order else None)
            for s in stores:
                for sk in s.skipped:
                    w.skip(sk.get("path", "?"), sk.get("reason", "?"))
            return len(w)
    finally:
        for s in stores:
            s.close()
