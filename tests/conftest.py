"""Shared fixtures: a CLI runner and small realistic datasets generated once per session.

Datasets come from :mod:`audiokit.demo` (instrument-like notes with reverb, noise,
level changes, mixed sample rates and formats; sung vowels for voice types), so no
test depends on files from outside.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from audiokit.cli import app

AUDIOKIT = [sys.executable, "-m", "audiokit"]
HAVE_ESPEAK = shutil.which("espeak-ng") is not None
HAVE_SOX = shutil.which("sox") is not None


class Cli:
    """``cli("featurize", "x", "-o", "s.h5")`` → click Result (stdout, stderr, exit_code)."""

    def __init__(self):
        self.runner = CliRunner()

    def __call__(self, *args, input=None, expect: int | None = 0):
        res = self.runner.invoke(app, [str(a) for a in args], input=input, catch_exceptions=False)
        if expect is not None:
            assert res.exit_code == expect, (
                f"audiokit {' '.join(map(str, args))} exited {res.exit_code}, expected {expect}\n"
                f"stdout: {res.stdout[-2000:]}\nstderr: {res.stderr[-2000:]}")
        return res


@pytest.fixture
def cli() -> Cli:
    return Cli()


def run(args, *, input=None, cwd=None, env=None, timeout=300, shell=False) -> subprocess.CompletedProcess:
    """Run audiokit (or a shell pipeline with ``shell=True``) as a real process."""
    e = dict(os.environ)
    e.update(env or {})
    e["PATH"] = os.path.dirname(sys.executable) + os.pathsep + e.get("PATH", "")
    if shell:
        return subprocess.run(["bash", "-o", "pipefail", "-c", args], input=input, cwd=cwd, env=e,
                              capture_output=True, timeout=timeout)
    return subprocess.run(AUDIOKIT + [str(a) for a in args], input=input, cwd=cwd, env=e,
                          capture_output=True, timeout=timeout)


@pytest.fixture(scope="session")
def instruments_dir(tmp_path_factory) -> Path:
    """4 classes × 16 notes, 4 players (groups) per class, 1–2.5 s, mixed rates/formats."""
    from audiokit.demo import make_instruments

    root = tmp_path_factory.mktemp("instruments")
    make_instruments(root, n_per_class=16, players=4, seed=1, duration=(1.0, 2.5))
    return root


@pytest.fixture(scope="session")
def voices_dir(tmp_path_factory) -> Path:
    """Six voice types × 3 singers, each with singerS_low.wav and singerS_high.wav."""
    from audiokit.demo import make_voices

    root = tmp_path_factory.mktemp("voices")
    make_voices(root, singers_per_type=3, seed=2, duration=1.5)
    return root


def tone(path, f0=440.0, *, sr=22050, duration=1.0, harmonics=5, subtype="PCM_16", channels=1, amp=0.5):
    """Write a harmonic tone and return its path."""
    t = np.arange(int(sr * duration)) / sr
    y = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, harmonics + 1))
    y = amp * y / np.max(np.abs(y))
    if channels > 1:
        y = np.stack([y] * channels, axis=1)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), y, sr, subtype=subtype)
    return Path(path)
