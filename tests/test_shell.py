"""audiokit as a Unix citizen, through real bash pipelines (``bash -o pipefail -c``):
stores and models through pipes, path lists from ``find``, JSON into another program, a
reader that goes away (``| head``) ending quietly, and a terminal on stdin being a usage
error rather than a hang."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))  # tools/gen.py: not in the package
import gen as _gen  # noqa: E402
from helpers import AUDIOKIT

COMMANDS = [name for name, _, _ in _gen.subcommands()]
PY = sys.executable
_PIPELINE: dict = {}

pytestmark = pytest.mark.slow


def sh(script: str, cwd, timeout=300) -> subprocess.CompletedProcess:
    """``bash -o pipefail -c SCRIPT`` in its own session: a hang kills every process of the pipeline."""
    e = dict(os.environ)
    e["PATH"] = os.path.dirname(sys.executable) + os.pathsep + e.get("PATH", "")
    p = subprocess.Popen(["bash", "-o", "pipefail", "-c", script], cwd=cwd, env=e, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, start_new_session=True)
    try:
        stdout, stderr = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        stdout, stderr = p.communicate()
        pytest.fail(f"ran over {timeout} s: {script}\n{stderr.decode()[-2000:]}")
    res = subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr)
    res.out, res.err = stdout.decode(), stderr.decode()
    return res


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """24 short instrument notes (4 classes, 2 players) and a copy of the FLAC ones under a
    directory with a space and a non-ASCII name; the first test builds the store and model."""
    from audiokit.demo import make_instruments

    root = tmp_path_factory.mktemp("shell")
    make_instruments(root / "data", n_per_class=6, players=2, seed=3, duration=(0.5, 1.0))
    new = root / "new clips" / "é"
    for f in sorted((root / "data").rglob("*.flac")):
        (new / f.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(f, new / f.parent.name / f"take {f.name}")
    res = sh("find data -type f | sort | audiokit featurize - -f mfcc-stats --group-regex '^(player[0-9]+)_' "
             "-q -o - | tee all.h5 | audiokit train - -o m.h5 --k 3 --json "
             f"| {PY} -c 'import json,sys; r=json.load(sys.stdin); "
             "print(r[\"model\"], r[\"items\"][\"store\"], len(r[\"classes\"]))'", root)
    _PIPELINE["result"] = res  # checked by the first test
    return root


def test_find_featurize_tee_train_json_pipeline(work):
    """find | featurize - -o - | tee store | train - -o model --json | python: paths in, a store
    through a pipe (and a copy kept by tee), the training report into another program."""
    res = _PIPELINE["result"]
    assert res.returncode == 0, res.err
    assert res.out.split() == ["knn", "24", "4"]
    assert sorted(p.name for p in work.iterdir() if p.is_file()) == ["all.h5", "m.h5", "m.report.json"]


def test_find_into_predict_writes_csv_for_paths_with_spaces(work):
    res = sh("find 'new clips' -name '*.flac' | audiokit predict m.h5 - > preds.csv", work)
    assert res.returncode == 0, res.err
    rows = list(csv.DictReader(io.StringIO((work / "preds.csv").read_text(encoding="utf-8"))))
    flacs = sorted(str(p.relative_to(work)) for p in (work / "new clips").rglob("*.flac"))
    assert sorted(r["path"] for r in rows) == flacs and len(flacs) > 0
    classes = {"flute", "clarinet", "bowed", "plucked"}
    assert all(r["label"] in classes and 0 < float(r["confidence"]) <= 1 for r in rows)
    assert "Traceback" not in res.err


def test_eval_json_into_python(work):
    res = sh(f"audiokit eval m.h5 all.h5 --json | {PY} -c 'import json,sys; r=json.load(sys.stdin); "
             "print(r[\"accuracy\"], len(r[\"confusion_matrix\"][\"matrix\"]))'", work)
    assert res.returncode == 0, res.err
    acc, n = res.out.split()
    assert 0.0 <= float(acc) <= 1.0 and int(n) == 4


def _writers(work) -> dict[str, str]:
    """A command line per way audiokit writes to stdout."""
    cmds = {
        "help (click)": "audiokit --help",
        "table (rich)": "audiokit info m.h5",
        "json": "audiokit info m.h5 --json",
        "store bytes": "audiokit featurize --merge all.h5 -q -o -",
    }
    if "pitch" in COMMANDS:
        low, high = sorted((work / "data" / "flute").glob("*.wav"))[:2] or sorted((work / "data").rglob("*.wav"))[:2]
        cmds["pitch table"] = f"audiokit pitch '{low}' '{high}'"
        cmds["pitch frames"] = f"audiokit pitch '{low}' --frames"
    return cmds


def test_broken_pipe_ends_quietly(work):
    """A reader that is already gone (the hardest case: the very first write fails) for each
    way audiokit writes stdout (click, rich, JSON, HDF5 bytes), and ``predict | head -1`` (CSV
    rows): exit 0 and nothing on stderr."""
    cmds = _writers(work)
    script = []
    for i, (what, cmd) in enumerate(cmds.items()):
        # '(exit 0)' closes the pipe at once; pipefail reports audiokit's own status
        script.append(f"( {cmd} | (exit 0) ) 2> err{i}.txt; echo $? > rc{i}.txt &")
    script.append(f"( audiokit predict m.h5 data | head -1 > head.txt ) 2> errh.txt; echo $? > rch.txt &")
    script.append("wait")
    res = sh("\n".join(script), work, timeout=400)
    assert res.returncode == 0, res.err
    for i, what in enumerate(cmds):
        rc = (work / f"rc{i}.txt").read_text().strip()
        err = (work / f"err{i}.txt").read_text()
        assert rc == "0", f"{what}: exit {rc} on a broken pipe; stderr: {err}"
        assert "Traceback" not in err and "Exception ignored" not in err and "Broken pipe" not in err, (what, err)
        assert "error" not in err.lower(), (what, err)
    assert (work / "rch.txt").read_text().strip() == "0", (work / "errh.txt").read_text()
    assert (work / "head.txt").read_text().startswith("path,label,confidence")
    assert "Traceback" not in (work / "errh.txt").read_text()


def test_terminal_on_stdin_is_a_usage_error_not_a_hang(work):
    """'-' where data is expected, with a terminal (a pty) on stdin: exit 2 with one line."""
    # the readers of stdin: a path list (featurize), HDF5 bytes (train, info; eval uses the same
    # reader), a path list or a store (predict), audio bytes (pitch)
    cases = [["featurize", "-", "-o", "x.h5"], ["train", "-", "-o", "x.h5"], ["info", "-"],
             ["predict", "m.h5", "-"]]
    if "pitch" in COMMANDS:
        cases.append(["pitch", "-"])  # audio bytes on stdin

    def one(args):
        master, slave = os.openpty()
        try:
            return subprocess.run(AUDIOKIT + args, stdin=slave, capture_output=True, cwd=work, timeout=120)
        finally:
            os.close(slave)
            os.close(master)

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(one, cases))
    for args, res in zip(cases, results):
        err = res.stderr.decode()
        assert res.returncode == 2, f"audiokit {' '.join(args)}: exit {res.returncode}: {err}"
        assert "terminal" in err and err.count("\n") == 1 and err.startswith("audiokit: error:"), err
    assert not (work / "x.h5").exists()


def test_failure_in_a_pipeline_is_one_line_and_fails_the_pipeline(work):
    res = sh("audiokit info missing.h5 | cat", work)
    assert res.returncode == 1 and res.out == ""
    assert res.err == "audiokit: error: missing.h5: no such file\n" or (
        res.err.startswith("audiokit: error: missing.h5:") and res.err.count("\n") == 1), res.err
