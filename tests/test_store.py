"""audiokit.store: the HDF5 store's schema, atomic writes, append, merge, and refusing bad stores."""

from __future__ import annotations

import io
import json
import os

import h5py
import numpy as np
import pytest

from audiokit import __version__
from audiokit.errors import StoreError, UsageError
from audiokit.features import FeatureConfig
from audiokit.store import FORMAT_VERSION, StoreWriter, merge, open_store

CFG = FeatureConfig(kind="mfcc-stats", n_mfcc=3)


def _write(path, rows, cfg=CFG, **kw):
    """rows: (label, path, group, fold) → a store with features [i, i+.5, …]."""
    with StoreWriter(str(path), cfg, **kw) as w:
        for i, (label, p, group, fold) in enumerate(rows):
            w.add(np.full(6, i, np.float32) + np.arange(6) / 2, label=label, path=p, group=group, fold=fold,
                  duration=1.0 + i)
    return path


def _leftovers(d):
    return sorted(n for n in os.listdir(d) if n.endswith(".tmp"))


def test_round_trip_of_every_field(tmp_path):
    p = _write(tmp_path / "s.h5", [("violin", "a/1.wav", "p1", 0), ("cello", "données/2 é.wav", "p2", 1),
                                   (None, "x.wav", None, None)])
    with open_store(str(p)) as s:
        assert len(s) == 3 and s.item_shape == (6,) and s.features.dtype == np.float32
        assert s.class_names == ["cello", "violin"]  # sorted
        assert list(s.labels) == [1, 0, -1] and list(s.labelled) == [True, True, False]
        assert s.paths == ["a/1.wav", "données/2 é.wav", "x.wav"]
        assert list(s.groups) == ["p1", "p2", ""] and list(s.folds) == [0, 1, -1]
        assert list(s.durations) == [1.0, 2.0, 3.0]
        assert s.config == CFG and s.version == FORMAT_VERSION and s.audiokit_version == __version__
        assert s.class_counts() == {"cello": 1, "violin": 1}
        assert s.X.shape == (3, 6) and s.X[1, 0] == 1.0
    with h5py.File(p) as h5:  # the documented layout (docs/store-format.md)
        assert h5.attrs["format"] == "audiokit-store" and h5.attrs["n_skipped"] == 0
        assert json.loads(h5.attrs["feature_config"])["kind"] == "mfcc-stats"
        assert {"features", "labels", "class_names", "paths", "groups", "folds", "durations"} <= set(h5)
        assert h5["features"].compression == "gzip"


def test_unlabelled_store(tmp_path):
    p = _write(tmp_path / "u.h5", [(None, "a.wav", None, None), (None, "b.wav", None, None)])
    with open_store(str(p)) as s:
        assert s.class_names == [] and list(s.labels) == [-1, -1] and s.groups is None and s.folds is None


def test_load_features_any_order_with_repeats(tmp_path):
    p = _write(tmp_path / "s.h5", [(str(i % 2), f"{i}.wav", None, None) for i in range(5)])
    with open_store(str(p)) as s:
        got = s.load_features(np.array([4, 0, 4, 2, -1]))
        assert list(got[:, 0]) == [4, 0, 4, 2, 4]
        assert s.load_features(np.array([], dtype=int)).shape == (0, 6)
        assert list(s.load_features(s.labels == 1)[:, 0]) == [1, 3]


def test_logmel_items_get_a_chunk_each_and_vectors_share_chunks(tmp_path):
    p = tmp_path / "big.h5"
    with StoreWriter(str(p), FeatureConfig(kind="logmel", duration=1.0)) as w:
        w.add(np.zeros((128, 44), np.float32), label="a", path="a.wav")
    _write(tmp_path / "small.h5", [("a", "a.wav", None, None)])
    with h5py.File(p) as a, h5py.File(tmp_path / "small.h5") as b:
        assert a["features"].chunks == (1, 128, 44)
        assert b["features"].chunks[0] > 1


def test_append_extends_classes_and_keeps_old_indices(tmp_path):
    p = _write(tmp_path / "s.h5", [("b", "1.wav", None, None), ("c", "2.wav", None, None)])
    _write(p, [("a", "3.wav", None, None), ("c", "4.wav", None, None)], append=True)
    with open_store(str(p)) as s:
        assert s.class_names == ["b", "c", "a"]  # new classes go at the end
        assert [s.class_names[i] for i in s.labels] == ["b", "c", "a", "c"]
        assert s.paths == ["1.wav", "2.wav", "3.wav", "4.wav"]
        assert len(s.provenance) == 2
    assert _leftovers(tmp_path) == []


