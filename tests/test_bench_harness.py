"""bench/harness.py end to end at toy size: data made here with espeak-ng and sox, one split of
unseen speakers, audiokit's defaults and the two plain scripts, the results table."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HARNESS = Path(__file__).resolve().parent.parent / "bench" / "harness.py"

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (shutil.which("espeak-ng") and shutil.which("sox")),
                                 reason="needs espeak-ng and sox (.ci/run installs them)")]


def test_harness_runs_every_system_on_unseen_speakers(tmp_path):
    data, results = tmp_path / "speech", tmp_path / "r.jsonl"
    env_run = dict(capture_output=True, text=True, timeout=900)
    r = subprocess.run([sys.executable, str(HARNESS), "data", "speech", str(data), "--small"], **env_run)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, str(HARNESS), "run", "speech", str(data), "--out", str(results),
                        "--test-groups", "2", "--seeds", "0", "--cnn-epochs", "1", "--train-flags", "--epochs 1",
                        "--plain-seconds", "0.8"],
                       **env_run)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    assert {row["system"] for row in rows} == {"audiokit", "plain-cnn", "plain-svc"}
    for row in rows:
        test, train = set(row["test_groups"]), row["n_train_groups"]
        assert len(test) == 2 and train >= 2 and 0 <= row["accuracy"] <= 1 and row["cpu_s"] > 0
    table = subprocess.run([sys.executable, str(HARNESS), "table", str(results)], **env_run)
    assert table.returncode == 0 and "plain-cnn" in table.stdout and "unseen" in table.stdout
    assert [row["seconds"] for row in rows if row["system"] == "plain-cnn"] == [0.8] and "0.8 s clips" in table.stdout
