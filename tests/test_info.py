"""``audiokit info``: the summary of a store (table and --json) and of a model file, and one clear
line for anything else."""

from __future__ import annotations

import json

import numpy as np
import pytest

from audiokit import __version__
from audiokit.features import FeatureConfig
from audiokit.store import StoreWriter

CFG = FeatureConfig(kind="mfcc-stats", n_mfcc=4)

#: The documented keys of ``info --json`` for a store (docs/store-format.md), in order.
STORE_KEYS = ["file", "type", "format_version", "audiokit_version", "created", "items", "feature_shape", "dtype",
              "labelled", "classes", "groups", "group_items", "class_group_items", "folds", "skipped", "features",
              "skipped_files", "provenance"]


@pytest.fixture
def store(tmp_path):
    p = tmp_path / "s.h5"
    rows = [("cat", "a.wav", "g1", 0), ("dog", "b.wav", "g1", 1), ("dog", "c.wav", "g2", 0), (None, "d.wav", "g3", 1)]
    with StoreWriter(str(p), CFG, provenance={"argv": ["featurize", "x"]}) as w:
        for i, (label, path, group, fold) in enumerate(rows):
            w.add(np.full(8, i, np.float32), label=label, path=path, group=group, fold=fold)
        w.skip("bad.wav", "empty file (0 bytes)")
    return p


def test_store_json(cli, store):
    r = cli("info", store, "--json")
    info = json.loads(r.stdout)
    assert list(info) == STORE_KEYS
    assert info["file"] == str(store) and info["type"] == "store" and info["format_version"] == 2
    assert info["audiokit_version"] == __version__
    assert (info["items"], info["feature_shape"], info["dtype"], info["labelled"]) == (4, [8], "float32", 3)
    assert info["classes"] == {"cat": 1, "dog": 2}
    assert (info["groups"], info["folds"], info["skipped"]) == (3, [0, 1], 1)
    assert info["group_items"] == {"g1": 2, "g2": 1, "g3": 1}  # every item of a group, labelled or not
    assert info["class_group_items"] == {"cat": {"g1": 1}, "dog": {"g1": 1, "g2": 1}}
    assert info["skipped_files"] == [{"path": "bad.wav", "reason": "empty file (0 bytes)"}]
    assert FeatureConfig.from_dict(info["features"]) == CFG
    assert info["provenance"][0]["argv"] == ["featurize", "x"] and info["provenance"][0]["added"] == 4
    assert r.stderr == ""


def test_store_table(cli, store):
    out = cli("info", store).stdout
    for text in ("items", "4", "feature_shape", "8", "labelled", "3", "skipped", "mfcc-stats sr=22050",
                 "n_mfcc=4", "cat", "dog"):
        assert text in out
    lines = {ln.split()[0]: ln.split()[1:] for ln in out.splitlines() if ln.strip()}
    assert lines["dog"] == ["2"] and lines["cat"] == ["1"] and lines["groups"] == ["3"]
    assert lines["g1"] == ["2"] and lines["g2"] == ["1"] and lines["g3"] == ["1"]  # items per group


def test_store_from_stdin(cli, store):
    info = json.loads(cli("info", "-", "--json", input=store.read_bytes()).stdout)
    assert info["file"] == "<stdin>" and info["items"] == 4
    r = cli("info", "-", input=b"", expect=1)
    assert r.stderr.strip() == "audiokit: error: -: empty input on stdin; expected an HDF5 file"


def test_model_file(cli, tmp_path):
    from audiokit.modelfile import ModelFile, save_model

    p = tmp_path / "m.h5"
    save_model(str(p), ModelFile(kind="knn", class_names=["bass", "tenor"], feature_config=CFG,
                                 arrays={"X": np.zeros((3, 8), np.float32)}, params={"k": 3},
                                 metrics={"accuracy": 0.9}))
    info = json.loads(cli("info", p, "--json").stdout)
    assert (info["type"], info["kind"], info["classes"], info["params"]) == ("model", "knn", ["bass", "tenor"], {"k": 3})
    assert info["arrays"] == {"X": [3, 8]}
    assert "knn" in cli("info", p).stdout


def test_bad_files_give_one_line(cli, tmp_path):
    import h5py

    (tmp_path / "notes.txt").write_text("hello")
    with h5py.File(tmp_path / "other.h5", "w") as h5:
        h5["x"] = [1]
    cases = {tmp_path / "nope.h5": "no such file", tmp_path / "notes.txt": "not HDF5",
             tmp_path / "other.h5": "not an audiokit store or model file", tmp_path: "is a directory"}
    for p, reason in cases.items():
        r = cli("info", p, expect=1)
        assert r.stdout == ""
        lines = r.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"audiokit: error: {p}: ") and reason in lines[0], lines