def test_append_refuses_another_configuration_and_duplicates(tmp_path):
    p = _write(tmp_path / "s.h5", [("b", "1.wav", None, None)])
    before = p.read_bytes()
    with pytest.raises(StoreError, match=r"configuration differs in n_mfcc \(store 3, new 4\)"):
        _write(p, [("a", "2.wav", None, None)], cfg=CFG.replace(n_mfcc=4), append=True)
    with pytest.raises(StoreError, match="already in the store") as ei:
        _write(p, [("a", "1.wav", None, None)], append=True)
    assert ei.value.path == "1.wav"
    assert p.read_bytes() == before and _leftovers(tmp_path) == []
    with pytest.raises(UsageError):
        StoreWriter("-", CFG, append=True)


def test_merge_joins_shards_and_refuses_mixed_configurations(tmp_path):
    a = _write(tmp_path / "a.h5", [("x", "1.wav", "g1", None), ("y", "2.wav", "g2", None)])
    b = _write(tmp_path / "b.h5", [("z", "3.wav", None, None), ("x", "4.wav", None, None)])
    with StoreWriter(str(b), CFG, append=True) as w:
        w.skip("5.wav", "empty file (0 bytes)")
    n = merge([str(a), str(b)], str(tmp_path / "all.h5"))
    assert n == 4
    with open_store(str(tmp_path / "all.h5")) as s:
        assert s.class_names == ["x", "y", "z"]
        assert [s.class_names[i] for i in s.labels] == ["x", "y", "z", "x"]
        assert list(s.groups) == ["g1", "g2", "", ""]
        assert list(s.load_features()[:, 0]) == [0, 1, 0, 1]
        assert s.skipped == [{"path": "5.wav", "reason": "empty file (0 bytes)"}]
    c = _write(tmp_path / "c.h5", [("x", "9.wav", None, None)], cfg=CFG.replace(n_mfcc=4))
    with pytest.raises(StoreError, match="differs"):
        merge([str(a), str(c)], str(tmp_path / "bad.h5"))
    with pytest.raises(StoreError, match="already in the store"):
        merge([str(a), str(a)], str(tmp_path / "twice.h5"))
    assert not (tmp_path / "bad.h5").exists() and not (tmp_path / "twice.h5").exists()
    assert _leftovers(tmp_path) == []


def test_an_exception_leaves_no_file_and_keeps_the_old_one(tmp_path):
    p = tmp_path / "s.h5"
    with pytest.raises(RuntimeError):
        with StoreWriter(str(p), CFG) as w:
            w.add(np.zeros(6), label="a", path="a.wav")
            raise RuntimeError("crash in the middle")
    assert os.listdir(tmp_path) == []
    _write(p, [("a", "a.wav", None, None)])
    before = p.read_bytes()
    with pytest.raises(KeyboardInterrupt):
        with StoreWriter(str(p), CFG) as w:
            w.add(np.zeros(6), label="b", path="b.wav")
            raise KeyboardInterrupt
    assert p.read_bytes() == before and _leftovers(tmp_path) == []


def test_writer_refuses_bad_items_and_empty_stores(tmp_path):
    p = tmp_path / "s.h5"
    with pytest.raises(StoreError, match="do not match"):
        with StoreWriter(str(p), CFG) as w:
            w.add(np.zeros(6), label="a", path="a.wav")
            w.add(np.zeros(7), label="a", path="b.wav")
    with pytest.raises(StoreError, match="NaN"):
        with StoreWriter(str(p), CFG) as w:
            w.add(np.array([0, 1, np.nan, 0, 0, 0]), label="a", path="a.wav")
    with pytest.raises(StoreError, match="no item"):
        with StoreWriter(str(p), CFG):
            pass
    assert os.listdir(tmp_path) == []


def test_permissions_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        p = _write(tmp_path / "s.h5", [("a", "a.wav", None, None)])
    finally:
        os.umask(old)
    assert (p.stat().st_mode & 0o777) == 0o640


def test_stdout_and_stdin(tmp_path):
    out = io.BytesIO()
    with StoreWriter("-", CFG, stdout=out) as w:
        w.add(np.ones(6), label="a", path="a.wav")
    assert out.getvalue()[:8] == b"\x89HDF\r\n\x1a\n"
    with open_store("-", stdin=io.BytesIO(out.getvalue())) as s:
        assert s.name == "<stdin>" and len(s) == 1 and s.class_names == ["a"]
    with pytest.raises(StoreError, match="empty input"):
        open_store("-", stdin=io.BytesIO(b""))


def test_a_store_on_a_pipe_larger_than_the_spool_goes_through_a_temporary_file(monkeypatch, tmp_path):
    """`featurize -o - | train -`: a store of many GB must not be held in RAM on either side."""
    import tempfile

    import audiokit.io

    monkeypatch.setattr(audiokit.io, "SPOOL_BYTES", 4096)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the spill goes
    spills = []
    real = tempfile.SpooledTemporaryFile

    def watched(*a, **k):
        f = real(*a, **k)
        spills.append(f)
        return f

    monkeypatch.setattr(tempfile, "SpooledTemporaryFile", watched)
    x = np.random.default_rng(0).standard_normal((50, 6, 20)).astype(np.float32)  # 24 KB of features
    out = io.BytesIO()
    with StoreWriter("-", CFG, stdout=out) as w:
        for i, row in enumerate(x):
            w.add(row, label="ab"[i % 2], path=f"{i}.wav")
    assert spills[0]._rolled and spills[0].closed  # went to disk, and is gone after the copy out
    with open_store("-", stdin=io.BytesIO(out.getvalue())) as s:
        assert spills[1]._rolled
        assert len(s) == 50 and np.array_equal(s.X, x.reshape(50, -1))
    assert os.listdir(tmp_path) == []  # anonymous files: nothing left in $TMPDIR


