"""Hostile and damaged feature stores and model files, made from a good one at test time.

Each builder copies a good file and changes one thing an attacker (or a broken disk) could
change: a payload that would run code if unpickled, links and storage pointing to other files,
sizes the file cannot hold, lengths that disagree, truncation and bit flips. Every variant must
be refused by audiokit's readers with one clear reason, without running code and without
allocating memory in proportion to what the file claims.

The pickle payloads create a marker file when unpickled (:func:`payload`), so a test can
assert that nothing ever ran them.
"""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import numpy as np


class _Payload:
    """Unpickling this runs ``open(marker, "w")`` — the side effect the tests look for."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def payload(marker: str | os.PathLike) -> bytes:
    """Pickle bytes whose unpickling creates ``marker``."""
    return pickle.dumps(_Payload(os.fspath(marker)))


def _variant(good: Path, out: Path, edit) -> Path:
    import h5py

    shutil.copy(good, out)
    with h5py.File(out, "a") as h:
        edit(h)
    return out


def _replace(h, key: str, **kw) -> None:
    del h[key]
    h.create_dataset(key, **kw)


def stores(good: str | os.PathLike, d: str | os.PathLike, marker: str | os.PathLike) -> dict[str, tuple[Path, str]]:
    """Hostile variants of the good store ``good`` in directory ``d``: ``{name: (path, reason)}``,
    ``reason`` being a fragment of the refusal each must get."""
    import h5py

    good, d = Path(good), Path(d)
    d.mkdir(parents=True, exist_ok=True)
    pk = payload(marker)
    n = h5py.File(good, "r")["features"].shape[0]
    out: dict[str, tuple[Path, str]] = {}

    def add(name, reason, edit):
        out[name] = (_variant(good, d / f"{name}.h5", edit), reason)

    add("absurd_features", "claims more data than a file",
        lambda h: _replace(h, "features", shape=(10**12 // 40, 40), dtype="f4", chunks=(1, 40)))
    # 3e9 items everywhere: consistent lengths, so only the size check stands between the reader
    # and a 22 GB allocation (a reader that trusted it would be OOM-killed on this 20 KB file).
    add("absurd_items", "claims more data than a file", lambda h: [
        _replace(h, "features", shape=(3 * 10**9, 1), dtype="f4", chunks=(1 << 16, 1)),
        _replace(h, "labels", shape=(3 * 10**9,), dtype="i8", chunks=(1 << 16,)),
        _replace(h, "paths", shape=(3 * 10**9,), dtype=h5py.string_dtype(), chunks=(1 << 16,))])
    add("mismatched_lengths", "has 3 entries but there are", lambda h: _replace(h, "labels", data=np.zeros(3, "i8")))
    add("labels_out_of_range", "labels out of range", lambda h: _replace(h, "labels", data=np.full(n, 99, "i8")))
    add("external_link", "a link to another file", lambda h: (
        h.__delitem__("features"), h.__setitem__("features", h5py.ExternalLink(str(good.resolve()), "/features"))))
    add("soft_link_loop", "a link to another object", lambda h: (
        h.__delitem__("features"), h.__setitem__("features", h5py.SoftLink("/features"))))
    add("external_raw_storage", "its data lives in other files", lambda h: _replace(
        h, "features", shape=(n, 40), dtype="f4", external=[("/etc/passwd", 0, h5py.h5f.UNLIMITED)]))
    ragged = np.empty(n, dtype=object)  # each item the pickle's bytes, as a variable-length array
    ragged[:] = [np.frombuffer(pk, "u1")] * n
    add("object_features", "non-numeric type",
        lambda h: _replace(h, "features", data=ragged, dtype=h5py.vlen_dtype(np.dtype("u1"))))
    add("opaque_pickle_features", "non-numeric type", lambda h: _replace(
        h, "features", data=np.array([np.void(pk)] * n)))
    add("pickled_config_attribute", "unreadable feature configuration",
        lambda h: h.attrs.__setitem__("feature_config", np.void(pk)))
    add("newer_version", "newer than this audiokit reads", lambda h: h.attrs.__setitem__("format_version", 99))
    add("not_a_store", "not an audiokit", lambda h: h.attrs.__setitem__("format", "something-else"))
    add("missing_labels", "lacks the 'labels' dataset", lambda h: h.__delitem__("labels"))
    _not_hdf5(d, good, pk, out)
    p = d / "empty.h5"
    p.write_bytes(b"")
    out["empty"] = (p, "not HDF5, or truncated")
    return out


def models(good: str | os.PathLike, d: str | os.PathLike, marker: str | os.PathLike) -> dict[str, tuple[Path, str]]:
    """Hostile variants of the good classic (KNN) model file ``good``: ``{name: (path, reason)}``."""
    import h5py

    good, d = Path(good), Path(d)
    d.mkdir(parents=True, exist_ok=True)
    pk = payload(marker)
    out: dict[str, tuple[Path, str]] = {}

    def add(name, reason, edit):
        out[name] = (_variant(good, d / f"{name}.h5", edit), reason)

    x = "arrays/fit_X"
    add("pickle_in_attribute", "unreadable model metadata", lambda h: h.attrs.__setitem__("params", np.void(pk)))
    add("pickle_as_opaque_array", "non-numeric dtype", lambda h: _replace(h, x, data=np.void(pk)))
    ragged = np.empty(2, dtype=object)
    ragged[:] = [np.frombuffer(pk, "u1"), np.zeros(1, "u1")]
    add("pickle_as_object_array", "non-numeric dtype",
        lambda h: _replace(h, x, data=ragged, dtype=h5py.vlen_dtype(np.dtype("u1"))))
    add("string_array", "non-numeric dtype", lambda h: _replace(h, x, data=np.array(["a", "b"], dtype=object),
                                                                dtype=h5py.string_dtype()))
    add("external_link", "refusing link", lambda h: (
        h["arrays"].__delitem__("fit_X"),
        h["arrays"].__setitem__("fit_X", h5py.ExternalLink(str(good.resolve()), "/arrays/fit_X"))))
    add("external_raw_storage", "lives in an external file", lambda h: _replace(
        h, x, shape=(4, 40), dtype="f4", external=[("/etc/passwd", 0, h5py.h5f.UNLIMITED)]))
    add("absurd_shape", "more than the file can hold",
        lambda h: _replace(h, x, shape=(10**12 // 40, 40), dtype="f4", chunks=(1, 40)))
    add("nan_weights", "NaN or infinite", lambda h: _replace(h, x, data=np.full(h[x].shape, np.nan, "f4")))
    add("unknown_kind", "unknown model kind", lambda h: h.attrs.__setitem__("kind", "evil"))
    add("newer_version", "newer than this audiokit reads", lambda h: h.attrs.__setitem__("format_version", 99))
    add("a_store", "store", lambda h: h.attrs.__setitem__("format", "audiokit-store"))
    _not_hdf5(d, good, pk, out)
    return out


def damaged(raw: bytes, rng: np.random.Generator) -> bytes:
    """One random damage of a file's bytes: bit flips, a truncation, or a run of random bytes."""
    b = bytearray(raw)
    mode = int(rng.integers(0, 3))
    if mode == 0:
        for pos in rng.integers(0, len(b), int(rng.integers(1, 20))):
            b[pos] ^= 1 << int(rng.integers(0, 8))
    elif mode == 1:
        b = b[: int(rng.integers(0, len(b)))]
    else:
        pos = int(rng.integers(0, max(1, len(b) - 8)))
        b[pos:pos + 8] = rng.bytes(8)
    return bytes(b)


def _not_hdf5(d: Path, good: Path, pk: bytes, out: dict) -> None:
    """The two variants that are not HDF5 at all, for stores and models alike: ``good`` cut in
    half, and a bare pickle named ``.h5``."""
    raw = good.read_bytes()
    for name, data in (("truncated", raw[: len(raw) // 2]), ("pickle_file", pk)):
        p = d / f"{name}.h5"
        p.write_bytes(data)
        out[name] = (p, "not HDF5, or truncated")
