"""``featurize`` as a first-time user drives it, each through the CLI on real audio files: label
schemes recorded and kept by ``--append``, ImageFolder labels for nested class folders, unsound
feature settings refused up front, merged shards equal to one run, manifests as spreadsheets write
them, folds from a manifest, and ``--max-errors``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import pytest

from helpers import tone

from audiokit.store import open_store

MS = ["-f", "mfcc-stats", "--sr", "8000", "-j", "1"]  # fast: whole-file statistics at 8 kHz


def _labels(path) -> list[str | None]:
    with open_store(str(path)) as s:
        return [s.class_names[i] if i >= 0 else None for i in s.labels]


def _one_error(res, *fragments: str) -> str:
    """The run's only stderr line: ``audiokit: error: ...`` holding every fragment."""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("audiokit: error: ") and "Traceback" not in res.stderr
    for f in fragments:
        assert f in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def fsdd(tmp_path) -> Path:
    d = tmp_path / "fsdd"
    for i, (n, f0) in enumerate([("0_ann_1.wav", 200), ("1_bob_1.wav", 300), ("0_bob_2.wav", 250),
                                 ("1_ann_2.wav", 350)]):
        tone(d / n, f0, sr=8000, duration=0.3 + 0.05 * i)
    return d


# -- --append keeps the store's label and group scheme ---------------------------------------------

def test_append_refuses_another_label_or_group_scheme_and_leaves_the_store(cli, fsdd, tmp_path):
    more = tmp_path / "more"
    tone(more / "2_cy_1.wav", 400, sr=8000, duration=0.3)
    out = tmp_path / "s.h5"
    rx, grx = r"^(\d)_", r"^\d_([a-z]+)_"
    cli("featurize", fsdd, *MS, "--label-regex", rx, "--group-regex", grx, "-o", out, "-q")
    with h5py.File(out) as f:  # how labels and groups were derived, as attributes
        assert (f.attrs["label_source"], f.attrs["label_regex"], f.attrs["group_source"], f.attrs["group_regex"],
                f.attrs["label_map"]) == ("regex", rx, "regex", grx, "")
    before = out.read_bytes()
    # without --label-regex: a class named after the folder would join the digits
    r = cli("featurize", more, *MS, "-o", out, "--append", "--group-regex", grx, expect=1)
    _one_error(r, f"{out}: cannot append: labels come from the label regex '{rx}' in the store, "
                  "from the folder names here; give the same label options")
    # without --group-regex: each new item would be a group of its own
    r = cli("featurize", more, *MS, "-o", out, "--append", "--label-regex", rx, expect=1)
    _one_error(r, f"groups come from the group regex '{grx}' in the store, from nowhere (no groups) here")
    # another label map
    r = cli("featurize", more, *MS, "-o", out, "--append", "--label-regex", rx, "--group-regex", grx,
            "--label-map", "2=two", expect=1)
    _one_error(r, "labels are renamed by no label map in the store, by the label map 2=two here")
    assert out.read_bytes() == before and not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
    # the same options append
    cli("featurize", more, *MS, "-o", out, "--append", "--label-regex", rx, "--group-regex", grx, "-q")
    assert _labels(out) == ["0", "0", "1", "1", "2"]
    with open_store(str(out)) as s:
        assert list(s.groups) == ["ann", "bob", "ann", "bob", "cy"]
        assert s.labelling["label_source"] == "regex"


def test_a_store_without_the_labelling_attributes_takes_any_append(cli, fsdd, tmp_path):
    more = tmp_path / "more"
    tone(more / "x.wav", 400, sr=8000, duration=0.3)
    out = tmp_path / "old.h5"
    cli("featurize", fsdd, *MS, "--label-regex", r"^(\d)_", "-o", out, "-q")
    with h5py.File(out, "a") as f:  # as a store written before the attributes existed
        for k in ("label_source", "label_regex", "label_map", "group_source", "group_regex"):
            del f.attrs[k]
    cli("featurize", more, *MS, "-o", out, "--append", "-q")
    assert _labels(out) == ["0", "0", "1", "1", "more"]
    with open_store(str(out)) as s:
        assert s.labelling is None