def test_a_long_skip_list_fits(tmp_path):
    p = tmp_path / "s.h5"
    with StoreWriter(str(p), CFG, provenance={"argv": ["x" * 200] * 500}) as w:
        w.add(np.zeros(6), label="a", path="a.wav")
        for i in range(1000):
            w.skip(f"some/long/directory/name/file_{i:05d}.wav", "not readable as audio (Format not recognised)")
    with open_store(str(p)) as s:  # > 64 KiB of attributes
        assert len(s.skipped) == 1000 and s.skipped[999]["path"].endswith("file_00999.wav")


def test_bad_stores_are_refused_with_one_reason(tmp_path):
    cases = {}
    cases["missing"] = (tmp_path / "nope.h5", "no such file")
    (tmp_path / "text.h5").write_text("hello")
    cases["not hdf5"] = (tmp_path / "text.h5", "not HDF5")
    with h5py.File(tmp_path / "other.h5", "w") as h5:
        h5["x"] = [1, 2]
    cases["foreign"] = (tmp_path / "other.h5", "not an audiokit feature store")
    good = _write(tmp_path / "good.h5", [("a", "a.wav", None, None)])
    data = good.read_bytes()
    (tmp_path / "trunc.h5").write_bytes(data[: len(data) // 2])
    cases["truncated"] = (tmp_path / "trunc.h5", "not HDF5, or truncated")
    newer = _write(tmp_path / "newer.h5", [("a", "a.wav", None, None)])
    with h5py.File(newer, "a") as h5:
        h5.attrs["format_version"] = FORMAT_VERSION + 1
    cases["newer"] = (newer, "upgrade audiokit")
    short = _write(tmp_path / "short.h5", [("a", "a.wav", None, None), ("a", "b.wav", None, None)])
    with h5py.File(short, "a") as h5:
        del h5["labels"]
        h5["labels"] = np.array([0])
    cases["inconsistent"] = (short, "has 1 entries but there are 2")
    cases["directory"] = (tmp_path, "is a directory")
    for name, (p, reason) in cases.items():
        with pytest.raises(StoreError) as ei:
            open_store(str(p))
        assert reason in ei.value.reason, (name, ei.value.reason)
        assert ei.value.path == str(p)


def test_special_targets_and_symlinks(tmp_path):
    # /dev/null stays a device; a FIFO receives the whole store; a symlink keeps pointing at the store
    _write("/dev/null", [("a", "a.wav", None, None)])
    assert os.path.exists("/dev/null") and not os.path.isfile("/dev/null")
    fifo = tmp_path / "pipe.h5"
    os.mkfifo(fifo)
    import threading

    got = {}
    reader = threading.Thread(target=lambda: got.setdefault("bytes", fifo.read_bytes()))
    reader.start()
    _write(fifo, [("a", "a.wav", None, None)])
    reader.join(timeout=60)
    with open_store("-", stdin=io.BytesIO(got["bytes"])) as s:
        assert len(s) == 1
    real = tmp_path / "real.h5"
    _write(real, [("a", "a.wav", None, None)])
    os.symlink("real.h5", tmp_path / "link.h5")
    _write(tmp_path / "link.h5", [("b", "b.wav", None, None)], append=True)
    assert os.path.islink(tmp_path / "link.h5")
    with open_store(str(real)) as s:
        assert s.paths == ["a.wav", "b.wav"]
    assert _leftovers(tmp_path) == []


def test_labelling_attributes_and_group_counts(tmp_path):
    from audiokit.store import labelling

    p = str(tmp_path / "g.h5")
    lab = labelling("regex", label_regex=r"^(\d)_", label_map={"1": "one"}, group_source="regex", group_regex="_(x)")
    with StoreWriter(p, CFG, labelling=lab) as w:
        for i, g in enumerate(["bob", "ann", "bob", None]):
            w.add(np.zeros(6, np.float32), label="one", path=f"{i}.wav", group=g)
    with open_store(p) as s:
        assert s.labelling == lab and s.group_counts() == {"ann": 1, "bob": 2}
        assert s.input_index is None and s.shards is None
    other = labelling("dir")
    with pytest.raises(StoreError, match="cannot append: labels come from the label regex"):
        StoreWriter(p, CFG, append=True, labelling=other)
