"""bench/gpu.sh works before a GPU is ever lent: its CPU toy mode runs every step end to end
(preflight, nvidia-smi, the gpu-marked tests on the CPU, throughput on 64 items, the summary)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("timeout") is None,
                    reason="needs bash and coreutils' timeout")
def test_gpu_script_runs_end_to_end_in_cpu_toy_mode(tmp_path):
    out = tmp_path / "gpu-check"
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    r = subprocess.run(["bash", str(ROOT / "bench" / "gpu.sh"), "--cpu-toy", str(out)], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-4000:]
    # each step announced with its duration
    for name in ("preflight", "nvidia-smi", "tests", "throughput", "summary"):
        assert f"== gpu.sh: {name}: exit 0, " in r.stderr

    env_info = json.loads((out / "env.json").read_text())
    assert env_info["mode"] == "cpu-toy" and env_info["versions"]["torch"]

    tp = json.loads((out / "throughput.json").read_text())
    assert tp["part"] == "throughput" and tp["device"] == "cpu" and tp["epochs"] == 1
    assert {(r["model"], r["loop"]) for r in tp["rows"]} == {
        (m, loop) for m in ("resnet18", "specresnet") for loop in ("audiokit", "audiokit, no precise BN", "plain")}
    assert all(r["items"] == 64 and r["samples_per_s"] > 0 for r in tp["rows"])

    suite = ET.parse(out / "pytest.xml").getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    assert int(suite.get("failures")) == 0 and int(suite.get("errors")) == 0
    # AUDIOKIT_GPU_TESTS_ON_CPU=1 ran some of them on the CPU rather than skipping them all
    assert int(suite.get("tests")) - int(suite.get("skipped")) >= 3

    summary = (out / "summary.md").read_text()
    assert "CPU toy mode" in summary and "bash bench/gpu.sh --cpu-toy" in summary
    assert "| model | audiokit samples/s |" in summary
    for model in ("resnet18", "specresnet"):
        row = next(ln for ln in summary.splitlines() if ln.startswith(f"| {model} |"))
        assert row.count("|") == 8 and "×" in row
    assert "failed 0, errors 0" in summary
    assert (out / "nvidia-smi.txt").exists() and (out / "pytest.txt").read_text().strip()
    # what comes back from a device machine: at most 8 files, none in sub-folders
    files = [p for p in out.iterdir()]
    assert len(files) <= 8 and all(p.is_file() for p in files)