def test_merge_refuses_stores_of_other_label_schemes(cli, fsdd, tmp_path):
    cli("featurize", fsdd, *MS, "--label-regex", r"^(\d)_", "--shard", "0/2", "-o", tmp_path / "a.h5", "-q")
    cli("featurize", fsdd, *MS, "--shard", "1/2", "-o", tmp_path / "b.h5", "-q")
    r = cli("featurize", "--merge", tmp_path / "a.h5", tmp_path / "b.h5", "-o", tmp_path / "m.h5", expect=1)
    _one_error(r, f"{tmp_path / 'b.h5'}: cannot merge: labels come from the label regex '^(\\d)_' in "
                  f"{tmp_path / 'a.h5'}, from the folder names in this store")
    assert not (tmp_path / "m.h5").exists()


# -- nested class folders: the first folder below the input directory ---------------------------

@pytest.fixture
def nest(tmp_path) -> Path:
    d = tmp_path / "nest"
    tone(d / "violin" / "s1" / "a.wav", 440, sr=8000, duration=0.3)
    tone(d / "violin" / "s2" / "b.wav", 450, sr=8000, duration=0.3)
    tone(d / "cello" / "s1" / "deep" / "c.wav", 150, sr=8000, duration=0.3)
    tone(d / "cello" / "d.wav", 160, sr=8000, duration=0.3)
    return d


def test_nested_class_folders_take_the_first_folder_below_the_input(cli, nest, tmp_path):
    r = cli("featurize", nest, *MS, "-o", tmp_path / "s.h5")
    assert _labels(tmp_path / "s.h5") == ["cello", "cello", "violin", "violin"]
    assert "labelled" not in r.stderr  # two classes: no warning
    # files directly in an input directory get its own name, as before
    cli("featurize", nest / "cello", nest / "violin", *MS, "-o", tmp_path / "two.h5", "-q")
    assert _labels(tmp_path / "two.h5") == ["cello", "s1", "s1", "s2"]  # cello/d.wav, cello/s1/deep/c.wav, ...
    # paths from stdin, and files named by themselves, keep the parent-directory rule
    files = sorted(str(p) for p in nest.rglob("*.wav"))
    cli("featurize", "-", *MS, "-o", tmp_path / "stdin.h5", "-q", input="\n".join(files) + "\n")
    assert _labels(tmp_path / "stdin.h5") == ["cello", "deep", "s1", "s2"]
    cli("featurize", *files, *MS, "-o", tmp_path / "files.h5", "-q")
    assert _labels(tmp_path / "files.h5") == ["cello", "deep", "s1", "s2"]


def test_one_class_warns_once_at_featurize_time(cli, nest, tmp_path):
    r = cli("featurize", nest / "violin" / "s1", nest / "violin" / "s2" / "b.wav", *MS, "--label-regex", r"(wav)$",
            "-o", tmp_path / "one.h5")
    warn = [ln for ln in r.stderr.splitlines() if "labelled" in ln]
    assert warn == ["audiokit: featurize: all 2 items are labelled 'wav': labels come from --label-regex '(wav)$'; "
                    "train needs at least two classes"]
    r = cli("featurize", nest / "violin" / "s1", *MS, "-o", tmp_path / "s1.h5")
    warn = [ln for ln in r.stderr.splitlines() if "labelled" in ln]
    assert len(warn) == 1 and "the only item is labelled 's1'" in warn[0] and "at least two classes" in warn[0]
    # a second class appended: the whole store has two, no warning
    r = cli("featurize", nest / "violin" / "s2", *MS, "-o", tmp_path / "s1.h5", "--append")
    assert "labelled" not in r.stderr and _labels(tmp_path / "s1.h5") == ["s1", "s2"]


# -- unsound feature settings: one line, exit 2, nothing written ---------------------------

@pytest.mark.parametrize("flags, words", [
    (["-f", "mfcc", "--n-mfcc", "200"], "n_mfcc=200 is more than n_mels=64"),
    (["-f", "mfcc-stats", "--n-mfcc", "80", "--n-mels", "40"], "n_mfcc=80 is more than n_mels=40"),
    (["--n-fft", "64"], "n_fft=64 is too small for n_mels=64 at sr=22050: empty mel bands"),
    (["--sr", "8000", "--n-mels", "128", "--n-fft", "128"], "empty mel bands"),
    (["--sr", "100"], "sr=100 Hz is below 1000 Hz"),
    (["--duration", "1e9"], "duration=1e+09 s is more than 3600 s"),
    (["--hop-length", "2048"], "hop_length=2048 is longer than n_fft=1024"),
    (["--fmax", "20000"], "fmax"),
    (["--fmin", "5000", "--fmax", "4000"], "fmin"),
])
def test_unsound_feature_settings_are_refused_up_front(cli, fsdd, tmp_path, flags, words):
    r = cli("featurize", fsdd, *flags, "-o", tmp_path / "x.h5", expect=2)
    _one_error(r, words)  # no librosa warning, no source path, no "out of memory"
    assert "Warning" not in r.stderr and not (tmp_path / "x.h5").exists()


