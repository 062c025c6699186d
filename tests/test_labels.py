"""audiokit.labels: labels and groups from directories, file-name regexes and CSV manifests;
low/high pairs for the vocal-range task."""

from __future__ import annotations

import os

import pytest

from audiokit.errors import AudiokitError, UsageError
from audiokit.labels import (compile_regex, dir_label, find_pairs, label_item, label_items, parse_label_map,
                             read_manifest)

RAVDESS_MAP = "01=neutral,02=calm,03=happy,04=sad,05=angry,06=fearful,07=disgust,08=surprised"


def test_label_from_parent_directory():
    items = label_items(["data/violin/a.wav", "/abs/cello/b c.flac", "piano/é.wav"])
    assert [it.label for it in items] == ["violin", "cello", "piano"]
    assert all(it.group is None for it in items)


def test_fsdd_style_labels_and_speakers():
    names = ["fsdd/7_jackson_32.wav", "fsdd/0_theo_0.wav", "fsdd/9_nicolas_49.wav"]
    items = label_items(names, source="regex", label_regex=r"^(\d)_", group_regex=r"^\d_([a-z]+)_")
    assert [(it.label, it.group) for it in items] == [("7", "jackson"), ("0", "theo"), ("9", "nicolas")]


def test_ravdess_style_labels_with_a_map_string_and_file(tmp_path):
    names = ["Actor_12/03-01-05-01-02-01-12.wav", "Actor_01/03-01-01-01-01-01-01.wav"]
    kw = dict(source="regex", label_regex=r"^\d+-\d+-(\d+)-", group_regex=r"-(\d+)\.wav$")
    items = label_items(names, label_map=parse_label_map(RAVDESS_MAP), **kw)
    assert [(it.label, it.group) for it in items] == [("angry", "12"), ("neutral", "01")]
    mapfile = tmp_path / "emotions.txt"
    mapfile.write_text("# RAVDESS emotion codes\n05=angry\n01,neutral\n")
    items = label_items(names, label_map=parse_label_map(str(mapfile)), **kw)
    assert [it.label for it in items] == ["angry", "neutral"]
    with pytest.raises(AudiokitError, match="not in the label map") as ei:
        label_items(["03-01-09-01-01-01-01.wav"], label_map=parse_label_map(RAVDESS_MAP), **kw)
    assert ei.value.path == "03-01-09-01-01-01-01.wav"


def test_named_groups_and_mismatches():
    rx = compile_regex(r"(?P<group>[a-z]+)_(?P<label>\d)", "label_regex")
    it = label_item("x/bob_3.wav", source="regex", lrx=rx, label_map=None, grx=rx)
    assert (it.label, it.group) == ("3", "bob")
    with pytest.raises(AudiokitError, match="does not match the label regex") as ei:
        label_items(["data/readme.wav"], source="regex", label_regex=r"^(\d)_")
    assert ei.value.path == "data/readme.wav" and ei.value.exit_code == 1


@pytest.mark.parametrize("pattern", [r"(\d", r"^\d_"])
def test_bad_regexes_are_usage_errors(pattern):
    with pytest.raises(UsageError) as ei:
        compile_regex(pattern, "label_regex")
    assert str(ei.value).startswith("label_regex ") and ei.value.for_cli().startswith("--label-regex ")


@pytest.mark.parametrize("spec", ["01", "=x", "01=", "  ,  "])
def test_bad_label_maps_are_usage_errors(spec):
    with pytest.raises(UsageError) as ei:
        parse_label_map(spec)
    assert str(ei.value).startswith("label_map ") and ei.value.for_cli().startswith("--label-map ")


def test_unlabelled_source():
    assert label_items(["a/b.wav"], source="none")[0].label is None
    with pytest.raises(UsageError):
        label_items(["a/b.wav"], source="folder")


def test_manifest_with_header_groups_folds_and_relative_paths(tmp_path):
    m = tmp_path / "lists" / "train.csv"
    m.parent.mkdir()
    m.write_text("path,label,group,fold\n"
                 "../audio/a b.wav,dog,alice,0\n"
                 "/data/c.wav,cat,bob,1\n"
                 "\n"
                 "../audio/ü.wav,,carol,\n", encoding="utf-8")
    items = read_manifest(str(m))
    assert [it.path for it in items] == [os.path.join(str(m.parent), "../audio/a b.wav"), "/data/c.wav",
                                         os.path.join(str(m.parent), "../audio/ü.wav")]
    assert [(it.label, it.group, it.fold) for it in items] == [("dog", "alice", 0), ("cat", "bob", 1),
                                                               (None, "carol", None)]


