"""audiokit.io: atomic writes, spooling, JSON of numpy values, the files beside a model."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from audiokit.errors import AudiokitError, UsageError
from audiokit.io import (AtomicTarget, atomic_output, checkpoint_path, history_path, json_default,
                         report_path, to_jsonable)


def _write(path, text, *, fail: BaseException | None = None):
    with atomic_output(str(path)) as target:
        with open(target.file, "w") as f:
            f.write(text)
        if fail is not None:
            raise fail


def test_atomic_output_replaces_the_target_only_on_success(tmp_path):
    p = tmp_path / "out.txt"
    _write(p, "first")
    assert p.read_text() == "first"
    for exc in (ValueError("boom"), KeyboardInterrupt()):
        with pytest.raises(type(exc)):
            _write(p, "half", fail=exc)
        assert p.read_text() == "first"
        assert sorted(os.listdir(tmp_path)) == ["out.txt"]  # no temporary file left


def test_atomic_output_leaves_no_file_when_the_first_write_fails(tmp_path):
    p = tmp_path / "never.txt"
    with pytest.raises(RuntimeError):
        _write(p, "x", fail=RuntimeError())
    assert os.listdir(tmp_path) == []


def test_atomic_output_to_stdout_and_to_a_device(tmp_path):
    out = io.BytesIO()
    with atomic_output("-", stdout=out) as target:
        target.file.write(b"bytes")
        assert out.getvalue() == b""  # nothing goes out before the block ends
    assert out.getvalue() == b"bytes"
    with atomic_output(os.devnull, seekable=True) as target:  # a device is written, never replaced
        target.file.write(b"x")
    assert not os.path.isfile(os.devnull)


def test_atomic_output_follows_a_symlink(tmp_path):
    real = tmp_path / "real.txt"
    real.write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    _write(link, "new")
    assert link.is_symlink() and real.read_text() == "new"


def test_atomic_target_errors(tmp_path):
    with pytest.raises(AudiokitError, match="does not exist"):  # exit 1, as README's table says
        AtomicTarget(str(tmp_path / "no" / "s.h5"))
    with pytest.raises(UsageError, match="is a directory"):
        AtomicTarget(str(tmp_path))


def test_an_interrupted_process_leaves_no_temporary_file(tmp_path):
    """SIGINT in the middle of a write: the target keeps its old content, no temporary file stays."""
    p = tmp_path / "out.txt"
    p.write_text("old")
    code = textwrap.dedent(f"""
        import os, signal
        from audiokit.io import atomic_output
        with atomic_output({str(p)!r}) as t:
            with open(t.file, "w") as f:
                f.write("half")
            os.kill(os.getpid(), signal.SIGINT)
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode != 0 and "KeyboardInterrupt" in res.stderr
    assert p.read_text() == "old" and sorted(os.listdir(tmp_path)) == ["out.txt"]


def test_json_of_numpy_values():
    doc = {"n": np.int32(3), "x": np.float32(0.5), "a": np.arange(3), "ok": np.bool_(True),
           "p": __import__("pathlib").Path("a/b")}
    assert json.loads(json.dumps(doc, default=json_default)) == {"n": 3, "x": 0.5, "a": [0, 1, 2], "ok": True,
                                                                  "p": "a/b"}
    plain = to_jsonable({"k": [np.int64(1), (np.float64(2.0),)], "s": "t"})
    assert plain == {"k": [1, [2.0]], "s": "t"} and type(plain["k"][0]) is int
    json.dumps(plain)  # no default needed


@pytest.mark.parametrize("model, report, ckpt, hist", [
    ("runs/m.h5", "runs/m.report.json", "runs/m.ckpt", "runs/m.history.csv"),
    ("m.HDF5", "m.report.json", "m.ckpt", "m.history.csv"),
    ("model", "model.report.json", "model.ckpt", "model.history.csv"),
    ("m.bin", "m.bin.report.json", "m.bin.ckpt", "m.bin.history.csv"),
])
def test_files_beside_a_model(model, report, ckpt, hist):
    assert (report_path(model), checkpoint_path(model), history_path(model)) == (report, ckpt, hist)
    assert checkpoint_path("-") is None and history_path("-") is None