def test_a_stored_configuration_is_read_as_it_is(cli, fsdd, tmp_path):
    """Stores written before the checks (here: 200 MFCCs of 64 bands) still open."""
    out = tmp_path / "s.h5"
    cli("featurize", fsdd, *MS, "-o", out, "-q")
    with h5py.File(out, "a") as f:
        cfg = json.loads(f.attrs["feature_config"])
        f.attrs["feature_config"] = json.dumps({**cfg, "n_mfcc": 200})
    with open_store(str(out)) as s:
        assert s.config.n_mfcc == 200 and s.config.replace(duration=None).n_mfcc == 200
    assert "n_mfcc=200" in cli("info", out).stdout


# -- merged shards are the unsharded store --------------------------------------------------------

def test_merged_shards_equal_the_unsharded_store_item_for_item(cli, tmp_path):
    data = tmp_path / "data"
    for k in range(7):  # 7 files over 3 shards: shards of 3, 2 and 2
        tone(data / ("ab"[k % 2]) / f"p{k % 3}_{k}.wav", 200 + 40 * k, sr=8000, duration=0.25 + 0.03 * k)
    (data / "a" / "p1_bad.wav").write_bytes(b"not audio")  # skipped: shards keep their input positions
    opts = [*MS, "--group-regex", r"^(p\d)_", "--skip-errors"]
    cli("featurize", data, *opts, "-o", tmp_path / "all.h5", "-q")
    for i in range(3):
        cli("featurize", data, *opts, "--shard", f"{i}/3", "-o", tmp_path / f"part{i}.h5", "-q")
    with open_store(str(tmp_path / "part0.h5")) as p:  # inputs 0, 3, 6 of 8; 3 is a/p1_bad.wav
        assert p.input_index.tolist() == [0, 6] and p.shards == 3 and len(p.skipped) == 1
    # given in any order, the merge puts items back in input order
    cli("featurize", "--merge", *(tmp_path / f"part{i}.h5" for i in (2, 0, 1)), "-o", tmp_path / "m.h5", "-q")
    with h5py.File(tmp_path / "all.h5") as a, h5py.File(tmp_path / "m.h5") as m:
        for name in ("features", "labels", "paths", "class_names", "groups", "folds", "durations"):
            x, y = a[name][()], m[name][()]
            assert x.dtype == y.dtype and x.shape == y.shape, name
            assert (list(x) == list(y)) if x.dtype.kind == "O" else (x.tobytes() == y.tobytes()), name
        for k in ("feature_config", "label_source", "group_source", "group_regex"):
            assert a.attrs[k] == m.attrs[k]


# -- manifests as spreadsheets write them; folds recorded ---------------------------------

def test_manifest_with_bom_tabs_and_spreadsheet_headers(cli, fsdd, tmp_path):
    m = tmp_path / "esc.tsv"
    rows = [("Filename", "Category", "Speaker", "Fold", "take")] + [
        (f"fsdd/{n}", lab, spk, str(fold), "A") for n, lab, spk, fold in [
            ("0_ann_1.wav", "dog", "ann", 1), ("1_bob_1.wav", "cat", "bob", 2), ("0_bob_2.wav", "", "bob", 1),
            ("1_ann_2.wav", "cat", "ann", 2)]]
    m.write_text("".join("\t".join(r) + "\r\n" for r in rows), encoding="utf-8-sig")  # Excel: BOM, CRLF, tabs
    r = cli("featurize", "--manifest", m, *MS, "-o", tmp_path / "s.h5")
    assert f"{m}: 1 of 4 rows have no label; they are stored unlabelled (label -1)" in r.stderr
    assert _labels(tmp_path / "s.h5") == ["dog", "cat", None, "cat"]
    with open_store(str(tmp_path / "s.h5")) as s:
        assert list(s.folds) == [1, 2, 1, 2]  # the predefined folds (ESC-50, UrbanSound8K) are kept
        assert list(s.groups) == ["ann", "bob", "bob", "ann"] and s.group_counts() == {"ann": 2, "bob": 2}
        assert s.labelling["label_source"] == "manifest" and s.labelling["group_source"] == "manifest"
    # semicolons (spreadsheets with a decimal comma)
    m2 = tmp_path / "semi.csv"
    m2.write_text("file;class\nfsdd/0_ann_1.wav;dog\nfsdd/1_bob_1.wav;cat\n")
    cli("featurize", "--manifest", m2, *MS, "-o", tmp_path / "semi.h5", "-q")
    assert _labels(tmp_path / "semi.h5") == ["dog", "cat"]