def test_manifest_without_header_and_with_reordered_header(tmp_path):
    m = tmp_path / "m.csv"
    m.write_text("x.wav,01\ny.wav,05\n")
    items = read_manifest(str(m), label_map=parse_label_map(RAVDESS_MAP))
    assert [it.label for it in items] == ["neutral", "angry"]
    m.write_text("group,label,path\ns1,a,x.wav\n")
    it = read_manifest(str(m))[0]
    assert (it.path, it.label, it.group) == (str(tmp_path / "x.wav"), "a", "s1")


@pytest.mark.parametrize("text,reason", [("path,label\n", "lists no items"), ("x.wav,a,g,notanumber\n", "fold must be"),
                                         ("label,group\na,b\n", "lacks column"), (",a\n", "empty path")])
def test_bad_manifests_name_the_manifest(tmp_path, text, reason):
    m = tmp_path / "m.csv"
    m.write_text(text)
    with pytest.raises(AudiokitError, match=reason) as ei:
        read_manifest(str(m))
    assert ei.value.path == str(m)


def test_missing_and_binary_manifests(tmp_path):
    with pytest.raises(AudiokitError, match="cannot read manifest"):
        read_manifest(str(tmp_path / "nope.csv"))
    bad = tmp_path / "bin.csv"
    bad.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(AudiokitError, match="not UTF-8"):
        read_manifest(str(bad))


def test_pair_manifest(tmp_path):
    m = tmp_path / "pairs.csv"
    m.write_text("low,high,label,group\nann_low.wav,ann_high.wav,soprano,ann\n")
    it = read_manifest(str(m), pairs=True)[0]
    assert (os.path.basename(it.path), os.path.basename(it.path2), it.label, it.group) == \
        ("ann_low.wav", "ann_high.wav", "soprano", "ann")
    m.write_text("ann_low.wav,,soprano\n")
    with pytest.raises(AudiokitError, match="two paths"):
        read_manifest(str(m), pairs=True)


def test_find_pairs_by_low_and_high_names():
    paths = ["v/bass/s1_low.wav", "v/bass/s1_high.wav", "v/tenor/s1_LOW.flac", "v/tenor/s1_HIGH.flac",
             "v/tenor/s2_low.wav", "v/alto/notes.wav"]
    items, unpaired = find_pairs(paths)
    assert [(it.path, it.path2, it.label, it.group) for it in items] == [
        ("v/bass/s1_low.wav", "v/bass/s1_high.wav", "bass", "bass/s1"),
        ("v/tenor/s1_LOW.flac", "v/tenor/s1_HIGH.flac", "tenor", "tenor/s1")]
    assert sorted(unpaired) == [("v/alto/notes.wav", "name contains neither 'low' nor 'high'"),
                                ("v/tenor/s2_low.wav", "no matching *high* file")]


def test_dir_labels_take_the_first_folder_below_the_input_directory():
    assert dir_label("data/violin/s1/a.ogg", "data") == "violin"  # ImageFolder
    assert dir_label("data/violin/a.ogg", "data/violin") == "violin"  # directly in the input: its own name
    assert dir_label("data/violin/s1/a.ogg") == "s1"  # no input directory (stdin, a file): the parent
    assert dir_label("./x/a.wav", ".") == "x" and dir_label("/elsewhere/b.wav", "data") == "elsewhere"
    assert label_item("d/violin/s1/a.ogg", source="dir", lrx=None, label_map=None, grx=None, root="d").label == "violin"
    items, _ = find_pairs(["v/bass/s1/a_low.wav", "v/bass/s1/a_high.wav"], roots={"v/bass/s1/a_low.wav": "v"})
    assert items[0].label == "bass"


def test_manifest_as_a_spreadsheet_writes_it(tmp_path):
    m = tmp_path / "m.tsv"
    m.write_bytes("\ufeffFile Name\tCLASS\tActor\tfold\textra\r\na.wav\tdog\tx\t3\t?\r\n".encode("utf-8"))
    it = read_manifest(str(m))[0]
    assert (os.path.basename(it.path), it.label, it.group, it.fold) == ("a.wav", "dog", "x", 3)
    m.write_text("filepath;category;player\nb.flac;cat;p1\n")
    it = read_manifest(str(m))[0]
    assert (os.path.basename(it.path), it.label, it.group) == ("b.flac", "cat", "p1")
    m.write_text("name,kind\na.wav,dog\n")
    with pytest.raises(AudiokitError, match="expected columns path .*; found name, kind"):
        read_manifest(str(m))