@pytest.mark.parametrize("text, words", [
    ("slice_file_name,fsID,classID,class\nfsdd/0_ann_1.wav,1,3,dog\n",
     "manifest header lacks column(s) path (or file, filename, filepath); found slice_file_name, fsID, classID, class"),
    ("name,kind\nfsdd/0_ann_1.wav,dog\n",
     "the first row is not a header audiokit knows: expected columns path (or file, filename, filepath); label (or "
     "class, category); group (or speaker, actor, player, singer); fold; found name, kind"),
])
def test_a_manifest_of_unknown_columns_names_those_expected_and_found(cli, fsdd, tmp_path, text, words):
    m = tmp_path / "m.csv"
    m.write_text(text)
    r = cli("featurize", "--manifest", m, *MS, "-o", tmp_path / "x.h5", expect=1)
    _one_error(r, f"{m}: {words}")
    assert not (tmp_path / "x.h5").exists()


# -- --max-errors: several bad inputs named in one pass ------------------------------------------

def test_max_errors_reports_up_to_n_bad_inputs_then_writes_nothing(cli, fsdd, tmp_path):
    for n in ("2_zed_1.wav", "3_zed_2.wav", "4_zed_3.wav"):
        (fsdd / n).write_bytes(b"not audio")
    out = tmp_path / "s.h5"
    opts = [*MS, "--label-regex", r"^(\d)_"]
    r = cli("featurize", fsdd, *opts, "-o", out, expect=1)  # default: the first one, alone
    _one_error(r, "2_zed_1.wav: not readable as audio")
    r = cli("featurize", fsdd, *opts, "-o", out, "--max-errors", "2", expect=1)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 3 and all(ln.startswith("audiokit: error: ") for ln in lines)
    assert "2_zed_1.wav: not readable as audio" in lines[0] and "3_zed_2.wav: not readable" in lines[1]
    assert lines[2] == f"audiokit: error: {out}: stopped at 2 inputs that could not be used (--max-errors 2); " \
                       "no store written"
    r = cli("featurize", fsdd, *opts, "-o", out, "--max-errors", "0", expect=1)  # 0: every one
    lines = r.stderr.strip().splitlines()
    assert [ln.rsplit("/", 1)[-1].split(":")[0] for ln in lines[:3]] == ["2_zed_1.wav", "3_zed_2.wav", "4_zed_3.wav"]
    assert lines[3] == f"audiokit: error: {out}: 3 of 7 inputs could not be used (listed above); no store " \
                       "written (--skip-errors leaves them out)"
    assert not out.exists() and not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
    # labels that do not fit count too; --skip-errors is unchanged
    r = cli("featurize", fsdd, *MS, "--label-regex", r"^([01])_", "-o", out, "--max-errors", "5", expect=1)
    assert r.stderr.count("does not match the label regex") == 3 and not out.exists()
    r = cli("featurize", fsdd, *opts, "-o", out, "--skip-errors")
    assert r.stderr.count("audiokit: skipped ") == 3 and "done 4 of 7 (3 skipped)" in r.stderr


@pytest.mark.parametrize("flags, words", [
    (["--no-labels", "--label-regex", "^(x)"], "--no-labels writes an unlabelled store"),
    (["--merge", "a.h5", "-f", "logmel"], "it takes no --features"),
    (["--merge", "a.h5", "--sr", "8000"], "it takes no --sr"),
    (["--pad-mode", "mirror"], "--pad-mode must be"),
])
def test_contradictory_or_unknown_flags_are_refused(cli, fsdd, tmp_path, flags, words):
    out = tmp_path / "x.h5"
    args = flags if "--merge" in flags else [fsdd, *flags]
    _one_error(cli("featurize", *args, "-o", out, expect=2), words)
    assert not out.exists()


def test_choices_of_featurize_are_case_insensitive(cli, fsdd, tmp_path):
    out = tmp_path / "x.h5"
    cli("featurize", fsdd, "--pad-mode", "EDGE", "--crop", "Start", "--label-regex", r"^(\d)_", "-o", out, "-q")
    with open_store(str(out)) as s:
        assert (s.config.pad_mode, s.config.crop) == ("edge", "start")
